"""One run-wide deadline: the instant (epoch seconds) by which everything a run does must end.

A budget checked only between steps lets one slow step overshoot it, so every piece that
waits (an LLM request, an evaluation, an evolutionary generation, a nightly job) asks the
same `Deadline` how long it may take and clamps its own timeout to that. Pure: it reads
the wall clock through `time.time()` only, or through the `now` passed in, so tests can
pin the clock.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

__all__ = ["Deadline", "process_started"]

_IMPORTED = time.time()


def process_started() -> float:
    """When this process started (epoch seconds): a command's time budget includes its own start-up.

    Read from /proc on Linux (the kernel's start time of the process); elsewhere, when this
    module was first imported, which is early in every strop command.
    """
    try:
        with open("/proc/self/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as handle:
            uptime = float(handle.read().split()[0])
        ticks = os.sysconf("SC_CLK_TCK")
        started = time.time() - (uptime - int(fields[19]) / ticks)
    except (OSError, ValueError, IndexError):
        return _IMPORTED
    return min(started, _IMPORTED) if started > _IMPORTED - 3600 else _IMPORTED


@dataclass(frozen=True)
class Deadline:
    """The instant a run must be over by; `at=None` means no deadline (everything is unbounded)."""

    at: float | None = None

    @classmethod
    def after(cls, seconds: float | None, now: float | None = None) -> Deadline:
        """A deadline `seconds` from now; `None` (no time budget) gives no deadline."""
        if seconds is None:
            return cls(None)
        return cls((time.time() if now is None else now) + max(0.0, float(seconds)))

    @classmethod
    def none(cls) -> Deadline:
        return cls(None)

    def left(self, now: float | None = None) -> float:
        """Seconds left (never negative); `inf` when there is no deadline."""
        if self.at is None:
            return math.inf
        return max(0.0, self.at - (time.time() if now is None else now))

    def expired(self, now: float | None = None) -> bool:
        return self.at is not None and self.left(now) <= 0.0

    def clamp(self, seconds: float | None, now: float | None = None) -> float:
        """The smaller of `seconds` and the time left: a step's own timeout never outlives the run.

        `None` means the step has no timeout of its own, so it gets the time left (maybe `inf`).
        """
        left = self.left(now)
        return left if seconds is None else min(float(seconds), left)

    def cuts(self, seconds: float | None, now: float | None = None) -> bool:
        """True when the deadline, not the step's own timeout, would end a step of `seconds`."""
        return self.left(now) < (math.inf if seconds is None else float(seconds))

    def earlier(self, other: Deadline) -> Deadline:
        """The stricter of two deadlines (for a step that has its own deadline inside the run's)."""
        if self.at is None:
            return other
        if other.at is None:
            return self
        return self if self.at <= other.at else other

    def minus(self, seconds: float) -> Deadline:
        """The deadline moved `seconds` earlier: the time the search must leave for a reserved phase."""
        return self if self.at is None else Deadline(self.at - max(0.0, seconds))
