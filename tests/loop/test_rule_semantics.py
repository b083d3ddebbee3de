"""Rules and `when` conditions mean one thing, in Python and in Z3, and the offline proposer's
bookkeeping of tried points is exact.

Each test is a defect a reviewer found: a `when` read true by Python and false by Z3 (a rule
skipped), `//` and `%` floored in Python and Euclidean in Z3, `0.3` read as a binary float by Z3
(`n / 10 <= 0.3` broken at n = 3), two choices merged by a rounded key, a timed-out check kept
as "forbidden", a large finite space with two allowed points proposing tried ones again, a
repair at a vertex broken by rounding, and messages that counted wrongly.
"""

from __future__ import annotations

import random

import pytest

from agent.constraints import Check, Constraints, Outcome
from agent.expression import ExpressionError, parse
from agent.proposers.evolve import EvolveOptimizer, Trial
from agent.proposers.untried import Untried
from agent.space import Space
from agent.task import ParamSpec
from evaluators.metric import Direction


def space(**params: dict) -> Space:
    return Space({name: ParamSpec(**spec) for name, spec in params.items()})


# ------------------------------------------------------------------- one reading
def test_a_when_python_reads_true_is_true_for_the_rules_too() -> None:
    """`n / 10 == 0.1` at n = 1: Python's floats said true (c written), Z3's rationals said false
    (every rule on c skipped), and the run's best had c = 10 under `c <= 5`."""
    grid = space(
        n={"type": "int", "low": 1, "high": 3},
        c={"type": "int", "low": 0, "high": 10, "when": "n / 10 == 0.1"},
    )
    constraints = Constraints(grid, ["c <= 5"])
    assert grid.is_active("c", {"n": 1})
    assert constraints.check({"n": 1, "c": 9}).outcome is Outcome.VIOLATED
    assert constraints.check({"n": 1, "c": 5}).passed
    repaired = constraints.repair({"n": 1, "c": 9}).point
    assert repaired is not None and repaired.get("c", 0) <= 5


def test_a_when_that_overflows_a_float_is_read_exactly() -> None:
    """`x ** 8 > 1` at x = 1e300: Python's float overflowed (c inactive), Z3 said active."""
    wide = space(
        x={"type": "float", "low": 0, "high": 1e300},
        c={"type": "int", "low": 0, "high": 10, "when": "x ** 8 > 1"},
    )
    assert wide.is_active("c", {"x": 1e300})
    assert "c" in wide.complete({"x": 1e300})
    assert Constraints(wide, ["c <= 5"]).check({"x": 1e300, "c": 9}).outcome is Outcome.VIOLATED


@pytest.mark.parametrize("op", ["//", "%"])
def test_floor_division_and_modulo_are_pythons_for_either_sign(op: str) -> None:
    """Z3's integer `div`/`mod` are Euclidean: `1 % -2 >= 0` passed there, while Python says -1."""
    grid = space(x={"type": "int", "low": -5, "high": 5}, y={"type": "int", "low": -3, "high": 3})
    for x in range(-5, 6):
        for y in (-3, -2, -1, 1, 2, 3):
            value = eval(f"{x} {op} {y}")  # the Python meaning, on constants
            rule = f"x {op} y == {value}"
            assert Constraints(grid, [rule]).check({"x": x, "y": y}).passed, (rule, x, y)
    assert Constraints(grid, ["x % y >= 0"]).check({"x": 1, "y": -2}).outcome is Outcome.VIOLATED


def test_decimal_literals_mean_the_decimal_they_spell_in_both_readings() -> None:
    """`n / 10 <= 0.3` with `n >= 3` was refused as unsatisfiable: Z3 read 0.3 as the float below 3/10."""
    grid = space(n={"type": "int", "low": 1, "high": 10})
    constraints = Constraints(grid, ["n / 10 <= 0.3", "n >= 3"])
    assert constraints.contradiction() is None
    assert constraints.check({"n": 3}).passed
    assert parse("n / 10 <= 0.3").holds({"n": 3})
    pair = space(x={"type": "float", "low": 0, "high": 1}, y={"type": "float", "low": 0, "high": 1})
    rule = "x + y <= 0.3"
    assert parse(rule).holds({"x": 0.1, "y": 0.2})
    assert Constraints(pair, [rule]).check({"x": 0.1, "y": 0.2}).passed
    assert Constraints(pair, ["x >= 0.3"]).check({"x": 0.3, "y": 0.0}).passed


# ------------------------------------------------------------- tried points
def test_choices_that_round_alike_are_two_points() -> None:
    """`[1.0, 1.0000001, 2.0]`: keys rounded to 6 digits merged the first two, and after two
    experiments the run said "all 2 points evaluated" with 1.0000001 never tried."""
    grid = space(c={"type": "choice", "choices": [1.0, 1.0000001, 2.0]})
    untried = Untried(grid)
    assert untried.points is not None and len(untried.points) == 3
    tried = {grid.key({"c": 1.0}), grid.key({"c": 2.0})}
    assert untried.exhausted(tried, None) is None
    assert untried.nearest(tried, None, random.Random(0), None) == {"c": 1.0000001}


def test_a_check_that_timed_out_is_not_kept_as_forbidden() -> None:
    """Kept as False for the process, three timeouts made 1..4 "exhausted" with 2, 3, 4 untried."""
    grid = space(n={"type": "int", "low": 1, "high": 4})
    constraints = Constraints(grid, ["n <= 4"])
    real, calls = constraints.check, {"n": 0}

    def flaky(point: dict) -> Check:
        calls["n"] += 1
        return Check(Outcome.UNKNOWN, unknown=["n <= 4"]) if calls["n"] <= 3 else real(point)

    constraints.check = flaky  # type: ignore[method-assign]
    untried = Untried(grid)
    tried = {grid.key({"n": 1})}
    untried.exhausted(tried, constraints)
    assert untried.exhausted(tried, constraints) is None
    assert untried.nearest(tried, {"n": 1}, random.Random(0), constraints) is not None


def test_a_large_finite_space_with_few_allowed_points_never_repeats_one() -> None:
    """10,100 points (over the enumeration limit), two allowed: 3 of 5 experiments were repeats."""
    grid = space(a={"type": "int", "low": 1, "high": 101}, b={"type": "int", "low": 1, "high": 100})
    constraints = Constraints(grid, ["a * b == 37 * 58", "a < b"])
    optimizer = EvolveOptimizer(grid, Direction.MAXIMIZE, constraints, seed=0, budget=5)
    assert optimizer.untried.points is None
    history: list[Trial] = []
    for index in range(2):
        suggestion = optimizer.suggest(history, index, "sample")
        assert constraints.check(suggestion.point).passed
        assert suggestion.point not in [t.point for t in history], (index, suggestion)
        history.append(Trial(suggestion.point, 1.0))
    assert sorted((t.point["a"], t.point["b"]) for t in history) == [(29, 74), (37, 58)]
    assert (
        optimizer.exhausted(history) == "search space exhausted: all 2 points the constraints allow evaluated"
    )


def test_exhaustion_counts_the_allowed_points_only() -> None:
    """A baseline that breaks the rules was counted among "the points the constraints allow"."""
    grid = space(n={"type": "int", "low": 1, "high": 4})
    constraints = Constraints(grid, ["n <= 2"])
    untried = Untried(grid)
    tried = {grid.key({"n": n}) for n in (1, 2, 4)}
    assert untried.exhausted(tried, constraints) == (
        "search space exhausted: all 2 points the constraints allow evaluated (2 more excluded)"
    )
    one = {grid.key({"n": n}) for n in (1, 4)}
    assert Untried(grid).exhausted(one, Constraints(grid, ["n <= 1"])) == (
        "search space exhausted: its one point the constraints allow evaluated (3 more excluded)"
    )


# ------------------------------------------------------------------ continuous
RULES = ["u / v <= 0.2", "u + v <= 2.5", "u >= 0.3"]


def plane() -> Space:
    return space(
        u={"type": "float", "low": 0.0, "high": 1.0},
        v={"type": "float", "low": 0.1, "high": 10.0, "log": True},
    )


def test_a_repair_at_a_vertex_keeps_the_rules_as_floats() -> None:
    """The nearest feasible point sits where two rules meet; its rounded floats broke one, and
    the repair (and so the proposal) failed for most points outside."""
    constraints = Constraints(plane(), RULES[:2], timeout=2)
    rng = random.Random(5)
    outside = [p for p in (plane().sample(rng) for _ in range(40)) if not constraints.check(p).passed][:8]
    for point in outside:
        repaired = constraints.repair(point)
        assert repaired.point is not None and constraints.check(repaired.point).passed, (
            point,
            repaired.reason,
        )


def test_a_continuous_space_never_gets_a_forbidden_point_while_an_allowed_one_is_known() -> None:
    constraints = Constraints(plane(), RULES, timeout=2)
    optimizer = EvolveOptimizer(plane(), Direction.MAXIMIZE, constraints, seed=0, budget=10)
    optimizer.untried.nearest = lambda *args: None  # type: ignore[method-assign]  # sampling found none
    known = {"u": 0.35, "v": 2.0}
    assert constraints.check(known).passed
    forbidden = {"u": 0.9, "v": 0.5}
    seen = {plane().key(known), plane().key(forbidden)}
    suggestion = optimizer._untried_or(forbidden, "sample", seen, random.Random(0), [Trial(known, 1.0)])
    assert constraints.check(suggestion.point).passed and plane().key(suggestion.point) not in seen
    nothing = optimizer._untried_or(forbidden, "sample", seen, random.Random(0), [])
    assert not any("no untried point" in note for note in nothing.notes), nothing.notes


# -------------------------------------------------------------------- messages
@pytest.mark.parametrize("rule", ["min(a) <= 1", "max(a, a, a, a, a, a, a, a, a) <= 1"])
def test_min_and_max_say_how_many_arguments_they_take(rule: str) -> None:
    with pytest.raises(ExpressionError, match=r"takes 2 to 8 arguments"):
        parse(rule)
