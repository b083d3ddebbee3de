"""A job's progress on the nightly's stderr while it runs: its own lines, passed on, and a heartbeat.

Before, a job's stderr was kept only for its failure line: `strop nightly run` said `starting`,
then nothing until the job ended (half a minute in a trial night, an hour for an hour's job,
`--json` included), so a watcher could not tell a working night from a hung one. Now every line
a job writes on stderr (an evolve search's phases and generations) is passed on with the job's
name before it, at a modest rate: `BURST` lines at once, then one a second, the latest line held
back goes out when the rate allows (a job that floods its stderr cannot flood the nightly's).
A job silent for `EVERY` seconds (a run job says nothing of its own) gets a heartbeat: how long
it has run of the time it was given, and what its run has found so far. Every line is kept for
the failure line (`runner._why_failed`). Stdout is untouched: `--json` stays one JSON document.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sandbox.units import format_duration

if TYPE_CHECKING:
    from agent.nightly.history import NightRecord

__all__ = ["BURST", "EVERY", "JobProgress", "ran_of_given", "relayed"]

EVERY = 10.0  # seconds of silence from a job before its heartbeat line
BURST = 3  # lines of a job passed on at once; then one a second
TICK = 1.0  # how often held lines and heartbeats are looked at
LONGEST = 300  # characters of a job's line passed on (all of it is kept for the failure line)


@dataclass
class JobProgress:
    """One running job's lines: kept whole, passed on to `say` prefixed `JOB: `, rate-limited.

    `given` is the time the job was given (seconds, its `--time`); `so_far` says what its run
    has found until now ("" before it has a run), read only for a heartbeat.
    """

    name: str
    given: float
    say: Callable[[str], None]
    so_far: Callable[[], str] = lambda: ""
    every: float = EVERY
    lines: list[str] = field(default_factory=list)
    _started: float = field(default_factory=time.monotonic)
    _said: float = field(default_factory=time.monotonic)
    _tokens: float = BURST
    _refilled: float = field(default_factory=time.monotonic)
    _held: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def heard(self, line: str) -> None:
        """A line from the job's stderr: kept, and passed on now or when the rate allows."""
        self.lines.append(line)
        text = line.strip()
        if not text:
            return
        with self._lock:
            self._refill()
            if self._tokens >= 1:
                self._tokens -= 1
                self._pass_on(text)
            else:
                self._held = text  # a newer line replaces an older one still held

    def tick(self) -> None:
        """Pass on a held line the rate now allows; a heartbeat after `every` seconds of silence."""
        with self._lock:
            self._refill()
            if self._held is not None and self._tokens >= 1:
                self._tokens -= 1
                held, self._held = self._held, None
                self._pass_on(held)
            elif time.monotonic() - self._said >= self.every:
                self._heartbeat()

    def flush(self) -> None:
        """The job ended: its last held line, if any, is passed on before its closing line."""
        with self._lock:
            if self._held is not None:
                held, self._held = self._held, None
                self._pass_on(held)

    def heartbeat_line(self) -> str:
        """`JOB: running 40.0s of 9m47s · run 3f2a1c · 5 experiments · best loss = 0.0057`."""
        ran = f"{self.name}: running {format_duration(time.monotonic() - self._started)} of {format_duration(self.given)}"
        try:
            found = self.so_far()
        except (
            Exception
        ):  # a heartbeat is a courtesy: a run index busy or half-written must not stop the watch
            found = ""
        return f"{ran} · {found}" if found else ran

    def _heartbeat(self) -> None:
        self.say(self.heartbeat_line())
        self._said = time.monotonic()

    def _pass_on(self, text: str) -> None:
        clipped = text if len(text) <= LONGEST else text[: LONGEST - 1] + "…"
        self.say(f"{self.name}: {clipped}")
        self._said = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(float(BURST), self._tokens + (now - self._refilled) / TICK)
        self._refilled = now


@contextlib.contextmanager
def relayed(progress: JobProgress) -> Iterator[JobProgress]:
    """While inside, `progress` ticks once a second in a thread of its own; on the way out its
    last held line is passed on."""
    done = threading.Event()

    def ticking() -> None:
        while not done.wait(TICK):
            progress.tick()

    ticker = threading.Thread(target=ticking, name=f"progress-{progress.name}", daemon=True)
    ticker.start()
    try:
        yield progress
    finally:
        done.set()
        ticker.join(timeout=5)
        progress.flush()


def ran_of_given(night: NightRecord) -> str:
    """A job's time against the time it was given: `25.1s of 9m47s` ("" for a night before both were kept)."""
    if night.seconds is None or night.given is None:
        return ""
    return f"{format_duration(night.seconds)} of {format_duration(night.given)}"
