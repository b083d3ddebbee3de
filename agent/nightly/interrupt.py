"""A Ctrl-C of `strop nightly run`: a stop like SIGTERM, its jobs' nights kept to be resumed.

A terminal's Ctrl-C reaches the nightly and its jobs (one process group). Before, the job
exited 130 first and was recorded `failed` with its last stderr line ("nothing scored"),
so the next nightly found nothing due and the run stayed interrupted for good. Now the
nightly notes the interruption (`Interruption.stop`), stops each job still running (SIGTERM,
SIGKILL after the stop grace: a `kill -INT` of the nightly alone reaches no job), starts no
other, and leaves each stopped job's night `running`, as a killed nightly leaves it: the
next `strop nightly run` resumes it. One line (`interrupted_line`) says what was kept.
A SIGTERM or SIGHUP does the same (the CLI raises them as Ctrl-C is raised: `stop_signals`);
before, they killed the nightly silently, exit 143.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
import time
from collections.abc import Iterator

from agent.nightly.history import NightRecord

INTERRUPTED_CODES = (130, -signal.SIGINT)  # a job that exited after its own Ctrl-C


class Interruption:
    """Shared by a night's workers: whether the nightly was interrupted, and the jobs running now."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[str]] = set()

    @property
    def happened(self) -> bool:
        return self._event.is_set()

    @contextlib.contextmanager
    def watching(self, process: subprocess.Popen[str]) -> Iterator[None]:
        """While inside, `stop` reaches `process`; one started just after a stop is stopped at once."""
        with self._lock:
            self._running.add(process)
        if self.happened:
            process.terminate()
        try:
            yield
        finally:
            with self._lock:
                self._running.discard(process)

    def stop(self, grace: float) -> None:
        """Note the interruption; SIGTERM every job, SIGKILL those not ended `grace` seconds later."""
        self._event.set()
        with self._lock:
            running = list(self._running)
        for process in running:
            process.terminate()
        ends = time.monotonic() + grace
        for process in running:
            try:
                process.wait(timeout=max(0.0, ends - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def deaf_to_ctrl_c() -> Iterator[None]:
    """While the jobs stop, a second Ctrl-C (or SIGTERM, SIGHUP) is ignored: cut short, the stop
    would leave them unrecorded.

    Main thread only (`signal.signal` refuses others); the stop takes the stop grace at most.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            if handler is not None:  # None: set outside Python, cannot be put back from here
                signal.signal(signum, handler)


class NightInterrupted(KeyboardInterrupt):
    """Raised by `run_night` after a Ctrl-C, once its jobs have stopped and been recorded."""

    def __init__(self, records: list[NightRecord], waiting: list[str]) -> None:
        super().__init__("interrupted")
        self.records = records  # the jobs that had started, as recorded
        self.waiting = waiting  # the due jobs that had not: still due


def interrupted_line(records: list[NightRecord], waiting: list[str], jobs_file: str) -> str:
    """What the interrupted night kept, and that the next nightly continues it, in one line."""
    again = f"`strop nightly run --jobs {jobs_file}`"
    parts = [_kept(record, again) for record in records]
    if waiting:
        parts.append(f"{', '.join(waiting)} not started, still due")
    if not parts:
        return "interrupted: no job had started; the due jobs stay due"
    return "interrupted: " + "; ".join(parts)


def _kept(record: NightRecord, again: str) -> str:
    if record.status != "running":  # it had ended before the Ctrl-C
        return f"{record.job} {record.status}"
    if record.run is None:
        return f"{record.job} had no run yet; {again} starts it again"
    found = f", {record.experiments} experiments" if record.experiments else ""
    return f"{record.job} keeps run {record.run}{found}; {again} resumes it"
