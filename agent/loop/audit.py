"""An audit of a run: is its record whole, and does it say what its evaluations said?

Two parts, both read-only and cheap (a few git processes and the run's log files):

`audit_run` checks what crash safety promises, from the outside (git, the index, the
file system): experiment ids are contiguous from 0 with none left pending; the number
evaluated is what the budget allowed; the index says what git says; `git fsck` finds no
error; no lane worktree, lock file or held lock is left behind. The crash tests and the
crash benchmark call it after every resume.

`audit_provenance` checks what a sceptical reader of the record would:

- every experiment branch `strop/<run>/<n>` names a commit that holds its own note
  (the note's run, id, branch and commit are the branch's);
- each record's parent is an earlier experiment of the run, and its commit descends
  from the parent's commit (or the run's base commit) along first parents, through no
  other experiment's commit (only the earlier turns of a multi-turn attempt lie between);
- each scored (`ok`) experiment's evaluation log is there, unchanged since its record
  was written (the note holds its sha256), and the metrics recorded are those the
  scorer's last JSON line in that log gives (with `folds`: the primary metric's mean,
  which strop logs; with `metrics_file` the file is not logged, so only the log's
  presence and digest are checked; a search's points have no log at all);
- the best the run reports is the best scored experiment by the run's own direction
  (ties: the earliest);
- a hidden-test (final) score is held by the reported best only (or by the best of an
  earlier end of the run, before a resume: said as a note), was set once and never
  changed in the notes' history, and is what the final phase's log says; no final log
  exists for an experiment without a score; no final score exists when the task has
  no hidden test.

What a passing audit proves: the record is consistent with itself, with git's history
of it and with the logs on this machine; nobody removed or edited a note, moved a
branch, lost an experiment or changed a log after it was written (short of rewriting
a note, its log and the notes' history together, which anyone who can write to both
the repo and `$STROP_HOME` can do). What it does not prove: that the scorer, the private
data, the task file or strop itself were not tampered with before or during the run
(the scorer's own output is taken as true); that the sandbox held (with `local` it does
not); that a one-stage (`command`) task's metric was not forged by the candidate in
the process that printed it; that a metric is more than one noisy draw; nor that a
final phase cut short before its score was written read the hidden answers only as
often as recorded (its log is overwritten by the next attempt).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock, Timeout

from agent.experiments import BRANCH_PREFIX, NOTES_REF, RUNS_REF, ExperimentRepo
from agent.home import run_dir
from agent.records import ExperimentRecord, RunRecord, best_experiment
from agent.run_index import RunIndex
from evaluators.metrics_output import MetricsError, last_json_object, validate_metrics
from evaluators.spec import EvaluatorSpec
from evaluators.verdict import Status


class Problem(str):
    """A problem found, in words (the string itself), and what to do about it (`hint`, may be empty)."""

    hint: str

    def __new__(cls, text: str, hint: str = "") -> Problem:
        problem = super().__new__(cls, text)
        problem.hint = hint
        return problem


@dataclass
class Audit:
    """Everything `strop audit` says of one run: problems (none: the run is whole) and what was not checked."""

    run: RunRecord
    problems: list[Problem] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    experiments: int = 0
    logs_checked: int = 0

    @property
    def whole(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, object]:
        return {
            "run": self.run.id,
            "whole": self.whole,
            "experiments": self.experiments,
            "logs_checked": self.logs_checked,
            "problems": [{"problem": str(p), "hint": p.hint} for p in self.problems],
            "unchecked": list(self.unchecked),
        }


def audit(run_ref: str | None, home: Path, index: RunIndex) -> Audit:
    """Both audits of the run `run_ref` (an id, a prefix, or None for the latest)."""
    run = index.find_run(run_ref)
    report = Audit(run=run)
    try:
        report.problems.extend(audit_run(run.id, home, index))
    except (ValueError, TypeError, KeyError, AttributeError) as error:  # a note that is not a record
        report.problems.append(
            Problem(
                f"a note of the run is not a record ({type(error).__name__}: {error}): the whole-run checks "
                "could not read the records",
                "see the line about the branch whose note it is",
            )
        )
    provenance_audit(run.id, home, index, report)
    return report


def audit_run(run_id: str, home: Path, index: RunIndex, evaluated: int | None = None) -> list[str]:
    """Problems found, in words; an empty list means the run is whole."""
    problems: list[str] = []
    run = index.find_run(run_id)
    repo = ExperimentRepo.open(Path(run.repo), home)
    if run.status not in ("done", "stopped"):
        problems.append(
            Problem(
                f"run status is {run.status!r}",
                f"if its process is gone, `strop resume {run_id}` finishes it; else wait for it to end",
            )
        )
    records = repo.read_records(run_id)
    ids = [record.id for record in records]
    if ids != list(range(len(ids))):
        problems.append(
            Problem(
                f"experiment ids are not 0..{len(ids) - 1}: {ids}",
                "an experiment's branch or note is gone (see the lines about branches)",
            )
        )
    pending = [record.id for record in records if record.status is Status.PENDING]
    if pending:
        problems.append(
            Problem(f"experiments left pending: {pending}", f"`strop resume {run_id}` evaluates them")
        )
    scored = sum(1 for record in records if record.status not in (Status.PENDING, Status.REJECTED))
    if evaluated is not None and scored != evaluated:
        problems.append(Problem(f"{scored} experiments evaluated, expected {evaluated}"))
    cached = {(r.id, r.status, r.commit) for r in index.experiments(run_id)}
    if cached != {(r.id, r.status, r.commit) for r in records}:
        problems.append(
            Problem("the run index disagrees with git", "`strop reindex` rebuilds the index from git")
        )
    branches = repo.git.for_each_ref("--format=%(refname)", f"refs/heads/strop/{run_id}/").split()
    if len(branches) != len(records):
        problems.append(
            Problem(
                f"{len(branches)} branches but {len(records)} recorded experiments",
                "a branch names a commit without its note (see the lines about branches)",
            )
        )
    fsck = subprocess.run(["git", "fsck", "--no-progress"], cwd=repo.path, capture_output=True, text=True)
    bad = [line for line in (fsck.stdout + fsck.stderr).splitlines() if not line.startswith("dangling")]
    if fsck.returncode != 0 or bad:
        problems.append(
            Problem(
                f"git fsck: {' | '.join(bad) or fsck.returncode}",
                f"the experiment repo is damaged: see `git -C {repo.path} fsck --full`",
            )
        )
    lanes = home / "worktrees" / repo.key / run_id
    listing = repo.git.worktree("list", "--porcelain").splitlines()
    # this run's only: another run of the same repo may be going, or killed and not yet resumed
    left = [line for line in listing if line.startswith(f"worktree {lanes}/")]
    resume = f"`strop resume {run_id}` removes them when it ends"
    if left:
        problems.append(Problem(f"{len(left)} worktree(s) of the run left: {left}", resume))
    if lanes.exists():
        problems.append(Problem("the run's lane folder is still there", resume))
    git_dir = Path(repo.repo.git_dir)
    stale = [str(p.relative_to(git_dir)) for p in git_dir.rglob("*.lock") if p.name != "strop.lock"]
    if stale:
        problems.append(
            Problem(
                f"stale git lock files: {stale}",
                f"when no git or strop process works in {repo.path}, remove them",
            )
        )
    for lock_path in (git_dir / "strop.lock", run_dir(run_id) / "runner.lock"):
        lock = FileLock(str(lock_path), timeout=0)
        try:
            lock.acquire()
            lock.release()
        except Timeout:
            problems.append(
                Problem(
                    f"{lock_path.name} is still held",
                    f"a strop process is still at work: let it end, or `strop stop {run_id}`",
                )
            )
    return problems


# ------------------------------------------------------------------ provenance
def audit_provenance(run_id: str, home: Path, index: RunIndex) -> list[str]:
    """The provenance problems of a run, in words (see the module's docstring); empty when none."""
    report = Audit(run=index.find_run(run_id))
    provenance_audit(run_id, home, index, report)
    return list(report.problems)


def provenance_audit(run_id: str, home: Path, index: RunIndex, report: Audit) -> None:
    """Add the provenance problems of a run, and what could not be checked, to `report`."""
    indexed = index.find_run(run_id)
    repo = ExperimentRepo.open(Path(indexed.repo), home)
    run = repo.read_run(run_id)
    report.run = run
    git = _Git(repo.path)
    try:
        records = _branch_records(run_id, repo, git, report)
        report.experiments = len(records)
        _check_parents(run, records, git, report)
        spec = _evaluator_spec(run)
        _check_logs(run, records, spec, report)
        _check_best(run, records, report)
        _check_final(run, records, spec, home / "runs" / run_id / "logs", git, report)
    except _GitError as error:
        report.problems.append(
            Problem(f"git cannot read the run's record: {error}", f"see `git -C {repo.path} fsck --full`")
        )


class _Git:
    """Read-only git plumbing in one repo: a command's output, or blobs by `<rev>:<path>` in one process."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, *args: str) -> str:
        done = subprocess.run(["git", *args], cwd=self.path, capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            raise _GitError(f"git {args[0]}: {last}")
        return done.stdout

    def blobs(self, specs: list[str]) -> list[str | None]:
        """The text of each object `specs` name (None for one that does not exist), in order."""
        if not specs:
            return []
        done = subprocess.run(
            ["git", "cat-file", "--batch"], cwd=self.path, input="\n".join(specs).encode() + b"\n",
            capture_output=True,
        )  # fmt: skip
        if done.returncode != 0:
            raise _GitError(f"git cat-file: {done.stderr.decode(errors='replace').strip()[-200:]}")
        data, at, found = done.stdout, 0, []
        for _ in specs:
            end = data.index(b"\n", at)
            header = data[at:end].split()
            at = end + 1
            if len(header) != 3 or header[1] == b"missing":
                found.append(None)
                continue
            size = int(header[2])
            found.append(data[at : at + size].decode(errors="replace"))
            at += size + 1
        return found


class _GitError(Exception):
    pass


def _branch_records(
    run_id: str, repo: ExperimentRepo, git: _Git, report: Audit
) -> dict[int, ExperimentRecord]:
    """The run's records whose branch names a commit holding their own note; the rest are problems."""
    prefix = f"refs/heads/{BRANCH_PREFIX}{run_id}/"
    listing = git("for-each-ref", "--format=%(refname) %(objectname)", prefix).split("\n")
    branches = [line.split() for line in listing if line.strip()]
    try:
        listed = git("notes", f"--ref={NOTES_REF}", "list")
    except _GitError:  # no note at all yet
        listed = ""
    notes = {commit: note for note, commit in (line.split() for line in listed.splitlines())}
    texts = git.blobs([notes[commit] for _ref, commit in branches if commit in notes])
    found = iter(texts)
    records: dict[int, ExperimentRecord] = {}
    for ref, commit in branches:
        branch = ref.removeprefix("refs/heads/")
        where = f"{branch} names commit {commit[:12]}"
        hint = (
            "the branch was moved, or its note removed or edited, after the run; "
            f"`git -C {repo.path} reflog {branch}`"
        )
        if commit not in notes:
            report.problems.append(Problem(f"{where}, which holds no record (no note)", hint))
            continue
        try:
            record = _record(next(found))
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            report.problems.append(Problem(f"{where}, whose note is not a record ({error})", hint))
            continue
        number = ref.removeprefix(prefix)
        if (record.run, str(record.id), record.branch, record.commit) != (run_id, number, branch, commit):
            report.problems.append(
                Problem(
                    f"{where}, whose note is the record of {record.run}/{record.id} ({record.branch})", hint
                )
            )
            continue
        records[record.id] = record
    return records


def _record(text: str | None) -> ExperimentRecord:
    """A note's record, its fields of the types the checks read (an edited note may hold anything)."""
    record = ExperimentRecord.from_dict(json.loads(text or ""))
    numbers = (record.metrics, record.final_metrics or {})
    if (
        not isinstance(record.id, int)
        or not isinstance(record.parent, int | None)
        or not all(isinstance(metrics, dict) for metrics in numbers)
        or not all(isinstance(v, int | float) for metrics in numbers for v in metrics.values())
    ):
        raise TypeError("a field of the wrong type")
    return record


def _check_parents(run: RunRecord, records: dict[int, ExperimentRecord], git: _Git, report: Audit) -> None:
    """Each record's parent exists, is earlier, and its commit is the parent's commit's descendant."""
    if not records:
        return
    mine = {r.commit: r.id for r in records.values()}
    try:
        walked = git("rev-list", "--parents", *mine, f"^{run.base_commit}")
    except _GitError as error:
        report.problems.append(Problem(f"git cannot walk the run's commits: {error}", "run `git fsck`"))
        return
    parents = {line.split()[0]: line.split()[1:] for line in walked.splitlines() if line.strip()}
    for record in records.values():
        name = f"{run.id}/{record.id}"
        if record.parent is None:
            target, whose = run.base_commit, f"the run's base commit {run.base_commit[:12]}"
        elif record.parent not in records or record.parent >= record.id:
            report.problems.append(
                Problem(
                    f"{name}'s parent {record.parent} is not an earlier experiment of the run",
                    "its note was edited, or the parent's branch is gone",
                )
            )
            continue
        else:
            target = records[record.parent].commit
            whose = f"its parent {run.id}/{record.parent}'s commit {target[:12]}"
        commit, nearest = record.commit, None
        while True:
            up = parents.get(commit)
            if not up:
                nearest = "none"
                break
            commit = up[0]
            if commit == target:
                break
            if commit in mine:
                nearest = f"{run.id}/{mine[commit]}'s"
                break
        if nearest == "none":
            report.problems.append(
                Problem(
                    f"{name} (commit {record.commit[:12]}) does not descend from {whose}",
                    "its branch was moved to a commit of another line, or its note's parent edited",
                )
            )
        elif nearest is not None:
            report.problems.append(
                Problem(
                    f"{name}'s record names {whose.removeprefix('its ')} as its parent, but its commit "
                    f"descends from {nearest} commit first",
                    "its note's parent was edited, or its branch moved",
                )
            )


def _evaluator_spec(run: RunRecord) -> EvaluatorSpec | None:
    """The evaluator the run used, from the task snapshot it keeps; None for a search (no task file)."""
    from agent.task import TaskFile

    try:
        return TaskFile.model_validate(tomllib.loads(run.task_source)).evaluator
    except (tomllib.TOMLDecodeError, ValueError):
        return None


def _check_logs(
    run: RunRecord, records: dict[int, ExperimentRecord], spec: EvaluatorSpec | None, report: Audit
) -> None:
    """Each scored experiment's metrics against the scorer's output in its evaluation log."""
    scored = [r for r in records.values() if r.status is Status.OK]
    if spec is None:
        if scored:
            report.unchecked.append(
                f"{len(scored)} scored experiment(s): the run keeps no task file (a search), so its "
                "scores came from no evaluation log strop wrote; they were not checked"
            )
        return
    if spec.metrics_file:
        report.unchecked.append(
            f"the scorer writes its metrics to {spec.metrics_file}, which the log does not keep: "
            "scores were checked for their logs' presence and digests only"
        )
    elif spec.folds > 1:
        report.unchecked.append(
            f"with folds, the log keeps the mean of {spec.metric} only: other metrics were not checked"
        )
    if not spec.two_stage:
        report.unchecked.append(
            "one-stage evaluator (`command`): its logs hold what the candidate's own process printed, "
            "which the candidate can forge (see the README's threat model)"
        )
    for record in scored:
        name = f"{run.id}/{record.id}"
        gone = "logs live in $STROP_HOME/runs/RUN/logs of the machine that ran the run"
        if not record.log_path:
            report.problems.append(Problem(f"{name} is scored but its record names no evaluation log", gone))
            continue
        path = Path(record.log_path)
        if not path.is_file():
            report.problems.append(Problem(f"{name}'s evaluation log {path} is missing", gone))
            continue
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != record.log_digest:
            report.problems.append(
                Problem(
                    f"{name}'s evaluation log {path} changed after it was recorded (its sha256 is not the note's)",
                    "the log or the note was edited: trust neither",
                )
            )
            continue
        report.logs_checked += 1
        if spec.metrics_file:
            continue
        mismatch = _metrics_mismatch(data.decode(errors="replace"), spec, "validate", record.metrics)
        if mismatch:
            report.problems.append(
                Problem(
                    f"{name}'s recorded metrics are not its evaluation log's: {mismatch}",
                    "its note was edited after the evaluation: do not trust its score",
                )
            )


def _metrics_mismatch(log: str, spec: EvaluatorSpec, phase: str, recorded: dict[str, float]) -> str:
    """How the recorded metrics differ from the log's (empty when they agree)."""
    if phase == "validate" and spec.folds > 1:
        marker = f"# {spec.metric} by fold: "
        at = log.rfind(marker)
        line = log[at:].split("\n", 1)[0] if at >= 0 else ""
        try:
            logged = float(line.rsplit("; mean ", 1)[1])
        except (IndexError, ValueError):
            return f"the log holds no mean of {spec.metric} over the folds"
        value = recorded.get(spec.metric)
        return "" if value == logged else f"{spec.metric} = {value} recorded, {logged} logged"
    if spec.two_stage:
        command, stage = spec.score, "score"
    else:
        command, stage = (spec.final if phase == "final" else spec.command), "evaluator"
    header = f"$ {command}   # stage {stage}\n"
    at = log.rfind(header)
    if at < 0:
        return f"the log holds no output of stage {stage}"
    section = log[at:]
    start = section.find("--- stdout ---\n")
    end = section.find("\n--- stderr ---\n", start)
    stdout = section[start + len("--- stdout ---\n") : end if end >= 0 else None] if start >= 0 else ""
    try:
        logged = validate_metrics(last_json_object(stdout, spec.metric), spec.metric).metrics
    except MetricsError as error:
        return f"the log's output gives no metrics ({error})"
    if logged == recorded:
        return ""
    differ = sorted(k for k in set(logged) | set(recorded) if logged.get(k) != recorded.get(k))
    shown = ", ".join(f"{k} = {recorded.get(k)} recorded, {logged.get(k)} logged" for k in differ[:3])
    return shown + (" …" if len(differ) > 3 else "")


def _check_best(run: RunRecord, records: dict[int, ExperimentRecord], report: Audit) -> None:
    """The best the run reports is the best scored experiment by its own direction."""
    if run.status not in ("done", "stopped"):
        return
    best = best_experiment(sorted(records.values(), key=lambda r: r.id), run.metric, run.direction)
    expected = best.id if best is not None else None
    if run.best != expected:
        said = f"{run.id}/{run.best}" if run.best is not None else "no best"
        actual = f"{run.id}/{expected}" if expected is not None else "none (nothing scored)"
        report.problems.append(
            Problem(
                f"the run reports {said}, but the best scored experiment by {run.direction.value} "
                f"{run.metric} is {actual}",
                "a note or the run's record was edited after the run: trust neither",
            )
        )


def _check_final(
    run: RunRecord,
    records: dict[int, ExperimentRecord],
    spec: EvaluatorSpec | None,
    logs: Path,
    git: _Git,
    report: Audit,
) -> None:
    """The hidden test: on the reported best only, scored once, as its log says."""
    finals = {r.id: r for r in records.values() if r.final_metrics is not None}
    has_final = spec is not None and spec.has_final
    ended = run.status in ("done", "stopped")
    earlier_bests = _bests_at_ends(run, git)
    for record in finals.values():
        name = f"{run.id}/{record.id}"
        if not has_final:
            report.problems.append(
                Problem(
                    f"{name} holds a hidden-test score, but the run's task has no hidden test",
                    "its note was edited after the run",
                )  # fmt: skip
            )
            continue
        if ended and record.id != run.best:
            if record.id in earlier_bests:
                report.unchecked.append(
                    f"{name} holds a hidden-test score too: it was the best when the run ended before a "
                    f"resume, so the hidden test was scored on {len(finals)} experiments"
                )
            else:
                report.problems.append(
                    Problem(
                        f"{name} holds a hidden-test score but was never the run's best at its end",
                        "its note was edited, or the hidden test was run on more than the best",
                    )
                )
        if len(_final_versions(record.commit, git)) > 1:
            report.problems.append(
                Problem(
                    f"{name}'s hidden-test score changed after it was first recorded (notes history)",
                    "the hidden test was scored again, or the note edited: trust the first",
                )
            )
        log = logs / f"{record.id}-final.log"
        if record.final_metrics and not log.is_file():
            report.problems.append(
                Problem(
                    f"{name}'s hidden-test log {log} is missing",
                    "logs live in $STROP_HOME/runs/RUN/logs of the machine that ran the run",
                )  # fmt: skip
            )
        elif record.final_metrics and spec is not None and not spec.metrics_file:
            mismatch = _metrics_mismatch(log.read_text(errors="replace"), spec, "final", record.final_metrics)
            if mismatch:
                report.problems.append(
                    Problem(
                        f"{name}'s recorded hidden-test score is not its log's: {mismatch}",
                        "its note was edited after the final phase: do not trust it",
                    )
                )
    if has_final and ended and run.best in records and run.best not in finals:
        report.problems.append(
            Problem(
                f"the run's best {run.id}/{run.best} has no hidden-test score",
                "the run's end was cut short before the final phase recorded it",
            )
        )
    for path in sorted(logs.glob("*-final.log")) if logs.is_dir() else []:
        number = path.name.removesuffix("-final.log")
        if not number.isdigit() or int(number) not in finals:
            report.problems.append(
                Problem(
                    f"the hidden test was run on {run.id}/{number} ({path.name}) but no score of it is recorded",
                    "a final phase cut short (then the run found a new best), or a note edited",
                )
            )


def _bests_at_ends(run: RunRecord, git: _Git) -> set[int]:
    """The best of every version of the run's record that says it ended (each end of a resumed run)."""
    try:
        versions = git("rev-list", f"{RUNS_REF}{run.id}").split()
    except _GitError:
        return set()
    bests = set()
    for text in git.blobs([f"{version}:run.json" for version in versions]):
        data = _json_object(text)
        if data.get("status") in ("done", "stopped") and isinstance(data.get("best"), int):
            bests.add(data["best"])
    return bests


def _final_versions(commit: str, git: _Git) -> set[str]:
    """The distinct hidden-test scores the notes' history ever held for `commit`'s record."""
    paths = [commit, f"{commit[:2]}/{commit[2:]}", f"{commit[:2]}/{commit[2:4]}/{commit[4:]}"]
    try:
        versions = git("rev-list", f"refs/notes/{NOTES_REF}", "--", *paths).split()
    except _GitError:
        return set()
    specs = [f"{version}:{path}" for version in versions for path in paths]
    seen = set()
    for text in git.blobs(specs):
        if text:
            final = _json_object(text).get("final_metrics")
            if final is not None:
                seen.add(json.dumps(final, sort_keys=True))
    return seen


def _json_object(text: str | None) -> dict:
    """`text` as a JSON object; an empty one for anything else (a damaged record is reported elsewhere)."""
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
