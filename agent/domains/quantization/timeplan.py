"""How one quantization run spends a wall-time budget, and the phase events it emits.

`--time T` bounds the whole command, baselines included, so the time left after
set-up (model, data, Z3 space) is split before anything runs, and each phase gets
its own deadline inside the run's:

* `all`   the fast baselines (HAWQ-V3, best uniform, greedy; first, as they seed the
          engine) get `FAST_SHARE`, the engine (with its budget-filling refinement)
          `ENGINE_SHARE`, and random search
          and TPE split the rest; they stop at the engine's evaluation count if they
          reach it first, and report how many they got to if time stops them.
* `fast`  the engine gets everything but the fast baselines' share.
* `none`  the engine gets everything.

A fixed tail is kept for scoring the chosen configs on test and writing outputs.
Time a phase leaves unused flows to the phases after it. Without a time budget every
phase is unbounded (the benchmark runs by generations and equal evaluations).
The events are what the CLI prints as progress; the core knows no screen.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.deadline import Deadline

BASELINE_MODES = ("none", "fast", "all")
ENGINE_SHARE = 0.45  # of the time after set-up, with --baselines all
FAST_SHARE = 0.15  # of the time after set-up, for HAWQ-V3, uniform and greedy
REFINE_TIME_SHARE = 0.2  # of the engine's share, kept for budget-filling refinement
TAIL_SECONDS, TAIL_SHARE = 3.0, 0.03  # test scoring, writing outputs, interpreter exit (1–3 s loaded)
MIN_ENGINE_SECONDS = 4.0  # below this the engine cannot evaluate its first generation


@dataclass(frozen=True)
class PhaseStarted:
    """A phase begins; `seconds` is what it may take (None: unbounded)."""

    name: str
    seconds: float | None = None


@dataclass(frozen=True)
class PhaseDone:
    """A phase ended after `seconds`; `detail` says what it found, in words."""

    name: str
    seconds: float
    detail: str = ""


@dataclass(frozen=True)
class PlanMade:
    """The split of the time budget, announced once before the search starts."""

    total: float | None
    shares: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class TimePlan:
    """Seconds per phase, computed once from the time left after set-up (see the module docstring)."""

    engine: float | None
    refine: float | None
    fast: float | None
    search_baseline: float | None  # each of random and TPE
    tail: float

    @staticmethod
    def make(left: float | None, mode: str) -> TimePlan:
        if left is None or left == float("inf"):
            return TimePlan(None, None, None, None, 0.0)
        tail = TAIL_SECONDS + TAIL_SHARE * left
        usable = max(0.0, left - tail)
        fast = FAST_SHARE * usable if mode != "none" else 0.0
        share = ENGINE_SHARE * usable if mode == "all" else usable - fast
        return TimePlan(
            engine=share * (1 - REFINE_TIME_SHARE),
            refine=share * REFINE_TIME_SHARE,
            fast=fast,
            search_baseline=(usable - fast - share) / 2 if mode == "all" else 0.0,
            tail=tail,
        )

    def shares(self, mode: str) -> tuple[tuple[str, float], ...]:
        if self.engine is None:
            return ()
        parts = (
            [("fast baselines", self.fast or 0.0)] if mode != "none" else []
        )  # first: they seed the engine
        parts += [("engine", self.engine), ("refine", self.refine or 0.0)]
        if mode == "all":
            parts += [("random", self.search_baseline or 0.0), ("tpe", self.search_baseline or 0.0)]
        return (*parts, ("finish", self.tail))


def phase_deadline(run: Deadline, seconds: float | None, tail: float) -> Deadline:
    """A phase's deadline: `seconds` from now, never past the run's deadline minus the tail."""
    return Deadline.after(seconds).earlier(run.minus(tail))
