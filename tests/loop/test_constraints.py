"""Z3 checks: a violating point is named rule by rule; repair finds the nearest feasible point."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import pytest

from agent.constraints import Check, ConstraintError, Constraints, Outcome
from agent.space import Space
from agent.task import ParamSpec


def gbm() -> Space:
    return Space(
        {
            "lr": ParamSpec(type="float", low=0.01, high=0.5, log=True),
            "max_iter": ParamSpec(type="int", low=5, high=200),
            "max_depth": ParamSpec(type="int", low=2, high=12),
        }
    )


def mixed() -> Space:
    return Space(
        {
            "model": ParamSpec(type="choice", choices=["ridge", "knn"]),
            "k": ParamSpec(type="int", low=1, high=50, when="model == 'knn'"),
            "alpha": ParamSpec(type="float", low=0.0, high=10.0, when="model == 'ridge'"),
            "batch": ParamSpec(type="choice", choices=[8, 12, 16, 30]),
        }
    )


def test_reject_names_every_violated_rule() -> None:
    rules = ["model == 'knn' -> k % 2 == 1", "k <= 40", "batch % 8 == 0", "alpha >= 1"]
    check = Constraints(mixed(), rules).check({"model": "knn", "k": 42, "batch": 12})
    assert check.outcome is Outcome.VIOLATED
    assert check.violated == ["model == 'knn' -> k % 2 == 1", "k <= 40", "batch % 8 == 0"]
    assert "violates: k <= 40" in check.feedback
    # `alpha >= 1` reads an inactive parameter: it does not apply to a knn point


def test_feasible_point_passes() -> None:
    constraints = Constraints(mixed(), ["model == 'knn' -> k % 2 == 1", "batch % 8 == 0"])
    assert constraints.check({"model": "knn", "k": 7, "batch": 16}).passed
    assert constraints.check({"model": "ridge", "alpha": 0.5, "batch": 8}).passed


def test_out_of_bounds_is_a_violation_even_without_rules() -> None:
    check = Constraints(gbm(), []).check({"lr": 0.1, "max_iter": 500, "max_depth": 3})
    assert not check.passed and "max_iter=500 is outside" in check.violated[0]


def test_unknown_is_not_a_pass() -> None:
    assert not Check(Outcome.UNKNOWN, unknown=["x * y == 7"]).passed
    assert "unknown is not a pass" in Check(Outcome.UNKNOWN, unknown=["x * y == 7"]).feedback


def test_linear_repair_is_the_nearest_point() -> None:
    constraints = Constraints(mixed(), ["model == 'knn' -> k % 2 == 1", "k <= 40", "batch % 8 == 0"])
    repair = constraints.repair({"model": "knn", "k": 42, "batch": 12})
    assert repair.point is not None
    assert repair.point["model"] == "knn" and repair.point["k"] == 39
    assert repair.point["batch"] in (8, 16)
    assert set(repair.changed) == {"k", "batch"}
    assert constraints.check(repair.point).passed


def test_nonlinear_repair_changes_as_little_as_needed() -> None:
    constraints = Constraints(gbm(), ["max_iter * max_depth <= 1200"])
    point = {"lr": 0.1, "max_iter": 200, "max_depth": 12}
    repair = constraints.repair(point)
    assert repair.point is not None
    assert repair.point["lr"] == 0.1  # untouched parameters are put back exactly
    assert repair.point["max_iter"] * repair.point["max_depth"] <= 1200
    assert repair.point == {"lr": 0.1, "max_iter": 100, "max_depth": 12}  # 100/195 < 6/10 of the range


def test_repair_of_an_impossible_space_says_so() -> None:
    repair = Constraints(gbm(), ["max_iter < 5"]).repair({"lr": 0.1, "max_iter": 50, "max_depth": 3})
    assert repair.point is None and "no point" in repair.reason


def test_rules_that_do_not_fit_the_space_are_refused() -> None:
    with pytest.raises(ConstraintError, match="unknown parameter"):
        Constraints(gbm(), ["depth < 3"])
    with pytest.raises(ConstraintError, match="whole-number"):
        Constraints(gbm(), ["lr % 2 == 0"])
    with pytest.raises(ConstraintError, match="not a condition"):
        Constraints(gbm(), ["max_iter + 1"])


def test_threads_checking_at_once_get_the_answers_one_thread_gets() -> None:
    """Lanes settle their proposals in threads; Z3's shared context raised "context mismatch"."""
    rules = ["max_iter + 10 * max_depth <= 150", "max_depth != 7 or lr < 0.2"]
    rng = random.Random(7)
    points = [
        {"lr": rng.uniform(0.01, 0.5), "max_iter": rng.randint(5, 200), "max_depth": rng.randint(2, 12)}
        for _ in range(12)
    ]

    def answers(_: int) -> list[tuple[bool, object]]:
        constraints = Constraints(gbm(), rules)
        return [(constraints.check(p).passed, constraints.repair(p).point) for p in points]

    alone = answers(0)
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(answers, range(4)))
    assert all(result == alone for result in together)
    assert any(passed for passed, _ in alone) and not all(passed for passed, _ in alone)


def test_a_rule_that_reads_no_parameter_is_decided_as_a_constant() -> None:
    assert Constraints(gbm(), ["1 <= 2"]).check({"lr": 0.1, "max_iter": 50, "max_depth": 3}).passed
    assert Constraints(gbm(), ["2 < 1"]).contradiction() == ["2 < 1"]
