"""The one-stage evaluator (legacy): the task's `command` on a throwaway copy of the candidate.

Order matters: integrity first (a tampered candidate is never run), then the
sandboxed command on an export of the checkout (never the checkout itself: see
`evaluators.scratch`), then the metric read from the evaluator's own output.
Every failure becomes a `Verdict` with a one-line reason, never an exception.

The evaluator imports the candidate's code, so the candidate runs in the process
that prints the metric and can forge it (an `atexit` print, a patched `numpy`).
`evaluators.staged` is the form that cannot be forged; this one stays for tasks
written before it, and strop warns when it is used.

The pieces both forms share (limits clamped to a deadline, reading an
execution's outcome, the log file) live here as functions.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from evaluators.integrity import ProtectedFiles
from evaluators.metrics_output import (
    MetricsError,
    ParsedMetrics,
    decoded,
    last_json_object,
    parse_json_object,
    validate_metrics,
)
from evaluators.scratch import SCRATCH, export_tree, reap, scratch, without_host_paths
from evaluators.spec import EvaluatorSpec
from evaluators.verdict import Status, Verdict
from sandbox.execution import Execution, KilledBy, Limits, Sandbox, SandboxError

FEEDBACK_CHARS = 4000
METRICS_FILE_MAX = 1 << 20
MIN_SECONDS = 0.5
"""An evaluation with less time than this left before the deadline is not started."""


_SHELL_SYNTAX = set("|&;<>()$`\\\"'*?[]#~=%{}\n")


def command_argv(command: str) -> list[str]:
    """The argv for a task's command: run directly when it is plain words, else by /bin/sh.

    A shell costs an exec and a few milliseconds per stage; `python train.py` needs none.
    """
    if _SHELL_SYNTAX.isdisjoint(command):
        words = command.split()
        if words:
            return words
    return ["/bin/sh", "-c", command]


def first_line(text: str, limit: int = 200) -> str:
    """The last non-blank line of `text`, for a one-line reason: at most `limit` characters,
    control characters (tab aside) dropped.

    The text is what a candidate printed: a terminal escape in it (a hyperlink, a title, a
    screen clear) must not reach the verdict's reason whole, since every reader of a reason
    (`strop log`, a report, `jq` on `--json`) may print it to a terminal. Without its ESC or
    BEL, what is left of a sequence is inert text, as the CLI shows it.
    """
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    line = lines[-1] if lines else ""
    return without_controls(line)[:limit]


def without_controls(text: str) -> str:
    """`text` without its control characters (Unicode category Cc: C0, DEL, C1), tab aside."""
    return "".join(ch for ch in text if ch == "\t" or unicodedata.category(ch) != "Cc")


@dataclass(frozen=True)
class Budgeted:
    """A stage's time limit after the run's deadline: `clamped` when the deadline cut it."""

    seconds: float
    clamped: bool

    @classmethod
    def of(cls, limit: float, deadline: float | None) -> Budgeted:
        if deadline is None:
            return cls(limit, False)
        left = deadline - time.time()
        return cls(min(limit, max(0.0, left)), left < limit)

    @property
    def too_short(self) -> bool:
        return self.clamped and self.seconds < MIN_SECONDS


def not_started(phase: str, fingerprint: str) -> Verdict:
    return Verdict(
        status=Status.STOPPED,
        reason="stopped by the run's time budget: no time left to evaluate",
        phase=phase,
        fingerprint=fingerprint,
    )


KILLED_WHY = {
    KilledBy.OUTPUT: f"it printed more than {Limits().output_bytes >> 20} MiB on stdout or stderr "
    "(print less, or write into files)",
    KilledBy.MEMORY: "it used more memory than the task's `memory` limit",
    KilledBy.DISK: "it filled its disk quota",
    KilledBy.SIGNAL: "a signal ended it",
}
"""Why the sandbox ended a stage, in words: "killed (output)" left a user to guess which limit."""


def killed_reason(stage: str, killed_by: KilledBy, during: str = "") -> str:
    return f"the {stage} was killed{during}: {KILLED_WHY.get(killed_by, killed_by.value)}"


def failed_run(execution: Execution, budget: Budgeted, stage: str) -> Verdict | None:
    """The verdict for a stage that did not end well, or None when it exited 0."""
    feedback = execution.tail(FEEDBACK_CHARS)
    if execution.killed_by is KilledBy.TIMEOUT:
        if budget.clamped:
            reason = f"stopped by the run's time budget after {budget.seconds:.1f}s ({stage})"
            return Verdict(status=Status.STOPPED, reason=reason, feedback=feedback)
        reason = f"the {stage} ran past its {budget.seconds:g}s time limit and was killed"
        return Verdict(status=Status.TIMEOUT, reason=reason, feedback=feedback)
    if execution.killed_by is not None:
        return Verdict(
            status=Status.BUGGY, reason=killed_reason(stage, execution.killed_by), feedback=feedback
        )
    if execution.exit_code != 0:
        last = first_line(execution.stderr) or first_line(execution.stdout)
        reason = f"the {stage} exited with status {execution.exit_code}" + (f": {last}" if last else "")
        if execution.exit_code == NOT_FOUND and execution.backend not in ("", "local"):
            reason += f" ({NOT_FOUND_HINT})"
        return Verdict(status=Status.BUGGY, reason=reason, feedback=feedback)
    return None


NOT_FOUND = 127  # the shell's "command not found"
NOT_FOUND_HINT = (
    "127 is a shell's 'not found': a sandbox holds /usr, strop's own Python and the task's files, not "
    "your project's venv or a tool installed elsewhere: name their folders in [evaluator] mounts"
)


def clear_metrics_file(spec: EvaluatorSpec, folder: Path) -> None:
    """Remove `metrics_file` from the copy at `folder` before the stage that writes it runs.

    Only a file this stage wrote may count: one already there (the author's run of the scorer
    by hand, a committed file) was read as the score of a candidate whose outputs made the
    scorer exit 0 without writing, so garbage outputs scored what the old file said. Nothing
    is removed through a linked folder: that would reach outside the copy.
    """
    if not spec.metrics_file:
        return
    path = folder
    for part in Path(spec.metrics_file).parts[:-1]:
        path = path / part
        if path.is_symlink() or not path.is_dir():
            return
    leaf = path / Path(spec.metrics_file).name
    if leaf.is_symlink() or leaf.is_file():  # a folder of that name stays: the stage cannot write there
        leaf.unlink()


def read_metrics(spec: EvaluatorSpec, execution: Execution, folder: Path) -> ParsedMetrics:
    """The metrics the trusted side printed (or wrote to `metrics_file` under `folder`)."""
    if spec.metrics_file:
        from sandbox.artifacts import ArtifactError, read_artifact

        try:
            data = read_artifact(folder, spec.metrics_file, METRICS_FILE_MAX)
        except ArtifactError as error:
            raise MetricsError(f"metrics file {spec.metrics_file!r}: {error}") from None
        raw = parse_json_object(decoded(data), f"metrics file {spec.metrics_file!r}")
    else:
        raw = last_json_object(execution.stdout, spec.metric)
    return validate_metrics(raw, spec.metric)


METRICS_FILE_LOGGED = "# metrics read from metrics_file: "
"""How an evaluation log keeps the metrics strop read from `metrics_file` (one JSON line after
this, below the stage's output): a log keeps the stdout it read metrics from, and without this
line `strop audit` could not check a score that came from a file against anything."""


def judged(spec: EvaluatorSpec, execution: Execution, folder: Path) -> tuple[Verdict, str]:
    """The verdict of a stage that ended well, by the metrics it gave, and what its log adds.

    An `ok` verdict's reason says which other metrics were left out (not finite numbers: a
    `null`, a `NaN`), since they are gone from the record; the log's addition is the metrics
    read from `metrics_file` (`METRICS_FILE_LOGGED`), empty for stdout, which the log holds.
    """
    try:
        parsed = read_metrics(spec, execution, folder)
    except MetricsError as error:
        return Verdict(status=Status.BUGGY, reason=str(error)), ""
    logged = f"{METRICS_FILE_LOGGED}{json.dumps(parsed.metrics)}\n" if spec.metrics_file else ""
    return Verdict(status=Status.OK, metrics=parsed.metrics, reason=parsed.note), logged


def log_text(stage: str, command: str, execution: Execution) -> str:
    """A stage's log: its command, how it ended, what the sandbox said of itself, its output.

    The sandbox's notes (`# note: memory: a cgroup …`, `syscalls: …`, a disk watch's) are the
    record of which limits held for this very command: the README sends users to them.
    """
    notes = "".join(f"# note: {' '.join(note.split())}\n" for note in execution.notes)
    return (
        f"$ {command}   # stage {stage}\n# backend={execution.backend} exit={execution.exit_code} "
        f"killed_by={execution.killed_by} wall={execution.wall_time:.3f}s\n{notes}"
        f"--- stdout ---\n{execution.stdout}\n--- stderr ---\n{execution.stderr}\n"
    )


FINAL_LOG = re.compile(r"(\d+)-final(?:-(\d+))?\.log")
"""The name of experiment N's hidden-test log: `N-final.log`, then `N-final-2.log`, … (`write_log`)."""


FINAL_STARTED = "# strop: a reading of the hidden test started"
"""How a hidden-test log starts while its reading is under way (`start_final_log`): a log that
still says only this was never finished (its process was killed while the hidden answers were out)."""


def start_final_log(log_dir: Path, name: str) -> Path:
    """Claim the next hidden-test log of experiment `name` (`N-final.log`, then `N-final-2.log`, …)
    before the hidden answers are exposed: it says the reading started, on disk (fsync'd, its folder
    too) before this returns, so a reading whose process is then killed (SIGKILL, a power cut) is
    still counted by `strop audit`. `write_log(..., started=path)` replaces it with the whole log."""
    log_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    header = f"{FINAL_STARTED} at {stamp}; a log that says only this was never finished\n"
    path = _write_new(log_dir, name, "final", header.encode(), sync=True)
    _sync_folder(log_dir)
    return path


def unfinished_final(path: Path) -> bool:
    """Whether the hidden-test log at `path` is one `start_final_log` claimed and nothing finished:
    it still holds only the header. (An empty one, killed between its making and its header, is
    not told from a log emptied by hand: the audit calls it a reading with no score.)"""
    try:
        with path.open("rb") as file:
            head = file.read(len(FINAL_STARTED))
    except OSError:
        return False
    return head == FINAL_STARTED.encode()


def write_log(
    log_dir: Path, name: str, phase: str, text: str, started: Path | None = None
) -> tuple[Path, str]:
    """Write an evaluation's log; its path and sha256, which the experiment's record keeps.

    An evaluation log replaces an earlier one of the same name (an experiment evaluated again
    after a crash has one verdict). A hidden-test (`final`) log never does: each reading of the
    hidden answers keeps its own (`N-final.log`, then `N-final-2.log`, …), so a final phase cut
    short before its score was recorded, then run again by a resume, leaves both for the audit.
    `started`: the log `start_final_log` claimed for this reading, replaced whole (atomically).
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    data = text.encode()
    if started is not None:
        path = started
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with partial.open("wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
        _sync_folder(log_dir)
    elif phase == "final":
        path = _write_new(log_dir, name, phase, data)
    else:
        path = log_dir / f"{name}-{phase}.log"
        path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def _write_new(log_dir: Path, name: str, phase: str, data: bytes, sync: bool = False) -> Path:
    """`data` in the first of `NAME-PHASE.log`, `NAME-PHASE-2.log`, … that does not exist yet."""
    number = 1
    while True:
        path = log_dir / (f"{name}-{phase}.log" if number == 1 else f"{name}-{phase}-{number}.log")
        try:
            with path.open("xb") as file:
                file.write(data)
                if sync:
                    file.flush()
                    os.fsync(file.fileno())
        except FileExistsError:
            number += 1
            continue
        return path


def _sync_folder(folder: Path) -> None:
    """fsync a folder, so that a file made or renamed in it survives a crash (best effort)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def tampered(protected: ProtectedFiles, checkout: Path, phase: str, fingerprint: str) -> Verdict | None:
    changed = protected.changes_in(checkout)
    if not changed:
        return None
    shown = ", ".join(changed[:5]) + (" …" if len(changed) > 5 else "")
    return Verdict(
        status=Status.TAMPERED,
        reason=f"the candidate changed protected evaluator file(s): {shown}",
        feedback="Protected evaluator files must not be changed; the candidate was not evaluated.",
        phase=phase,
        fingerprint=fingerprint,
    )


def finish_verdict(verdict: Verdict, execution: Execution, started: float) -> Verdict:
    verdict.exit_code = execution.exit_code
    verdict.wall_time = round(time.monotonic() - started, 4)
    verdict.cpu_time = round(verdict.cpu_time + execution.cpu_time, 4)
    verdict.peak_memory = max(verdict.peak_memory or 0, execution.peak_memory or 0) or None
    verdict.killed_by = execution.killed_by.value if execution.killed_by else verdict.killed_by
    verdict.backend = execution.backend
    return verdict


class CommandEvaluator:
    """Judges candidates with one command; never steers, never reads retrieved text."""

    two_stage = False

    def __init__(
        self, spec: EvaluatorSpec, protected: ProtectedFiles, sandbox: Sandbox, log_dir: Path, work_dir: Path
    ) -> None:
        self.spec = spec
        self.protected = protected
        self.sandbox = sandbox
        self.log_dir = log_dir
        self.scratch_dir = work_dir / SCRATCH
        reap(self.scratch_dir)

    @property
    def fingerprint(self) -> str:
        return self.protected.fingerprint

    def limits(self, timeout: float | None = None) -> Limits:
        return Limits(
            timeout=self.spec.timeout if timeout is None else timeout,
            memory=self.spec.memory,
            cpu_time=self.spec.cpu_time,
        )

    def evaluate(
        self, checkout: Path, name: str, phase: str = "validate", deadline: float | None = None
    ) -> Verdict:
        """Evaluate the candidate whose files are at `checkout`; `name` labels its log file."""
        fingerprint = self.fingerprint
        refused = tampered(self.protected, checkout, phase, fingerprint)
        if refused is not None:
            return refused
        command = self.spec.final if phase == "final" else self.spec.command
        if not command:
            raise ValueError("this task has no final command")
        budget = Budgeted.of(self.spec.timeout, deadline)
        if budget.too_short:
            return not_started(phase, fingerprint)
        started = time.monotonic()
        # a reading of the hidden test is on disk before the final command runs (see `start_final_log`)
        claimed = start_final_log(self.log_dir, name) if phase == "final" else None
        with scratch(self.scratch_dir) as place:
            export_tree(checkout, place.work)
            clear_metrics_file(self.spec, place.work)
            try:
                execution = self.sandbox.run(
                    command_argv(command),
                    place.work,
                    self.limits(budget.seconds),
                    env={**self.spec.env, "STROP_PHASE": phase},
                    readonly_paths=self.protected.paths_in(place.work),
                    binds=self.spec.mount_binds(),
                )
            except SandboxError as error:
                if claimed is not None:  # the command never ran: its log says so, not "never finished"
                    write_log(self.log_dir, name, phase, f"$ {command}\n# sandbox failed: {error}\n", claimed)
                return Verdict(
                    status=Status.BUGGY,
                    reason=f"sandbox failed: {error}",
                    phase=phase,
                    fingerprint=fingerprint,
                )
            verdict, logged = failed_run(execution, budget, "evaluator"), ""
            if verdict is None:
                verdict, logged = judged(self.spec, execution, place.work)
                verdict.feedback = execution.tail(FEEDBACK_CHARS)
        text = log_text("evaluator", command, execution) + logged
        log_path, log_digest = write_log(self.log_dir, name, phase, text, claimed)
        verdict.phase = phase
        verdict.fingerprint = fingerprint
        verdict.log_path = str(log_path)
        verdict.log_digest = log_digest
        verdict.reason = without_host_paths(verdict.reason, self.scratch_dir)
        verdict.feedback = without_host_paths(verdict.feedback, self.scratch_dir)
        return finish_verdict(verdict, execution, started)
