"""The provenance of a run's results: does its record say what its evaluations said?

What a sceptical reader of the record would check, read-only (git plumbing and the run's
log files):

- every experiment branch `strop/<run>/<n>` names a commit that holds its own note
  (the note's run, id, branch and commit are the branch's);
- each record's parent is an earlier experiment of the run, and its commit descends
  from the parent's commit (or the run's base commit) along first parents, through no
  other experiment's commit (only the earlier turns of a multi-turn attempt lie between);
- each scored (`ok`) experiment's evaluation log is there, unchanged since its record
  was written (the note holds its sha256), and the metrics recorded are those the
  scorer's last JSON line in that log gives (with `folds`: the primary metric's mean,
  which strop logs; with `metrics_file`: the metrics strop logged it read from the file,
  `METRICS_FILE_LOGGED`; a log of an older strop holds none, so only its presence and
  digest are checked, said as a note; a search's points have no log at all);
- each re-evaluation of a confirmation (`agent.confirmation`) likewise: its log there,
  unchanged, and giving the metrics recorded;
- the best the run reports is the best scored experiment by the run's own direction
  (ties: the earliest; once confirmed, by the mean: `best_experiment`);
- a hidden-test (final) score is held by the reported best only (or by the best of an
  earlier end of the run, before a resume: said as a note), was set once and never
  changed in the notes' history, and is what the final phase's log says; that log is
  unchanged since the score was recorded (the note holds its sha256; a record of an older
  strop holds none: said as a note); no final log exists for an experiment without a
  score; more than one for the best (a final phase cut short, then run again by a
  resume: each reading of the hidden answers keeps its log) is said as a note, and so is a
  log that says only that its reading started (written and fsync'd before the hidden answers
  are copied out: its process was killed mid-way); no final score exists when the task has
  no hidden test;
- each record against its own history in the notes ref (a field fixed when the experiment
  was committed, or evaluated, or its hidden test scored, never changed after) and against
  its commit (the message holds its idea, the params file and marked lines its params), and
  no evaluation log in the run's folder that no record names (`agent.loop.record_history`).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agent.errors import UnreadableRecord
from agent.experiments import BRANCH_PREFIX, NOTES_REF, RUNS_REF, ExperimentRepo
from agent.home import log_place
from agent.loop.findings import Audit, HiddenTest, Problem
from agent.loop.record_history import check_commits, check_history, check_logs_named, read_history
from agent.records import NAMES_FINAL_LOG, ExperimentRecord, RunRecord, best_experiment
from agent.run_index import RunIndex
from evaluators.command import FINAL_LOG, METRICS_FILE_LOGGED, unfinished_final
from evaluators.metrics_output import MetricsError, last_json_object, parse_json_object, validate_metrics
from evaluators.spec import EvaluatorSpec
from evaluators.verdict import Status

if TYPE_CHECKING:
    from agent.task import TaskFile

GONE = "logs live in $STROP_HOME/runs/RUN/logs of the machine that ran the run"


def audit_provenance(run_id: str, home: Path, index: RunIndex) -> list[str]:
    """The provenance problems of a run, in words (see the module's docstring); empty when none."""
    report = Audit(run=index.find_run(run_id))
    provenance_audit(run_id, home, index, report)
    return list(report.problems)


def provenance_audit(run_id: str, home: Path, index: RunIndex, report: Audit) -> None:
    """Add the provenance problems of a run, and what could not be checked, to `report`."""
    indexed = index.find_run(run_id)
    repo = ExperimentRepo.open(Path(indexed.repo), home)
    try:
        run = repo.read_run(run_id)
    except UnreadableRecord as error:
        report.problems.append(Problem(str(error), "the provenance checks need it: restore it from a copy"))
        return
    report.run = run
    git = _Git(repo.path)
    try:
        records = _branch_records(run_id, repo, git, report)
        report.experiments = len(records)
        _check_parents(run, records, git, report)
        task = _task_file(run)
        spec = task.evaluator if task is not None else None
        logs = home / "runs" / run_id / "logs"
        _check_logs(run, records, spec, home, report)
        _check_best(run, records, report)
        _check_final(run, records, spec, home, git, report)
        report.hidden_tests = hidden_tests(run, records, home)
        history = read_history(run.id, [r.commit for r in records.values()], run.base_commit, git)
        check_history(run.id, history, {r.commit for r in records.values()}, report)
        check_commits(run.id, history, task, git, report)
        check_logs_named(run.id, history, logs, report)
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


# ------------------------------------------------------------------ branches and parents
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
        or not isinstance(record.final_log_path, str)
        or not isinstance(record.final_log_digest, str)
        or not isinstance(record.schema, int)
        or not all(isinstance(metrics, dict) for metrics in numbers)
        or not all(isinstance(v, int | float) for metrics in numbers for v in metrics.values())
        or not isinstance(record.confirmations, list)
        or not all(
            isinstance(c.metrics, dict)
            and isinstance(c.log_path, str)
            and isinstance(c.log_digest, str)
            and all(isinstance(v, int | float) for v in c.metrics.values())
            for c in record.confirmations
        )
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
        nearest = _first_above(record.commit, target, parents, mine)
        if nearest is None:
            report.problems.append(
                Problem(
                    f"{name} (commit {record.commit[:12]}) does not descend from {whose}",
                    "its branch was moved to a commit of another line, or its note's parent edited",
                )
            )
        elif nearest != target:
            report.problems.append(
                Problem(
                    f"{name}'s record names {whose.removeprefix('its ')} as its parent, but its commit "
                    f"descends from {run.id}/{mine[nearest]}'s commit first",
                    "its note's parent was edited, or its branch moved",
                )
            )


def _first_above(commit: str, target: str, parents: dict[str, list[str]], mine: dict[str, int]) -> str | None:
    """Along `commit`'s first parents: `target`, or the run's experiment commit met before it
    (None: neither, the walk left the run's commits)."""
    while True:
        up = parents.get(commit)
        if not up:
            return None
        commit = up[0]
        if commit == target or commit in mine:
            return commit


# ------------------------------------------------------------------ logs
@dataclass(frozen=True)
class _LogWords:
    """How the problems of one kind of log read: its name, and what a score unlike it means."""

    log: str
    differs: str
    hint: str


_EVALUATION = _LogWords(
    "evaluation log",
    "recorded metrics are not its evaluation log's",
    "its note was edited after the evaluation: do not trust its score",
)
_HIDDEN_TEST = _LogWords(
    "hidden-test log",
    "recorded hidden-test score is not its log's",
    "its note was edited after the final phase: do not trust it",
)


@dataclass(frozen=True)
class _Log:
    """A log a record vouches for: whose (`RUN/N`), of which phase, its sha256 as recorded (None:
    a record of an older strop, which kept none), and the metrics it should give (None: not compared)."""

    name: str
    phase: str
    path: Path
    digest: str | None
    metrics: dict[str, float] | None


def _task_file(run: RunRecord) -> TaskFile | None:
    """The task as the run used it, from the snapshot it keeps; None for a search (no task file)."""
    from agent.task import TaskFile

    try:
        return TaskFile.model_validate(tomllib.loads(run.task_source))
    except (tomllib.TOMLDecodeError, ValueError):
        return None


def _check_logs(
    run: RunRecord,
    records: dict[int, ExperimentRecord],
    spec: EvaluatorSpec | None,
    home: Path,
    report: Audit,
) -> None:
    """Each scored experiment's metrics against the scorer's output in its evaluation log (this
    home's copy of it: `log_place`)."""
    scored = [r for r in records.values() if r.status is Status.OK]
    if spec is None:
        if scored:
            report.unchecked.append(
                f"{len(scored)} scored experiment(s): the run keeps no task file (a search), so its "
                "scores came from no evaluation log strop wrote; they were not checked"
            )
        return
    _say_what_logs_hold(spec, report)
    for record in scored:
        name = f"{run.id}/{record.id}"
        if not record.log_path:
            report.problems.append(Problem(f"{name} is scored but its record names no evaluation log", GONE))
            continue
        log = _Log(name, "validate", log_place(home, record.log_path), record.log_digest, record.metrics)
        if _check_log(log, spec, report):
            report.logs_checked += 1
    for record in records.values():
        _check_confirmation_logs(f"{run.id}/{record.id}", record, spec, home, report)


def _check_confirmation_logs(
    name: str, record: ExperimentRecord, spec: EvaluatorSpec, home: Path, report: Audit
) -> None:
    """Each re-evaluation of a confirmation as an evaluation: its log there, unchanged, and giving
    the metrics recorded (a failed one's log is checked for its presence and digest)."""
    for number, confirmation in enumerate(record.confirmations, start=1):
        which = f"{name} (confirmation {number})"
        if not confirmation.log_path:
            if confirmation.status == Status.OK:
                report.problems.append(Problem(f"{which} is scored but names no evaluation log", GONE))
            continue
        metrics = confirmation.metrics if confirmation.status == Status.OK else None
        log = _Log(
            which, "validate", log_place(home, confirmation.log_path), confirmation.log_digest, metrics
        )
        if _check_log(log, spec, report):
            report.logs_checked += 1


def _say_what_logs_hold(spec: EvaluatorSpec, report: Audit) -> None:
    """What this evaluator's logs cannot vouch for, as notes."""
    if spec.folds > 1:
        report.unchecked.append(
            f"with folds, the log keeps the mean of {spec.metric} only: other metrics were not checked"
        )
    if not spec.two_stage:
        report.unchecked.append(
            "one-stage evaluator (`command`): its logs hold what the candidate's own process printed, "
            "which the candidate can forge (see the README's threat model)"
        )


def _check_log(log: _Log, spec: EvaluatorSpec, report: Audit) -> bool:
    """The log is there, unchanged (its sha256 is the record's), and gives the recorded metrics;
    whether it was there and unchanged (or has no recorded sha256 to compare)."""
    words = _HIDDEN_TEST if log.phase == "final" else _EVALUATION
    if not log.path.is_file():
        report.problems.append(Problem(f"{log.name}'s {words.log} {log.path} is missing", GONE))
        return False
    data = log.path.read_bytes()
    if log.digest is not None and hashlib.sha256(data).hexdigest() != log.digest:
        report.problems.append(
            Problem(
                f"{log.name}'s {words.log} {log.path} changed after it was recorded (its sha256 is not the note's)",
                "the log or the note was edited: trust neither",
            )
        )
        return False
    if log.metrics is None:
        return True
    mismatch = _metrics_mismatch(data.decode(errors="replace"), spec, log.phase, log.metrics)
    if mismatch is None:
        older = (
            f"the scorer writes its metrics to {spec.metrics_file}, which the logs of an older strop "
            "do not keep: those scores were checked for their logs' presence and digests only"
        )
        if older not in report.unchecked:
            report.unchecked.append(older)
    elif mismatch:
        report.problems.append(Problem(f"{log.name}'s {words.differs}: {mismatch}", words.hint))
    return True


def _metrics_mismatch(log: str, spec: EvaluatorSpec, phase: str, recorded: dict[str, float]) -> str | None:
    """How the recorded metrics differ from the log's (empty when they agree; None when the log
    keeps none to compare: an older strop's log of metrics read from `metrics_file`)."""
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
    headers = [f"$ {command}   # stage {stage}\n"]
    if not spec.two_stage:  # an older strop's one-stage log (before e6805e3) named no stage
        headers.append(f"$ {command}\n# backend=")
    at = max(log.rfind(header) for header in headers)
    if at < 0:
        return f"the log holds no output of stage {stage}"
    section = log[at:]
    try:
        if spec.metrics_file:
            line = _metrics_file_line(section)
            if line is None:
                return None
            raw = parse_json_object(line, "its line of the metrics read from metrics_file")
        else:
            start = section.find("--- stdout ---\n")
            end = section.find("\n--- stderr ---\n", start)
            stdout = (
                section[start + len("--- stdout ---\n") : end if end >= 0 else None] if start >= 0 else ""
            )
            raw = last_json_object(stdout, spec.metric)
        logged = validate_metrics(raw, spec.metric).metrics
    except MetricsError as error:
        return f"the log's output gives no metrics ({error})"
    if logged == recorded:
        return ""
    differ = sorted(k for k in set(logged) | set(recorded) if logged.get(k) != recorded.get(k))
    shown = ", ".join(f"{k} = {recorded.get(k)} recorded, {logged.get(k)} logged" for k in differ[:3])
    return shown + (" …" if len(differ) > 3 else "")


def _metrics_file_line(section: str) -> str | None:
    """The metrics strop logged it read from `metrics_file`, after a stage's output (the last
    such line: the stage's own output, above it, may print anything); None when there is none."""
    at = section.rfind(f"\n{METRICS_FILE_LOGGED}")
    if at < 0:
        return None
    return section[at + 1 + len(METRICS_FILE_LOGGED) :].split("\n", 1)[0]


# ------------------------------------------------------------------ the best and its hidden test
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
    home: Path,
    git: _Git,
    report: Audit,
) -> None:
    """The hidden test: on the reported best only, scored once, as its log (unchanged) says."""
    logs = home / "runs" / run.id / "logs"
    finals = {r.id: r for r in records.values() if r.final_metrics is not None}
    ended = run.status in ("done", "stopped")
    earlier_bests = _bests_at_ends(run, git)
    for record in finals.values():
        name = f"{run.id}/{record.id}"
        if spec is None or not spec.has_final:
            report.problems.append(
                Problem(
                    f"{name} holds a hidden-test score, but the run's task has no hidden test",
                    "its note was edited after the run",
                )  # fmt: skip
            )
            continue
        if ended and record.id != run.best:
            _check_earlier_best(name, record.id in earlier_bests, len(finals), report)
        log = _final_log(name, record, run.schema, home, logs, report)
        if log is not None:
            _check_log(log, spec, report)
    if spec is not None and spec.has_final and ended and run.best in records and run.best not in finals:
        report.problems.append(
            Problem(
                f"the run's best {run.id}/{run.best} has no hidden-test score",
                "the run's end was cut short before the final phase recorded it",
            )
        )
    _check_final_logs(run, finals, logs, report)


def _check_earlier_best(name: str, was_best: bool, finals: int, report: Audit) -> None:
    """A hidden-test score on an experiment that is not the run's best: the best of an earlier end, or a problem."""
    if was_best:
        report.unchecked.append(
            f"{name} holds a hidden-test score too: it was the best when the run ended before a "
            f"resume, so the hidden test was scored on {finals} experiments"
        )
    else:
        report.problems.append(
            Problem(
                f"{name} holds a hidden-test score but was never the run's best at its end",
                "its note was edited, or the hidden test was run on more than the best",
            )
        )


def _final_log(
    name: str, record: ExperimentRecord, run_schema: int, home: Path, logs: Path, report: Audit
) -> _Log | None:
    """The hidden-test log `record` vouches for: the one it names with its sha256; for a record of
    an older strop (none named) `N-final.log`, compared with the score only (said as a note).

    A record of a schema that always names it, or of a run started by such a strop, that names
    none had the names taken out of its note: that is a problem, not an older strop."""
    scored = record.final_metrics or None  # an empty score (the phase failed) gives no metrics to compare
    if record.final_log_path:
        return _Log(name, "final", log_place(home, record.final_log_path), record.final_log_digest, scored)
    if scored is None:
        return None
    if max(record.schema, run_schema) >= NAMES_FINAL_LOG:
        whose = (
            f"the record is schema {record.schema}"
            if record.schema >= NAMES_FINAL_LOG
            else (f"its run is schema {run_schema}")
        )
        report.problems.append(
            Problem(
                f"{name}'s record names no hidden-test log and holds no sha256 of it, yet {whose}, "
                "whose records always do",
                "its note was edited: the log's name and sha256 taken out",
            )
        )
    else:
        report.unchecked.append(
            f"{name}'s record names no hidden-test log and holds no sha256 of it (a record of an older "
            "strop): its log was checked against its score only"
        )
    return _Log(name, "final", logs / f"{record.id}-final.log", None, scored)


def _check_final_logs(run: RunRecord, finals: dict[int, ExperimentRecord], logs: Path, report: Audit) -> None:
    """Every hidden-test log in the run's folder is of an experiment with a hidden-test score;
    more than one of the same experiment (a final phase cut short, then run again) is said."""
    found: dict[int, list[str]] = {}
    for path in sorted(logs.glob("*-final*.log")) if logs.is_dir() else []:
        named = FINAL_LOG.fullmatch(path.name)
        if named is not None and int(named[1]) not in finals and unfinished_final(path):
            report.unchecked.append(
                f"a reading of the hidden test on {run.id}/{named[1]} started ({path.name}) and never finished "
                "(its process was killed?): the hidden answers may have been read; no score of it exists"
            )
            continue
        if named is None or int(named[1]) not in finals:
            number = named[1] if named else path.name.split("-final", 1)[0]
            report.problems.append(
                Problem(
                    f"the hidden test was run on {run.id}/{number} ({path.name}) but no score of it is recorded",
                    "a final phase cut short (then the run found a new best), or a note edited",
                )
            )
            continue
        found.setdefault(int(named[1]), []).append(path.name)
    for number, names in found.items():
        record = finals[number]
        kept = Path(record.final_log_path).name if record.final_log_path else f"{number}-final.log"
        if [name for name in names if name != kept]:
            readings = sorted({*names, kept}, key=_final_log_order)
            shown = [
                f"{name}: started, never finished" if unfinished_final(logs / name) else name
                for name in readings
            ]
            report.unchecked.append(
                f"the hidden test was run {len(readings)} times on {run.id}/{number} ({', '.join(shown)}): "
                f"a final phase cut short before its score was recorded, then run again; the score is {kept}'s"
            )


def hidden_tests(run: RunRecord, records: dict[int, ExperimentRecord], home: Path) -> list[HiddenTest]:
    """Every reading of the hidden test: each record's score with its log, and each hidden-test log
    in the run's folder that no record's score comes from (a final phase cut short, run again)."""
    logs = home / "runs" / run.id / "logs"
    readings = []
    for record in records.values():
        if record.final_metrics is not None:
            path = (
                log_place(home, record.final_log_path)
                if record.final_log_path
                else logs / f"{record.id}-final.log"
            )
            value = record.final_metrics.get(run.metric)
            why = "" if value is not None else record.final_reason  # strop's verdict, not the log's words
            readings.append(HiddenTest(f"{run.id}/{record.id}", value, _written_at(path), path.name, why=why))
    scored = {reading.log for reading in readings}
    for path in logs.glob("*-final*.log") if logs.is_dir() else []:
        if (named := FINAL_LOG.fullmatch(path.name)) and path.name not in scored:
            finished = not unfinished_final(path)
            readings.append(
                HiddenTest(
                    f"{run.id}/{named[1]}",
                    None,
                    _written_at(path),
                    path.name,
                    recorded=False,
                    finished=finished,
                )
            )
    return sorted(readings, key=lambda r: (int(r.experiment.rsplit("/", 1)[1]), _final_log_order(r.log)))


def _written_at(path: Path) -> str | None:
    """When `path` was last written, in UTC to the second; None when it is not there."""
    from datetime import UTC, datetime

    try:
        stamp = path.stat().st_mtime
    except OSError:
        return None
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _final_log_order(name: str) -> int:
    """Which reading of the hidden test a log's name says it was: 1 for `N-final.log`, 2 for `N-final-2.log`."""
    named = FINAL_LOG.fullmatch(name)
    return int(named[2]) if named and named[2] else 1


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


def _json_object(text: str | None) -> dict:
    """`text` as a JSON object; an empty one for anything else (a damaged record is reported elsewhere)."""
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
