"""Origin labels: a seed is a seed however good, only strict wins over every baseline are novel."""

import pytest

from agent.domains.numerics.discovery import Request, discover
from agent.domains.numerics.origins import Measured, label

BASELINES = [Measured("minimax-5", 5.0, 2.0), Measured("minimax-6", 6.0, 0.9), Measured("rational", 8.0, 0.3)]


def test_a_seed_that_beats_every_baseline_is_labelled_seed():
    mark = label(0.1, 6.0, True, BASELINES)
    assert mark.origin == "seed"
    assert mark.baseline == "minimax-6" and mark.margin == pytest.approx(9.0)


@pytest.mark.parametrize(
    ("error", "cost", "origin"),
    [
        (0.5, 6.0, "novel"),  # 1.8× better than the strongest baseline at ≤ 6
        (0.9, 6.0, "baseline-equivalent"),
        (0.905, 6.5, "baseline-equivalent"),  # within rounding of minimax-6, cheaper than the rational
        (0.85, 6.0, "novel"),  # 0.9 / 0.85 = 1.059: better beyond rounding (2%)
        (2.5, 6.0, "evolved"),  # worse than a baseline it costs as much as
        (0.1, 4.0, "evolved"),  # cheaper than every baseline: nothing to beat is no discovery
        (0.29, 8.0, "novel"),
        (0.9, 5.8, "baseline-equivalent"),  # minimax-6 re-spelt 3% cheaper by the op weights: the same cost
        (0.5, 5.8, "novel"),  # and beating it there still counts
    ],
)
def test_labels(error, cost, origin):
    assert label(error, cost, False, BASELINES).origin == origin


def test_seeds_evaluated_without_evolution_are_all_labelled_seed():
    # generation 0 with one island of population 1: the first population is exactly the seeds
    request = Request(
        "exp", 0.5, 1.0, "float64", time_budget=None, generations=0, workers=0,
        population=1, islands=1, max_cost=4, cost_model="ops",
    )  # fmt: skip
    report = discover(request)
    assert report.front
    assert {entry.origin for entry in report.front} == {"seed"}
    assert report.novel == []
    # the seeds include the baselines' shapes, so at each cost the seed matches its baseline
    for entry in report.front:
        assert entry.margin is None or entry.margin <= 1.02
