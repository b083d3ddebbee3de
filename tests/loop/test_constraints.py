"""Z3 checks: a violating point is named rule by rule; repair finds the nearest feasible point."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

import pytest

from agent.constraints import Check, ConstraintError, Constraints, Outcome, Rule
from agent.expression import parse
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


def unit_square() -> Space:
    return Space({"x": ParamSpec(type="float", low=0, high=1), "y": ParamSpec(type="float", low=0, high=1)})


def test_repair_on_a_curved_boundary_lands_on_floats_that_keep_the_rules() -> None:
    """The point of `x * y >= 0.2` nearest (0.1, 0.1) is x = y = √0.2: Z3 answers an irrational
    (AlgebraicNumRef), whose reading raised AttributeError (7 of 17 proposals of a run)."""
    constraints = Constraints(unit_square(), ["x * y >= 0.2", "x * x + y * y <= 0.5"])
    repair = constraints.repair({"x": 0.1, "y": 0.1})
    assert repair.point is not None, repair.reason
    x, y = Fraction(repair.point["x"]), Fraction(repair.point["y"])
    assert x * y >= Fraction(0.2) and x * x + y * y <= Fraction(0.5)  # exactly, as the floats they are
    assert abs(repair.point["x"] - 0.2**0.5) < 1e-6 and abs(repair.point["y"] - 0.2**0.5) < 1e-6
    assert constraints.check(repair.point).passed


@pytest.mark.parametrize(
    ("space", "rule", "point"),
    [
        (unit_square(), "1 / x <= 2", {"x": 0.0, "y": 0.5}),
        (
            Space({"i": ParamSpec(type="int", low=0, high=9), "j": ParamSpec(type="int", low=0, high=9)}),
            "j % i == 0",
            {"i": 0, "j": 4},
        ),
        (
            Space({"i": ParamSpec(type="int", low=0, high=9), "j": ParamSpec(type="int", low=0, high=9)}),
            "j // i <= 3",
            {"i": 0, "j": 4},
        ),
        (unit_square(), "not (1 / x > 2)", {"x": 0.0, "y": 0.5}),
    ],
)
def test_a_zero_divisor_breaks_the_rule(space: Space, rule: str, point: dict) -> None:
    """Z3 leaves x / 0 unconstrained: 4 of 9 points of a run passed `1 / x <= 2` at x = 0."""
    constraints = Constraints(space, [rule])
    assert constraints.check(point).violated == [rule]
    repair = constraints.repair(point)
    assert repair.point is not None and repair.point[next(iter(point))] != 0, repair
    assert constraints.check(repair.point).passed


def test_a_division_that_evaluation_skips_does_not_count() -> None:
    constraints = Constraints(unit_square(), ["x > 0 -> 1 / x <= 4", "x == 0 or y / x >= 1"])
    assert constraints.check({"x": 0.0, "y": 0.5}).passed
    assert constraints.check({"x": 0.5, "y": 0.5}).passed
    assert constraints.check({"x": 0.1, "y": 0.5}).violated == ["x > 0 -> 1 / x <= 4"]


def test_z3_reads_a_when_that_divides_by_zero_as_python_does() -> None:
    """`when = "1 / y > 0.4"`: false at y = 0 in Python (now) and in Z3 (whose 1 / 0 could be anything)."""
    from agent.smt import z3

    space = Space(
        {
            "y": ParamSpec(type="int", low=0, high=2),
            "x": ParamSpec(type="int", low=0, high=1, when="1 / y > 0.4"),
        }
    )
    compiled = Constraints(space, ["x <= 1"]).compiled()
    for y in range(3):
        solver = z3.Solver(ctx=compiled.ctx)
        solver.add(compiled.vars["y"] == y, compiled.active["x"])
        assert (solver.check() == z3.sat) == space.is_active("x", {"y": y}), y


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("c + 1 == 2", "c is a choice with strings"),  # compiled as c's index: silently c == 'b'
        ("c < 'b'", "no ordering"),
        ("x <= 1e400", "too large"),  # OverflowError
        (" + ".join(["x"] * 600) + " <= 1000", "too deeply nested"),  # RecursionError
    ],
    ids=["string arithmetic", "string ordering", "infinite constant", "600-term sum"],
)
def test_rules_that_cannot_mean_one_thing_are_one_line_errors(rule: str, message: str) -> None:
    space = Space(
        {"c": ParamSpec(type="choice", choices=["a", "b"]), "x": ParamSpec(type="float", low=0, high=1)}
    )
    with pytest.raises(ConstraintError, match=message) as caught:
        Constraints(space, [rule])
    assert "\n" not in str(caught.value)


def test_two_choices_are_equal_by_their_labels_not_their_indices() -> None:
    space = Space(
        {
            "c": ParamSpec(type="choice", choices=["a", "b"]),
            "d": ParamSpec(type="choice", choices=["b", "a", "z"]),
        }
    )
    constraints = Constraints(space, ["c == d"])
    assert constraints.check({"c": "a", "d": "a"}).passed
    assert not constraints.check({"c": "a", "d": "b"}).passed
    assert not Constraints(space, ["d == c"]).check({"c": "b", "d": "z"}).passed


def test_a_learned_rule_the_space_cannot_state_is_left_out() -> None:
    """Memory's rules are strop's own: one that no longer fits the space must not stop a run."""
    space = Space(
        {"c": ParamSpec(type="choice", choices=["a", 2]), "x": ParamSpec(type="float", low=0, high=1)}
    )
    learned = Rule(parse("not (c >= 2)"), origin="memory: crashes in c = 2")
    constraints = Constraints(space, ["x <= 0.9", learned])
    assert [rule.text for rule in constraints.rules] == ["x <= 0.9"]


BIG = 9_000_000_000_000_000
CUBES = ["a*a*a + b*b*b + c*c*c == 42"]  # Z3 cannot decide it over these ranges: every question times out
FAR = {"a": 8175671139890460, "b": -6750428606673381, "c": -2711024589022792}


def _cubes(timeout: float = 10.0) -> Constraints:
    return Constraints(Space({n: ParamSpec(type="int", low=-BIG, high=BIG) for n in "abc"}), CUBES, timeout)


def test_no_repair_outlasts_the_deadline_it_is_given() -> None:
    """A repair asks Z3 ~16 questions, each up to a share of the rules' timeout: 9.3 s with 3 s
    left, and a 30 s run took 68 s. With a deadline, each question gets at most what is left."""
    import time

    from agent.deadline import Deadline

    constraints = _cubes()
    for left in (1.5, 0.0):
        constraints.deadline = Deadline.after(left)
        started = time.monotonic()
        repair = constraints.repair(FAR)
        assert repair.point is None and "could not find a repair" in repair.reason
        assert time.monotonic() - started < left + 1.0, left
    assert constraints.with_rules([]).deadline is constraints.deadline  # learned rules keep it


def test_the_check_of_the_rules_together_says_when_z3_could_not_decide() -> None:
    clash = _cubes().clash(seconds=0.2)
    assert clash.rules is None and not clash.decided
    space = Space({"x": ParamSpec(type="int", low=0, high=5)})
    assert Constraints(space, ["x > 9"]).clash().rules == ["x > 9"]
    assert Constraints(space, ["x > 3"]).clash() == Constraints(space, ["x > 3"]).clash(1.0)
    assert Constraints(space, ["x > 3"]).clash().decided
