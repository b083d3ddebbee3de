from fractions import Fraction

import numpy

from agent.domains.numerics.denominators import check_program
from agent.domains.numerics.domain import NumericsDomain
from agent.domains.numerics.program import Node, Program, rational


def test_vanishing_denominator_gives_a_counterexample_inside_the_interval():
    program = rational([1.0, 0.5], [0.25, -1.0, 1.0])  # x² − x + 1/4 = (x − 1/2)²
    verdict = check_program(program, 0.0, 1.0)
    assert verdict.status == "vanishes"
    assert 0.0 <= verdict.x <= 1.0
    x = Fraction(verdict.x)
    assert abs(x * x - x + Fraction(1, 4)) < Fraction(1, 10**12)


def test_safe_denominator_is_proven_and_negative_root_found():
    assert check_program(rational([1.0, 0.5], [1.0, -0.5]), 0.0, 1.0).status == "safe"
    assert check_program(rational([1.0, 0.5], [1.0, -2.0]), 0.0, 0.4).status == "safe"
    root = Program((Node("x"), Node("const", (), -0.3), Node("add", (0, 1)), Node("sqrt", (2,))))
    verdict = check_program(root, 0.0, 1.0)
    assert verdict.status == "negative_sqrt" and verdict.x < 0.3


def test_unknown_is_not_a_rejection():
    program = rational([1.0, 0.5, 0.1, 0.01], [0.1, -2.5, 3.1, -1.01])
    assert check_program(program, 0.0, 1.0, rlimit=1).status == "unknown"
    domain = NumericsDomain(
        "exp2", 0.0, 1.0, "float32", max_cost=8, z3_rlimit=1, fit_points=64, score_points=128,
        cost_model_name="ops",
    )  # fmt: skip
    assert not isinstance(domain.check(program), str)
    assert domain.tally.unknown == 1


def test_domain_check_rejects_with_a_reason():
    domain = NumericsDomain(
        "exp2", 0.0, 1.0, "float32", max_cost=4, fit_points=64, score_points=128, cost_model_name="ops"
    )
    assert domain.check(rational([1.0, 0.5], [1.0, -2.0])).startswith("denominator vanishes: ")
    assert domain.check(rational([1.0] * 4, [1.0] * 3)).startswith("too costly")
    assert domain.check(Program((Node("x"), Node("const", (), 1.0)))).startswith("constant")
    assert domain.tally.rejected == 1
    refined = domain.evaluate(rational([0.0, 0.0], [1.0, 0.0]))
    assert refined.fitness.info["max_ulp"] < 2e5 and numpy.isfinite(refined.fitness.objectives[0])
