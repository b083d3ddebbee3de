"""One night: pick the jobs that are due, run each in its own process inside the window, record them.

    run_night(jobs, home, now, window, parallel, only) -> list[NightRecord]

A job is due when its cron schedule fired since its last night, at most the window ago
(`late_limit`: a fire missed by more waits for the next); a job whose last
night is still `running` (its night was killed) is resumed, not restarted. Each job
runs in a child process (`strop nightly job …`, or `strop evolve … --json`), so a
job that crashes or hangs costs only itself: the others go on, and the window's end
stops whatever is left. The caller holds the nightly lock; this module writes the
history.

The window is a limit (issue 18): it counts from the nightly's own start, each job is
given the time left less `CLOSE_SECONDS` and the stop grace (its own `--time`, which counts
from its own process start), and a job still running then is stopped: SIGTERM, and SIGKILL
only if it has not ended `[nightly] stop_grace` seconds later (`jobs.STOP_GRACE` by default,
at most a tenth of the window), so that the SIGKILL too falls inside the window. It is
recorded `stopped`, and its night is over: the next night starts afresh, from the stopped
run's best with `warm_start` (a killed or interrupted night is resumed instead: its record
is still `running`). Its night keeps its run and what that run found until then: every job
says `RUN <id>` as soon as its run exists (`agent.nightly.announce`), not only at its end, and
its stderr reaches the nightly's as it comes, with a heartbeat when it is silent
(`agent.nightly.progress`); its closing line says its time against the time it was given.
A job dies with the nightly, however the nightly dies (`_dying_with_nightly`); a Ctrl-C
stops the night as a SIGTERM does, its nights kept to be resumed (`agent.nightly.interrupt`).

A job the window leaves no time to start (`MIN_SECONDS`) is not recorded: it stays due for
a later nightly of the same night. A window that cannot fit any job is refused up front
(`WindowTooShort`), naming the least window that does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from agent.errors import UserError
from agent.nightly.announce import ANNOUNCE_VAR, announced_run
from agent.nightly.history import History, NightRecord
from agent.nightly.interrupt import INTERRUPTED_CODES, Interruption, NightInterrupted, deaf_to_ctrl_c
from agent.nightly.jobs import AVAILABLE, STOP_GRACE, Jobs, JobSpec, last_fire
from agent.nightly.progress import JobProgress, ran_of_given, relayed
from agent.nightly.warm import warm_start
from agent.records import now_iso

CLOSE_SECONDS = 3.0  # kept after a job: its exit, the history, the summary line, the nightly's exit
MIN_SECONDS = 20.0  # a job is not started with less time than this left in the window
CHECKPOINTED = ("numerics", "quant")  # evolve kinds whose population is carried from night to night
RUNS = ("run", "mle")  # kinds that are strop runs: warm from last night's best commit, resumable


@dataclass(frozen=True)
class Due:
    """A job to run tonight: its night (the schedule's fire time), and the run to resume, if any."""

    name: str
    night: str
    resume: NightRecord | None = None
    superseded: NightRecord | None = None  # a killed night of a job that changed since: closed, not resumed


LATE_FLOOR = 1800.0  # a fire may always start this late: cron calls the nightly every 15 minutes


def late_limit(jobs: Jobs) -> float:
    """How late (seconds) a night may start after its schedule fired: the nightly window, at least
    `LATE_FLOOR`. Past it the fire is missed and the job waits for the next: a `0 2 * * *` job
    added at 14:00, or a machine booted at 09:00, started at once, mid-day."""
    return max(jobs.spec.nightly.window, LATE_FLOOR)


def due_jobs(jobs: Jobs, history: History, now: datetime, only: list[str] | None = None) -> list[Due]:
    """The jobs due at `now` (naive UTC): a schedule fired since their last night, at most
    `late_limit` ago (a job never run included), or a killed night (resumed however late)."""
    due = []
    for name, spec in jobs.spec.jobs.items():
        if only and name not in only:
            continue
        fire = last_fire(spec.schedule, now)
        night = fire.isoformat(timespec="minutes")
        in_time = (now - fire).total_seconds() <= late_limit(jobs)
        last = history.last(name)
        if last is not None and last.status == "running" and _changed(jobs, name, last):
            due.append(Due(name, night, superseded=last))  # tonight runs what the file says now
        elif last is not None and last.status == "running":  # its night was killed
            resumable = spec.kind in RUNS and last.run is not None
            due.append(Due(name, last.night, resume=last if resumable else None))
        elif only or ((last is None or last.night < night) and in_time):
            due.append(Due(name, night))
    return due


def _changed(jobs: Jobs, name: str, night: NightRecord) -> bool:
    """Whether the job now runs something else than its killed night did (another task,
    competition or arguments): resuming would continue the old one under the new name."""
    return bool(night.identity) and not same_identity(jobs, name, night.identity)


@dataclass(frozen=True)
class Tonight:
    """What one nightly did: the jobs it ran, as recorded, and the due jobs the window left no
    time to start (not recorded: still due)."""

    records: list[NightRecord]
    waiting: list[str]


class WindowTooShort(UserError):
    """The window cannot fit a single job: said before anything starts, with the least that fits."""


def run_night(
    jobs: Jobs,
    home: Path,
    now: datetime,
    window: float,
    parallel: int = 1,
    only: list[str] | None = None,
    say: Callable[[str], None] = lambda _: None,
    started: float | None = None,
) -> Tonight:
    """Run every due job (at most `parallel` at once) until the window closes; what they did.

    The window counts from `started` (epoch seconds; the CLI passes its process's start), or now.
    A Ctrl-C stops the jobs, records them, then raises `NightInterrupted`.
    """
    history = History(home)
    if history.recovered:
        say(history.recovered)
    due = due_jobs(jobs, history, now, only)
    if not due:
        say("nothing is due")
        return Tonight([], [])
    begun = started if started is not None else time.time()
    grace = stop_grace(jobs.spec.nightly.stop_grace, window)
    deadline = begun + window - CLOSE_SECONDS - grace
    if deadline - time.time() < MIN_SECONDS:
        raise WindowTooShort(too_short(window, jobs.spec.nightly.stop_grace, time.time() - begun))
    guard = threading.Lock()
    stop = Interruption()

    def one(item: Due) -> NightRecord | None:
        return _run_job(jobs, item, history, guard, home, _Window(deadline, grace, stop), say)

    pool = ThreadPoolExecutor(max_workers=parallel)
    futures: list[Future[NightRecord | None]] = []
    try:
        futures += [pool.submit(one, item) for item in due]
        outcomes = [future.result() for future in futures]
    except KeyboardInterrupt:
        with deaf_to_ctrl_c():
            stop.stop(grace)
            pool.shutdown(wait=True, cancel_futures=True)
        ran = [_outcome(future) for future in futures]
        records = [record for record in ran if record is not None]
        waiting = [item.name for item, record in zip(due, ran, strict=False) if record is None]
        raise NightInterrupted(records, waiting + [item.name for item in due[len(futures) :]]) from None
    finally:
        pool.shutdown(wait=True)
    waiting = [item.name for item, record in zip(due, outcomes, strict=True) if record is None]
    return Tonight([record for record in outcomes if record is not None], waiting)


def _outcome(future: Future[NightRecord | None]) -> NightRecord | None:
    """A worker's record after a Ctrl-C: None when it never started (cancelled) or broke."""
    if future.cancelled():
        return None
    try:
        return future.result()
    except Exception:
        return None


def too_short(window: float, grace: float, spent: float) -> str:
    """Why a window fits no job, in one line, and the least window that does (rounded up to 5 s).

    A job needs `MIN_SECONDS`; `CLOSE_SECONDS`, the stop grace (at most a tenth of the window)
    and the start-up already `spent` come out of the window first.
    """
    need = MIN_SECONDS + CLOSE_SECONDS + spent
    least = need / (1 - GRACE_SHARE) if need * GRACE_SHARE / (1 - GRACE_SHARE) <= grace else need + grace
    suggest = 5 * math.ceil(least / 5)
    return (
        f"a window of {window:g}s cannot fit a job: {CLOSE_SECONDS:g}s to close, the stop grace "
        f"({stop_grace(grace, window):g}s) and the start-up ({spent:.1f}s) leave less than the "
        f"{MIN_SECONDS:g}s a job needs; give --window {suggest}s or more"
    )


GRACE_SHARE = 0.1  # of the window, at most, kept for the stop grace


def stop_grace(configured: float, window: float) -> float:
    """The grace a night gives its jobs: `[nightly] stop_grace`, but at most a tenth of the window.

    The grace comes out of the window, so a short window (a 30 s trial night) paying the full
    10 s would leave its job less than `MIN_SECONDS`, and no job would start at all.
    """
    return min(configured, window * GRACE_SHARE)


@dataclass(frozen=True)
class _Window:
    """When the jobs still running are sent SIGTERM (epoch seconds), how long they then have,
    and whether a Ctrl-C stopped the night first."""

    stop_at: float
    grace: float = STOP_GRACE
    interruption: Interruption = field(default_factory=Interruption)


def _run_job(
    jobs: Jobs,
    item: Due,
    history: History,
    guard: threading.Lock,
    home: Path,
    window: _Window,
    say: Callable[[str], None],
) -> NightRecord | None:
    """The job's night as recorded; None when it did not start (a Ctrl-C, or the window's end
    too near): then nothing is recorded, and the job stays due."""
    spec = jobs.spec.jobs[item.name]
    deadline = window.stop_at
    if window.interruption.happened:
        return None
    if spec.kind in AVAILABLE and deadline - time.time() < MIN_SECONDS:
        say(f"{item.name}: not started: the window closes too soon; it stays due for a later nightly")
        return None
    if item.superseded is not None:
        kept = f"; its run {item.superseded.run} is kept" if item.superseded.run else ""
        why = f"not resumed: the job changed since this night was killed (task, competition or args){kept}"
        _close(history, guard, item.superseded, "stopped", why)
        say(f"{item.name}: {why}")
    record = item.resume or NightRecord(job=item.name, night=item.night, kind=spec.kind, started=now_iso())
    record.resumed = item.resume is not None
    with guard:
        previous = _previous_good(history, record, home)
    same = True
    if not record.resumed:
        record.identity = job_identity(jobs, item.name)
        same = previous is not None and same_identity(jobs, item.name, previous.identity, record.identity)
    if previous is not None and not record.resumed:
        record.previous_night = previous.night
        if same:  # another task's (or scorer's, or data's) score means something else
            record.previous_metric = previous.best_metric
            record.previous_of = f"{previous.metric} {previous.direction}" if previous.metric else ""
        else:
            record.task_changed = True
    left = min(spec.budget.time or float("inf"), deadline - time.time())
    if spec.kind not in AVAILABLE:
        return _close(history, guard, record, "failed", f"{spec.kind} jobs are not available in this strop")
    if spec.budget.time and spec.budget.time > left + 1:
        say(f"{item.name}: budget.time {spec.budget.time:.0f}s is more than the window leaves: {left:.0f}s")
    base = None
    if not record.resumed:
        folder = (
            mle_folder(home, item.name, spec, record.night, record.identity) if spec.kind == "mle" else None
        )
        start = warm_start(jobs, item.name, previous if spec.kind in RUNS else None, same, home, folder)
        base, record.base, record.head, record.start_note = start.base, start.base, start.head, start.note
        if start.note:
            say(f"{item.name}: {start.note}")
    with guard:
        history.put(record)
    say(
        f"{item.name}: {'resuming run ' + str(record.run) if record.resumed else 'starting'} ({spec.kind}, {left:.0f}s)"
    )
    command = _command(jobs, item.name, spec, left, base, record.run if record.resumed else None)
    if spec.kind in CHECKPOINTED:
        command += ["--checkpoint", str(population_checkpoint(home, item.name, spec, record.night))]
    if spec.kind == "mle":
        command += ["--folder", str(mle_folder(home, item.name, spec, record.night, record.identity))]

    def announce(run_id: str) -> None:
        record.run = run_id
        with guard:
            history.put(record)

    progress = JobProgress(item.name, left, say, lambda: so_far(record, home))
    began = time.monotonic()
    try:
        result = _watch(command, window, announce, home, progress)
    except _Overran:
        _fill_stopped(record, home)
        closed = _close(
            history, guard, _timed(record, began, left), "stopped", "stopped at the end of the window"
        )
        say(closing_line(closed))
        return closed
    except _Interrupted:  # its night stays `running`: the next nightly resumes its run
        _fill_stopped(record, home)
        with guard:
            history.put(_timed(record, began, left))
        return record
    except _Failed as failure:
        closed = _close(history, guard, _timed(record, began, left), "failed", failure.reason)
        say(closing_line(closed))
        return closed
    _fill(record, result, home)
    closed = _close(history, guard, _timed(record, began, left), *job_ending(result, record))
    say(closing_line(closed))
    return closed


def _timed(record: NightRecord, began: float, given: float) -> NightRecord:
    """`record` with how long its job ran (since `began`, monotonic) and the time it was given."""
    record.seconds, record.given = round(time.monotonic() - began, 1), round(given, 1)
    return record


def closing_line(night: NightRecord) -> str:
    """How a job ended, on the nightly's stderr: its time against the time it was given, then
    its best or why it failed (`live: done in 25.1s of 9m47s, best score = 1.5`)."""
    ran = ran_of_given(night)
    took = (" in " if night.status == "done" else " after ") + ran if ran else ""
    best = f"best {night.metric} = {night.best_metric:.6g}" if night.best_metric is not None else "no best"
    said = f"{night.job}: {night.status}{took}, {best}"
    return f"{said}: {night.error}" if night.error else said


def so_far(night: NightRecord, home: Path) -> str:
    """What a running job's run has found until now, for its heartbeat ("" before it has a run):
    `run 3f2a1c · 5 experiments · best loss = 0.0057`."""
    if not night.run:
        return ""
    found = dataclasses.replace(night)
    _fill_stopped(found, home)
    best = f" · best {found.metric} = {found.best_metric:.6g}" if found.best_metric is not None else ""
    return f"run {found.run} · {found.experiments} experiments{best}"


def job_ending(result: dict[str, Any], night: NightRecord | None = None) -> tuple[str, str]:
    """A finished job's night status and error line, from its result (and its `night`, filled).

    An mle job that produced no valid submission failed, as `strop mle run` says with exit 1;
    it was recorded `done` (best —) and the night exited 0. Likewise a run job none of whose
    experiments scored (a broken evaluator): `strop run` exits 1 for it, the night did not.
    """
    if result.get("status", "done") not in ("done", "stopped"):
        return "failed", str(result.get("stop_reason"))
    if result.get("grader_error"):  # the competition's grade.py failed on the hidden test
        return "failed", f"grader error: {result['grader_error']}"
    if result.get("valid_submission") is False:
        return "failed", f"no valid submission: {result.get('message') or 'nothing was graded'}"
    if night is not None and night.kind == "run" and night.run and night.best_metric is None:
        ran = f"none of its {night.experiments} experiments" if night.experiments else "none ran"
        why = f" ({result['stop_reason']})" if not night.experiments and result.get("stop_reason") else ""
        return "failed", f"no experiment scored: {ran}{why}; see `strop show {night.run}/0`"
    return "done", ""


def _previous_good(history: History, night: NightRecord, home: Path | None = None) -> NightRecord | None:
    """The job's latest night, other than `night` itself, that found something: the warm start's
    source and what tonight is compared with (a night resumed is not its own previous night).

    A night whose run was removed (`strop rm`: the run index no longer has it) is skipped: the
    user threw it away, its best commit goes with the next `git gc`, and its score is no standard."""
    key = (night.night, night.started)
    good = [r for r in history.nights(night.job) if r.commit and r.best_metric is not None]
    good = [r for r in good if (r.night, r.started) != key]
    if home is not None and good:
        gone = removed_runs(home, [r.run for r in good if r.run])
        good = [r for r in good if r.run not in gone]
    return good[-1] if good else None


def removed_runs(home: Path, runs: list[str]) -> set[str]:
    """Those of `runs` the run index no longer has (`strop rm`); none when the index cannot be read
    (a night's run is not taken for removed on a read error)."""
    if not runs:
        return set()
    from agent.run_index import RunIndex

    try:
        index = RunIndex(home)
        try:
            known = index.run_ids()
        finally:
            index.close()
    except Exception:
        return set()
    return {run for run in runs if run not in known}


def population_checkpoint(home: Path, name: str, spec: JobSpec, night: str) -> Path:
    """Where an evolve job keeps its population between nights (and across a killed night).

    With `warm_start`, one file per job and arguments: tonight continues last night's
    search. Without, one per night: a killed night still continues, the next starts afresh.
    Other arguments make another search, hence another file.
    """
    digest = hashlib.sha256(json.dumps([spec.kind, spec.args]).encode()).hexdigest()[:12]
    stem = f"{name}-{digest}" if spec.warm_start else f"{name}-{digest}-{night.replace(':', '')}"
    return home / "nightly" / "populations" / f"{stem}.ckpt"


def job_identity(jobs: Jobs, name: str) -> str:
    """What a job runs: its kind, its task or competition, its arguments, and for a competition
    its files' names, sizes and times. Last night's best is a warm start only for the same
    identity: a job pointed at another task or competition, or a competition whose data or metric
    changed, starts afresh (its commit lives in another repo, or its scores mean something else).
    """
    spec = jobs.spec.jobs[name]
    where: list[object] = []
    if spec.kind == "run":
        where = [str(jobs.task_path(name)), *_task_stamps(jobs.task_path(name))]
    elif spec.kind == "mle":
        folder = jobs.competition_path(name)
        where = [str(folder), *_file_stamps(folder)]
    return hashlib.sha256(json.dumps([spec.kind, spec.args, *where]).encode()).hexdigest()[:12]


def same_identity(jobs: Jobs, name: str, identity: str, now: str | None = None) -> bool:
    """Whether a night's `identity` is the job's as it is now (`now`, when computed already).

    "" is a night from before identities; a run job's night from before its task's text and data
    were part of it (`_legacy_identity`: its task path only) still counts as the same job, once:
    else every run job's first night after the upgrade started cold and compared with nothing."""
    if identity == "":
        return True
    if identity == (now or job_identity(jobs, name)):
        return True
    return jobs.spec.jobs[name].kind == "run" and identity == _legacy_identity(jobs, name)


def _legacy_identity(jobs: Jobs, name: str) -> str:
    """A run job's identity as written before it held its task's text and its scorer's and data's stamps."""
    spec = jobs.spec.jobs[name]
    return hashlib.sha256(json.dumps([spec.kind, spec.args, str(jobs.task_path(name))]).encode()).hexdigest()[
        :12
    ]


def _task_stamps(path: Path) -> list[object]:
    """A run job's task as its scores depend on it: the task file's text (its hash), and the stamps
    of the scorer's and the data's folders (a new scorer or new labels make another metric)."""
    file = path / "task.toml" if path.is_dir() else path  # a job's `task` names the file or its folder
    try:
        text = file.read_bytes()
    except OSError:
        return []
    stamps: list[object] = [hashlib.sha256(text).hexdigest()]
    try:
        from agent.task import load_task

        trusted = load_task(path).trusted_sources()
    except Exception:  # a task that does not load fails in its job, saying why
        return stamps
    if trusted is not None:
        for key in ("scorer", "private", "final_private", "public", "final_public"):
            folder = getattr(trusted, key)
            if folder is not None:
                stamps.append([key, *_file_stamps(folder, _NOT_STAMPED)])
    return stamps


_NOT_STAMPED = ("__pycache__",)  # Python's own byte code, written beside a scorer as it runs


def _file_stamps(folder: Path, skip: tuple[str, ...] = ()) -> list[list[object]]:
    """(path, size, mtime) of every file under `folder` (but in folders named in `skip`): cheap,
    and any edit changes it."""
    stamps: list[list[object]] = []
    for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
        with contextlib.suppress(OSError):
            if path.is_file() and not set(path.relative_to(folder).parts) & set(skip):
                info = path.stat()
                stamps.append([path.relative_to(folder).as_posix(), info.st_size, info.st_mtime_ns])
    return stamps


def mle_folder(home: Path, name: str, spec: JobSpec, night: str, identity: str = "") -> Path:
    """An mle job's working folder: kept across nights with warm start (tonight starts from
    last night's best commit in it), one per night without; another competition, other args or
    a changed competition (`identity`) make another folder."""
    parts = [spec.competition, spec.args, identity] if identity else [spec.competition, spec.args]
    digest = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:12]
    stem = f"{name}-{digest}" if spec.warm_start else f"{name}-{digest}-{night.replace(':', '')}"
    return home / "nightly" / "mle" / stem


def _close(
    history: History, guard: threading.Lock, record: NightRecord, status: str, error: str
) -> NightRecord:
    record.status = status
    record.finished = now_iso()
    if status in ("failed", "stopped"):
        record.error = error
    with guard:
        history.put(record)
    return record


def _command(
    jobs: Jobs, name: str, spec: JobSpec, seconds: float, base: str | None, resume: str | None
) -> list[str]:
    strop = [sys.executable, "-m", "agent.cli"]
    if spec.kind in RUNS:
        command = [*strop, "nightly", "job", name, "--jobs", str(jobs.path), "--seconds", f"{int(seconds)}"]
        command += ["--base", base] if base else []
        command += ["--resume", resume] if resume else []
        return command
    executor = jobs.executor(name)
    where = ["--executor", "ray", "--address", executor.ray_address] if executor.kind == "ray" else []
    return [*strop, "evolve", spec.kind, *spec.args, *where, "--time", f"{max(1, int(seconds))}s", "--json"]


class _Overran(Exception):
    pass


class _Interrupted(Exception):
    """The job stopped for a Ctrl-C (the nightly's, or its own): a stop to resume, not a failure."""


class _Failed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _watch(
    command: list[str],
    window: _Window,
    announce: Callable[[str], None],
    home: Path,
    progress: JobProgress | None = None,
) -> dict[str, Any]:
    """Run a job's process; pass on its run id as soon as it says it, and its stderr as `progress`
    (`agent.nightly.progress`: its lines and a heartbeat); its last JSON line is the result."""
    progress = progress or JobProgress("job", 0.0, lambda _: None)
    env = {**os.environ, "STROP_HOME": str(home), ANNOUNCE_VAR: "1"}  # evolve says `RUN <id>` too
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=False,
        preexec_fn=_dying_with_nightly(os.getpid()),
    )
    reader = threading.Thread(target=_read_lines, args=(process.stderr, progress.heard), daemon=True)
    reader.start()
    kill_at = window.stop_at
    wait = min(max(0.0, kill_at - time.time()), threading.TIMEOUT_MAX)  # past it, Timer raises OverflowError
    timer = threading.Timer(wait, lambda: _stop(process, window.grace))
    timer.start()
    result: dict[str, Any] = {}
    try:
        with relayed(progress), window.interruption.watching(process):
            for line in process.stdout or []:
                if (run_id := announced_run(line)) is not None:
                    announce(run_id)
                elif line.startswith("{"):
                    try:
                        result = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(result.get("run"), str):
                        announce(result["run"])
            code = process.wait()
            reader.join(timeout=5)  # its last lines, passed on before the job's closing line
    finally:
        timer.cancel()
        reader.join(timeout=5)
    if code != 0 and (window.interruption.happened or code in INTERRUPTED_CODES):
        raise _Interrupted()
    if code in (-signal.SIGTERM, -signal.SIGKILL) and time.time() >= kill_at:
        raise _Overran()
    if code != 0:
        raise _Failed(_why_failed(progress.lines, code))
    return result


def _read_lines(stream: Any, heard: Callable[[str], None]) -> None:
    """Hand each line of a job's stderr to `heard` as it comes (a thread's loop)."""
    for line in stream or []:
        heard(line)


_ERROR_PREFIXES = ("error: ", "internal error: ", "strop: ")
_BOX = "│╭╮╰╯─┃━┏┓┗┛ "  # the frame of typer's (rich's) usage-error box


def _why_failed(errors: list[str], code: int) -> str:
    """The job's own error line (the last that strop's error prefixes begin), else the text of
    a usage-error box, else its last line.

    The last line alone was often a warning printed before the real error went by (a run job
    "failed: warning: this task's evaluator runs in one stage…"), or the bottom border of typer's
    box around "Missing option '--interval'." (an evolve job's wrong `args`)."""
    lines = [line.strip() for line in errors if line.strip()]
    said = next((line for line in reversed(lines) if line.startswith(_ERROR_PREFIXES)), None)
    chosen = said or boxed_error(lines) or (lines[-1] if lines else f"exit status {code}")
    return chosen.removeprefix("error: ")[:300]


def boxed_error(lines: list[str]) -> str:
    """The message inside the last box typer draws around a usage error ("" when there is none),
    its lines joined: `╭─ Error ─╮ │ Missing option '--interval'. │ ╰───╯` -> "Missing option '--interval'."."""
    bottom = next((i for i in range(len(lines) - 1, -1, -1) if lines[i].startswith("╰")), None)
    if bottom is None:
        return ""
    top = next((i for i in range(bottom - 1, -1, -1) if lines[i].startswith("╭")), None)
    if top is None:
        return ""
    return " ".join(text for line in lines[top + 1 : bottom] if (text := line.strip(_BOX)))


def _dying_with_nightly(nightly: int) -> Callable[[], None]:
    """A `preexec_fn`: the job gets SIGTERM when the nightly dies, even by SIGKILL (Linux only).

    Without it a killed night's jobs ran on unseen to their own `--time` (an evolve search
    for hours), and the next night's job would race them for the same run or checkpoint.
    SIGTERM, not SIGKILL, so that the job ends as at the window's end: its sandboxes stopped,
    its state written. Linux's `PR_SET_PDEATHSIG` (`sandbox.process.parent_death_switch`:
    safe in a forked child of this threaded process; a no-op elsewhere, where the nightly's
    process group is all that reaches the job) fires when the *thread* that started the job
    ends: here a worker of `run_night`'s pool, which lives until every job is done. A nightly
    that died before the switch was set is caught by comparing the parent's pid.
    """
    from sandbox.process import parent_death_switch

    switch = parent_death_switch(signal.SIGTERM)

    def arm() -> None:
        switch()
        if os.getppid() != nightly:  # it died between the fork and the switch
            os.kill(os.getpid(), signal.SIGTERM)

    return arm


def _stop(process: subprocess.Popen[str], grace: float) -> None:
    """SIGTERM the job; SIGKILL it if it has not ended `grace` seconds later."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()


def found_so_far(night: NightRecord, home: Path) -> NightRecord:
    """A copy of a night still `running` (under way, or killed with its nightly) with what its run
    has found until now: the history has it only when the job ends, so a killed night read
    "nothing scored, 0 experiments" beside a run with a best. Other nights are returned as they are."""
    if night.status != "running" or not night.run:
        return night
    copy = dataclasses.replace(night)
    _fill_stopped(copy, home)
    return copy


def _fill_stopped(record: NightRecord, home: Path) -> None:
    """What a job stopped at the window's end found until then (an evolve search's Pareto points so
    far, a run's experiments), when its run was announced and recorded; nothing otherwise."""
    from agent.errors import NotFoundError

    with contextlib.suppress(NotFoundError):
        _fill(record, {}, home)


def _fill(record: NightRecord, result: dict[str, Any], home: Path) -> None:
    """Copy what the job found into its night; for searches, keep the baselines for the report."""
    from agent.records import best_experiment, judged_value, run_cost
    from agent.run_index import RunIndex

    if record.run is None:
        return
    index = RunIndex(home)
    try:
        run = index.find_run(record.run)
        records = index.experiments(run.id)
    finally:
        index.close()
    best = best_experiment(records, run.metric, run.direction)
    record.metric, record.direction = run.metric, run.direction.value
    record.experiments = len(records)
    spent = run_cost(records, run)  # calls a crash cut count too (`RunRecord.unrecorded`)
    record.cost_usd = round(spent.usd, 6)
    record.tokens = spent.tokens
    record.note = "; ".join(part for part in (medal_line(result), failures(records)) if part)
    if best is not None:
        record.best, record.best_metric = best.id, judged_value(best, run.metric)
        record.branch, record.commit = best.branch, best.commit
    if "baselines" in result:
        folder = home / "runs" / run.id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "baselines.json").write_text(json.dumps(baselines_of(result["baselines"])))


def medal_line(result: dict[str, Any]) -> str:
    """An mle job's final grade in words: the hidden test's score and its place on the leaderboard."""
    if "any_medal" not in result:
        return ""
    if not result.get("valid_submission"):
        return f"no valid submission on the hidden test ({result.get('message', '')})"
    medal = next((m for m in ("gold", "silver", "bronze") if result.get(f"{m}_medal")), None)
    place = f"{medal} medal" if medal else ("above the median" if result.get("above_median") else "no medal")
    return f"hidden test {result.get('score'):.6g}: {place}"


def failures(records: list[Any]) -> str:
    """What failed and why, in one line: counts by status, and the most common reason of each."""
    from collections import Counter

    failed = [r for r in records if r.status.value not in ("ok", "pending")]
    if not failed:
        return ""
    parts = []
    for status, count in Counter(r.status.value for r in failed).most_common():
        reasons = Counter(
            r.reason.splitlines()[0][:80] for r in failed if r.status.value == status and r.reason
        )
        why = f" (most often: {reasons.most_common(1)[0][0]})" if reasons else ""
        parts.append(f"{count} {status}{why}")
    return f"{len(failed)} of {len(records)} experiments failed: " + "; ".join(parts)


def baselines_of(raw: Any) -> list[dict[str, Any]]:
    """Baselines as a search's JSON gives them (a list with names, or a dict by name) for the report."""
    items = raw.items() if isinstance(raw, dict) else ((b.get("name", "baseline"), b) for b in raw or [])
    found = []
    for name, values in items:
        if isinstance(values, dict):
            numbers = {
                k: v for k, v in values.items() if isinstance(v, int | float) and not isinstance(v, bool)
            }
            found.append({"name": str(name), "metrics": numbers})
    return found
