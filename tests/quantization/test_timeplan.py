"""The time plan: shares add up to the time left, every mode, and phase deadlines nest in the run's."""

from __future__ import annotations

import math

import pytest

from agent.deadline import Deadline
from agent.domains.quantization.intervals import across_seeds, paired, verdict, wilson
from agent.domains.quantization.timeplan import TimePlan, phase_deadline


@pytest.mark.parametrize("mode", ["all", "fast", "none"])
def test_shares_add_up_to_the_time_left(mode: str) -> None:
    plan = TimePlan.make(100.0, mode)
    shares = dict(plan.shares(mode))
    assert math.isclose(sum(shares.values()), 100.0)
    assert ("tpe" in shares) == (mode == "all") and ("fast baselines" in shares) == (mode != "none")
    if mode == "none":
        assert math.isclose(plan.engine + plan.refine + plan.tail, 100.0)  # type: ignore[operator]


def test_no_time_budget_means_no_phase_limits() -> None:
    plan = TimePlan.make(None, "all")
    assert plan.engine is None and plan.shares("all") == ()
    assert phase_deadline(Deadline.none(), None, plan.tail).at is None


def test_a_phase_never_outlives_the_run_minus_the_tail() -> None:
    run = Deadline.after(10.0, now=1000.0)
    assert phase_deadline(run, 60.0, 2.0).at <= 1008.0  # type: ignore[operator]
    assert phase_deadline(run, 1.0, 2.0).at <= run.at  # type: ignore[operator]


def test_intervals_say_tie_unless_the_whole_interval_is_on_one_side() -> None:
    import numpy as np

    w = wilson(440, 450)
    assert w.low < 440 / 450 < w.high and w.high <= 1.0
    a = np.array([True] * 440 + [False] * 10)
    b = a.copy()
    b[:2] = False  # B misses two images A gets: 0.44 points, well inside the noise
    close = paired(a, b)
    assert math.isclose(close.value, 2 / 450) and verdict(close) == "tie"
    far = paired(a, np.array([True] * 380 + [False] * 70))
    assert verdict(far) == "ahead" and verdict(paired(np.array([True] * 380 + [False] * 70), a)) == "behind"
    seeds = across_seeds([0.01, 0.012, 0.011, 0.009, 0.01])
    assert verdict(seeds) == "ahead" and verdict(across_seeds([0.01, -0.01, 0.0])) == "tie"
