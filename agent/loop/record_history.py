"""A record against where its fields come from: its own history in the notes ref, and its commit.

A note is written again as its experiment moves on (committed, evaluated, its hidden test
scored), and `git notes add -f` keeps every version in the history of `refs/notes/strop`. An
edit of the note is one more version, so each field is held to what the loop really does:

- fixed when the experiment is committed (`COMMITTED`: its id, parent, idea, params, proposer,
  commit, …): every version holds the first version's value;
- fixed when it is evaluated (`EVALUATED`: status, metrics, log and its sha256, seconds,
  backend, …): a version may change them only while the one before it is `pending` (its first
  evaluation) or `stopped` (the time budget cut it; a resume evaluates it again);
- the hidden-test score and its log (`FINAL`): set once (a final phase scores a best once),
  never changed;
- `decisions` and `confirmations` (re-evaluations at the run's end): only ever added to.

A record is held to its commit too: the commit message holds its `idea`, and the task's params
file and marked lines hold its `params` (a first turn only: a later turn of an LLM attempt keeps
its first turn's params while it edits the files). And every evaluation log in the run's folder
is one that a version of a record names: a log no record names is a result a note hides.

All of it is one `git log` over the notes ref and one `git cat-file --batch` (the versions),
plus one for the commits and their params files.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from agent.experiments import NOTES_REF
from agent.loop.findings import Audit, Problem

if TYPE_CHECKING:
    from agent.space import Space
    from agent.task import TaskFile

COMMITTED = (
    "run", "id", "parent", "branch", "commit", "idea", "proposer", "mode", "params", "created", "cost",
    "turns",
)  # fmt: skip
EVALUATED = (
    "status", "metrics", "reason", "feedback", "finished", "eval_seconds", "fingerprint", "log_path",
    "log_digest", "backend",
)  # fmt: skip
FINAL = ("final_metrics", "final_reason", "final_log_path", "final_log_digest")
REOPENED = ("pending", "stopped")  # an evaluation may (again) set the evaluated fields
UNSET = object()  # a field a version does not hold
VALIDATE_LOG = re.compile(r"(\d+)(?:-t(\d+)|-c(\d+))?-validate\.log")
"""An evaluation's log: `N-validate.log`, a later turn's `N-tT-validate.log`, a confirmation's `N-cK-validate.log`."""
HINT = "its note was edited after the fact: trust its first version (`git log -p refs/notes/strop`)"
AGAINST_COMMIT = (
    "the record does not match the commit that was scored (its note and the notes' history edited, or "
    "written by a strop that did not apply it): trust the commit"
)


class GitReader(Protocol):
    """Read-only git plumbing in the experiment repo (`agent.loop.provenance._Git`)."""

    def __call__(self, *args: str) -> str: ...

    def blobs(self, specs: list[str]) -> list[str | None]: ...


@dataclass
class History:
    """Every version the notes ref held of the note of each of a run's commits, oldest first."""

    versions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def latest(self) -> list[dict[str, Any]]:
        """The note each of the run's commits holds now (earlier turns of an attempt too)."""
        return [versions[-1] for versions in self.versions.values()]


def read_history(run_id: str, commits: list[str], base_commit: str, git: GitReader) -> History:
    """The history of the notes of the run's commits (`commits` and the earlier turns below them)."""
    if not commits:
        return History()
    ours = set(git("rev-list", *commits, f"^{base_commit}").split())
    log = git(
        "log",
        "--ignore-missing",
        "--reverse",
        "--no-renames",
        "--raw",
        "-r",
        "--no-abbrev",
        "--format=",
        f"refs/notes/{NOTES_REF}",
    )
    blobs: dict[str, list[str]] = {}
    for line in log.splitlines():
        meta, _, path = line.partition("\t")
        parts = meta.split()
        commit = path.replace("/", "")
        if len(parts) != 5 or commit not in ours or parts[4].startswith("D"):
            continue
        kept = blobs.setdefault(commit, [])
        if not kept or kept[-1] != parts[3]:
            kept.append(parts[3])
    shas = sorted({sha for kept in blobs.values() for sha in kept})
    texts = dict(zip(shas, git.blobs(shas), strict=True))
    history = History()
    for commit, kept in blobs.items():
        versions = [_json_object(texts[sha]) for sha in kept]
        if versions and versions[0].get("run") == run_id:
            history.versions[commit] = versions
    return history


def check_history(run_id: str, history: History, branches: set[str], report: Audit) -> None:
    """Each field of each record as its history allows (see the module's docstring): one line a field."""
    for commit, versions in history.versions.items():
        name = _name(run_id, commit, versions[-1], branches)
        for key, (before, edited, when) in _changes(versions).items():
            values = _values(before, edited, versions[-1].get(key, UNSET))
            if key == "final_metrics":
                text = f"{name}'s hidden-test score changed after it was first recorded (notes history)"
                hint = "the hidden test was scored again, or the note edited: trust the first"
                report.problems.append(Problem(f"{text}: {values}", hint))
            else:
                report.problems.append(
                    Problem(f"{name}'s {key} changed after {when} (notes history): {values}", HINT)
                )


def _changes(versions: list[dict[str, Any]]) -> dict[str, tuple[Any, Any, str]]:
    """The fields changed as no step of the loop changes them: (the value before, the value it was
    changed to, when it was fixed); the first such change of each field."""
    first = versions[0]
    found: dict[str, tuple[Any, Any, str]] = {}
    for before, after in zip(versions, versions[1:], strict=False):
        for key in COMMITTED:
            if key in first and not _same(key, first[key], after.get(key, UNSET)):
                found.setdefault(key, (first[key], after.get(key, UNSET), "it was committed"))
        if before.get("status") not in REOPENED:
            for key in EVALUATED:
                if key in before and before[key] != after.get(key, UNSET):
                    found.setdefault(key, (before[key], after.get(key, UNSET), "it was evaluated"))
        if before.get("final_metrics") is not None:
            for key in FINAL:
                if key in before and before[key] != after.get(key, UNSET):
                    found.setdefault(key, (before[key], after.get(key, UNSET), "it was first recorded"))
        for key in ("decisions", "confirmations"):
            said, says = before.get(key), after.get(key)
            if isinstance(said, list) and (not isinstance(says, list) or says[: len(said)] != said):
                found.setdefault(key, (said, says if isinstance(says, list) else UNSET, "they were made"))
    return found


def _same(key: str, first: Any, value: Any) -> bool:
    """Whether a committed field still holds its first value (`cost` may gain counters a newer strop keeps)."""
    if key == "cost" and isinstance(first, dict) and isinstance(value, dict):
        return all(value.get(name, UNSET) == spent for name, spent in first.items())
    return first == value


# ------------------------------------------------------------------ the record against its commit
def check_commits(
    run_id: str, history: History, task: TaskFile | None, git: GitReader, report: Audit
) -> None:
    """Each record's idea is its commit message's; a first turn's params are what its files hold."""
    records = {commit: versions[-1] for commit, versions in history.versions.items()}
    reads = _params_reads(records, task)
    texts = git.blobs([*records, *reads])
    files = dict(zip(reads, texts[len(records) :], strict=True))
    for (commit, record), text in zip(records.items(), texts, strict=False):
        message = _message(text)
        idea = record.get("idea")
        if message is not None and isinstance(idea, str) and not _message_holds(message, idea):
            report.problems.append(
                Problem(
                    f"{run_id}/{record.get('id')}'s idea is not its commit's message ({commit[:12]}): "
                    f"{_short(idea)}",
                    AGAINST_COMMIT,
                )
            )
    if task is not None and reads:
        from agent.space import Space, SpaceError

        try:
            space = Space(task.space)
        except SpaceError:
            return
        for commit, record in records.items():
            if _params_of_first_turn(record):
                _check_params(run_id, commit, record, task, space, files, report)


def _params_of_first_turn(record: dict[str, Any]) -> bool:
    """Whether the record has params its commit's files must hold: a first turn (a later turn of
    an LLM attempt keeps its first turn's params while it edits the files) with params."""
    return isinstance(record.get("params"), dict) and bool(record["params"]) and _turn(record) <= 1


def _params_reads(records: dict[str, dict[str, Any]], task: TaskFile | None) -> list[str]:
    """`<commit>:<file>` for each file that holds the params of a record that has them."""
    if task is None or not task.space:
        return []
    paths = [p for p in [task.proposer.params_file, *task.proposer.marked] if p and "\n" not in p]
    return [
        f"{commit}:{path}"
        for commit, record in records.items()
        if _params_of_first_turn(record)
        for path in paths
    ]


def _check_params(
    run_id: str,
    commit: str,
    record: dict[str, Any],
    task: TaskFile,
    space: Space,
    files: dict[str, str | None],
    report: Audit,
) -> None:
    """The record's params against the values its commit's params file, then marked lines, write."""
    written = _written(commit, task, files, set(space.names))
    for key, value in record["params"].items():
        if key not in written or key not in space.params or written[key] is _REPEATED:
            continue
        try:
            coerced = space.params[key].coerce(written[key])
        except (ValueError, TypeError):
            coerced = UNSET
        if value != written[key] and value != coerced:
            report.problems.append(
                Problem(
                    f"{run_id}/{record.get('id')}'s params {key} = {_short(value)}, but its commit "
                    f"({commit[:12]}) writes {_short(written[key])}",
                    AGAINST_COMMIT,
                )
            )


_REPEATED = object()  # a name the params file gives more than once: no one value to compare


def _written(commit: str, task: TaskFile, files: dict[str, str | None], names: set[str]) -> dict[str, Any]:
    """The `[space]` values the commit's params file, then its marked lines, write (as `Space.written`)."""
    from agent.marks import Mark, dialect_of
    from agent.marks import parse as parse_mark

    found: dict[str, Any] = {}
    proposer = task.proposer
    text = files.get(f"{commit}:{proposer.params_file}") if proposer.params_file else None
    if text is not None:
        try:
            data = json.loads(text, object_pairs_hook=_pairs)
        except (ValueError, RecursionError):
            data = {}
        if isinstance(data, dict):
            found.update({k: v for k, v in data.items() if k in names})
    for relative in proposer.marked:
        dialect = dialect_of(relative)
        for line in (files.get(f"{commit}:{relative}") or "").splitlines():
            mark = parse_mark(line, dialect)
            if isinstance(mark, Mark) and mark.name in names:
                try:
                    found[mark.name] = mark.read()
                except (ValueError, SyntaxError):
                    found[mark.name] = _REPEATED
    return found


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        seen[key] = _REPEATED if key in seen else value
    return seen


def _message(text: str | None) -> str | None:
    """A commit object's message (None: no such commit)."""
    if text is None:
        return None
    return text.split("\n\n", 1)[1] if "\n\n" in text else ""


def _message_holds(message: str, idea: str) -> bool:
    """`_holds_idea`, for a message written as strop writes one now (the idea's control and format
    characters as escapes: `agent.experiments.commit_message_text`) or as it did before."""
    from agent.experiments import commit_message_text

    return _holds_idea(message, idea) or _holds_idea(message, commit_message_text(idea))


def _holds_idea(message: str, idea: str) -> bool:
    """Whether the message holds the idea, as git keeps a message: lines stripped of trailing
    blanks, blank lines dropped (and comment lines, should the repo's `commit.cleanup` strip them).

    The subject is `strop RUN/N[ turn T]: ` and the idea's first line (cut short), and the body the
    whole idea; a search's commit has a one-line idea as its subject only.
    """
    wanted = _lines(idea)
    if not wanted:
        return True
    lines = _lines(message)
    if lines:
        lines[0] = lines[0].split(": ", 1)[1] if ": " in lines[0] else lines[0]
    return any(lines[at : at + len(wanted)] == wanted for at in range(len(lines) - len(wanted) + 1))


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip() and not line.startswith(("#", ";"))]


# ------------------------------------------------------------------ logs no record names
def check_logs_named(run_id: str, history: History, logs: Path, report: Audit) -> None:
    """Every evaluation log in the run's folder is one a version of a record of the run names.

    A log no version names, of an experiment that was evaluated, or refused without evaluation,
    is a result its note hides. One of an experiment still pending or cut by the time budget is
    an evaluation whose verdict was never recorded (the run was killed or cut in between): said.
    """
    named = {
        Path(version["log_path"]).name
        for versions in history.versions.values()
        for version in versions
        if isinstance(version.get("log_path"), str) and version["log_path"]
    } | _confirmation_logs(history)
    turns = {(r.get("id"), _turn(r)): r for r in history.latest()}
    for path in sorted(logs.glob("*-validate.log")) if logs.is_dir() else []:
        found = VALIDATE_LOG.fullmatch(path.name)
        if found is None or path.name in named:
            continue
        if found[3] is not None:
            _unnamed_confirmation(run_id, path, int(found[1]), int(found[3]), turns, report)
            continue
        number, turn = int(found[1]), int(found[2] or 1)
        record = turns.get((number, turn))
        status = record.get("status") if record is not None else None
        if status in REOPENED:
            report.unchecked.append(
                f"{run_id}/{number} has an evaluation log {path.name} that no record names: an evaluation "
                f"whose verdict was not recorded (the run was killed or cut); its record is {status}"
            )
            continue
        said = f"its record is {_short(status)} and names no such log" if record else "no record of it exists"
        report.problems.append(
            Problem(
                f"{run_id}/{number}'s evaluation log {path.name} is in the run's folder, but {said}",
                "its note was edited to hide that result: see the log and the note's history",
            )
        )


def _confirmation_logs(history: History) -> set[str]:
    """The names of the confirmation logs some version of a record names."""
    return {
        Path(entry["log_path"]).name
        for versions in history.versions.values()
        for version in versions
        if isinstance(version.get("confirmations"), list)
        for entry in version["confirmations"]
        if isinstance(entry, dict) and isinstance(entry.get("log_path"), str) and entry["log_path"]
    }


def _unnamed_confirmation(
    run_id: str, path: Path, number: int, k: int, turns: dict[Any, dict[str, Any]], report: Audit
) -> None:
    """A confirmation log no record names: the next one of its experiment is one whose verdict was
    not recorded (the run was killed during it, said); any other is a result a note hides."""
    mine = [r for (exp, _), r in turns.items() if exp == number]
    record = max(mine, key=_turn) if mine else None  # the latest turn: the one its branch names
    held = record.get("confirmations") if record is not None else None
    if isinstance(held, list) and len(held) == k - 1:
        report.unchecked.append(
            f"{run_id}/{number} has a confirmation log {path.name} that no record names: a re-evaluation "
            "whose verdict was not recorded (the run was killed during it)"
        )
        return
    report.problems.append(
        Problem(
            f"{run_id}/{number}'s confirmation log {path.name} is in the run's folder, but no record names it",
            "its note was edited to hide that result: see the log and the note's history",
        )
    )


# ------------------------------------------------------------------ words
def _name(run_id: str, commit: str, record: dict[str, Any], branches: set[str]) -> str:
    """`RUN/N`, with the turn and commit for an earlier turn of an attempt (no branch names it)."""
    name = f"{run_id}/{record.get('id')}"
    return name if commit in branches else f"{name} (turn {record.get('turns')}, commit {commit[:12]})"


def _values(before: Any, edited: Any, now: Any) -> str:
    """What a field held, what it was changed to, and what it holds now when that is neither;
    of a dict (params, metrics), the keys that changed only."""
    text = f"{_short(before)} then {_short(edited)}"
    if isinstance(before, dict) and isinstance(edited, dict):
        keys = sorted(k for k in {*before, *edited} if before.get(k, UNSET) != edited.get(k, UNSET))
        shown = [f"{k} {_short(before.get(k, UNSET))} then {_short(edited.get(k, UNSET))}" for k in keys[:3]]
        text = ", ".join(shown) + (" …" if len(keys) > 3 else "") if keys else text
    if now == before:
        return text + " (set back since)"
    return text if now == edited else f"{text}, now {_short(now)}"


def _turn(record: dict[str, Any]) -> int:
    """The record's turn (1 for a first turn, and for a search's point, which has none)."""
    turns = record.get("turns")
    return turns if isinstance(turns, int) and turns > 0 else 1


def _short(value: Any, chars: int = 60) -> str:
    """A value of a record (untrusted) in a few characters."""
    if value is UNSET:
        return "(absent)"
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else repr(value)
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _json_object(text: str | None) -> dict[str, Any]:
    """`text` as a JSON object; an empty one for anything else (a damaged note is reported elsewhere)."""
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
