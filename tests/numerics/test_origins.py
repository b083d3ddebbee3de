"""Origin labels: a seed is a seed however good, only strict wins over every baseline are novel."""

import pytest

from agent.domains.numerics.discovery import discover
from agent.domains.numerics.origins import Measured, label
from agent.domains.numerics.request import Request

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


def test_the_report_shows_only_points_that_approximate_and_beat_every_cheaper_one():
    from agent.domains.numerics.origins import worth_showing

    # a log2 front as the search left it (cost, max ULP, relative error): a program returning inf,
    # one returning 0, then pairs where the costlier point is no better beyond rounding
    points = [(0.82, 4.5e40, float("inf")), (0.85, 1.7e7, 1.0), (1.7, 3.1e6, 0.19), (2.7, 3.79e5, 0.023),
              (3.55, 3.79e5, 0.023), (3.7, 4.921e4, 3e-3), (4.52, 4.92e4, 3e-3), (5.7, 1020, 7e-5),
              (5.85, 1019, 7e-5), (8.7, 4.207, 3e-7), (8.85, 3.706, 3e-7), (9.0, float("nan"), 0.1)]  # fmt: skip
    costs, ulps, rel = (list(column) for column in zip(*points, strict=True))
    shown = worth_showing(costs, ulps, rel, [False] * len(costs))
    assert [costs[i] for i in shown.kept] == [1.7, 2.7, 3.7, 5.7, 8.7, 8.85]
    assert shown.note == (
        "front points not shown: 3 approximate nothing (relative error ≥ 1 or not finite); "
        "3 no better than a cheaper point by more than 2%"
    )
    # at the same cost the better one stays; nothing left out, nothing said
    assert worth_showing([2.0, 2.0], [5.0, 4.0], [0.1, 0.1], [False, False]).kept == [1]
    assert worth_showing([1.0, 2.0], [5.0, 4.0], [0.1, 0.1], [False, False]).note == ""
    # a discovery within 2% of a cheaper point's error stays (that one may only tie its baseline)
    assert worth_showing([5.0, 6.0], [1.0, 0.99], [0.1, 0.1], [False, True]).kept == [0, 1]
    # but a "discovery" no better than a cheaper point is not one (exp float64: cost 7.85 was cost 7.7
    # with v14*v14 as fma(v14, v14, 4.6e-17), both 7.56e-10, and both were shown and counted as novel)
    same = worth_showing([7.7, 7.85, 8.0], [7.56e-10, 7.56e-10, 7.6e-10], [1e-9] * 3, [True, True, True])
    assert same.kept == [0]
    assert same.note == "front points not shown: 2 no better than a cheaper point by more than 2%"
    assert worth_showing([5.0, 6.0], [1.0, 1.0], [0.1, 0.1], [False, True]).kept == [0]


def test_the_search_leaves_only_what_the_claims_under_1_ulp_need():
    from agent.domains.numerics.reserve import Reserve, whole_reserve

    reserve = Reserve(whole=30.0, per_program=1.5, after_claims=15.0, baseline_claims=1, start_speed=5.0)
    assert reserve.needed(0) == 1.5  # one baseline to verify, nothing of the search's: no speed loops
    assert reserve.needed(2) == 1.5 * 3 + 15.0
    assert reserve.needed(40) == 30.0  # never more than the plan kept
    assert reserve.floor == 1.5 * 3 + 5.0  # the baseline and two new claims verified, speed started
    assert whole_reserve(12.0).floor == 12.0  # sampled verification: the search leaves it all


def test_a_front_under_1_ulp_without_its_speed_table_says_why():
    """`"speed": []` read as "no program under 1 ULP" when the exhaustive pass had not run."""
    request = Request(
        "exp2", 0.0, 1.0, "float32", time_budget=None, generations=0, workers=0,
        population=1, islands=1, max_cost=7, cost_model="ops", exhaustive=False,
    )  # fmt: skip
    report = discover(request)
    assert any(entry.max_ulp < 1 for entry in report.front) and report.speed == []
    assert (
        "speed not compared: it times programs under 1 ULP on every float of the interval, and this "
        "verification was sampled (the exhaustive pass was turned off)" in report.notes
    )
