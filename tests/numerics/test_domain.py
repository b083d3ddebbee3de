"""The domain: factored baselines where f has a zero, the structure cache, runs without seeds."""

import numpy
import pytest

from agent.domains.numerics.baselines import baseline_programs
from agent.domains.numerics.domain import NumericsDomain
from agent.domains.numerics.program import Node, Program, horner
from agent.domains.numerics.skeletons import factored_polynomial


def _small(fn, lo, hi, fmt="float32", **kwargs):
    return NumericsDomain(fn, lo, hi, fmt, fit_points=200, score_points=512, z3_rlimit=20_000, **kwargs)


def test_a_zero_inside_the_interval_is_factored_out_exactly():
    domain = _small("log2", 1.0, 2.0, polish_evaluations=0, max_cost=8)
    assert domain.shape.zero == 1.0
    named = dict(baseline_programs(domain))
    assert "minimax-6" in named
    assert named["minimax-rational-1/1"].cost() == 3  # t / Q(t): sub, fma, div (Q absorbs P's constant)
    fitted = domain.fitted(factored_polynomial(5, 1.0))
    info = domain.fitness(fitted).info
    assert info["max_ulp"] < 300 and info["max_rel_error"] < 3e-5  # a real relative fit
    plain = domain.fitted(horner([0.0] * 7))  # the same degree in x: near x = 1 it loses all digits
    assert domain.fitness(plain).info["max_rel_error"] > 30 * info["max_rel_error"]
    assert _small("sin", 0.0, 1.5, max_cost=8).shape.odd
    assert _small("exp", -1.0, 1.0, "float64").shape.zero is None


def test_structure_cache_skips_refits_of_the_same_structure():
    domain = _small("exp", 0.0, 1.0, "float64")
    first = horner([1.0, 0.5, 0.25])
    assert isinstance(domain.check(first), Program)
    perturbed = horner([1.1, 0.4, 0.2])  # only LP-fitted constants differ: the fit would repeat
    assert domain.check(perturbed).startswith("duplicate")
    swapped = Program(tuple(Node(n.op, (n.args[1], n.args[0], n.args[2]) if n.op == "fma" else n.args, n.value)
                            for n in first.nodes))  # fmt: skip
    assert domain.check(swapped).startswith("duplicate")  # commutative arguments sorted
    assert isinstance(domain.check(horner([1.0, 0.5, 0.25, 0.1])), Program)
    assert domain.cache.hits == 2 and domain.cache.misses == 2


def test_without_seeds_the_first_population_is_random():
    assert _small("exp", 0.0, 1.0, "float64", seeds=False).initial_genomes(numpy.random.default_rng(0)) == []
    assert _small("exp", 0.0, 1.0, "float64").initial_genomes(numpy.random.default_rng(0))


def _squared(program):
    last = len(program.nodes) - 1
    return Program((*program.nodes, Node("mul", (last, last))))


def test_a_squared_output_is_fitted_through_its_inner_program():
    # e^x = (e^(x/2))²: the inner degree-5 polynomial needs only e^(x/2)'s accuracy, which on
    # [-1, 1] is e^x's on [-1/2, 1/2]: 2^6 times better than degree 5 on [-1, 1], less 2× for the square
    domain = _small("exp", -1.0, 1.0, "float64")
    alone = domain.fitness(domain.fitted(horner([0.0] * 6))).info["max_rel_error"]
    squared = domain.fitted(_squared(horner([0.0] * 6)))
    assert squared.cost() == 6
    error = domain.fitness(squared).info["max_rel_error"]
    assert error < alone / 20
    half = _small("exp", -0.5, 0.5, "float64")
    inner = half.fitness(half.fitted(horner([0.0] * 6))).info["max_rel_error"]
    assert error == pytest.approx(2 * inner, rel=0.1)  # the fit reaches what the identity allows


def test_a_rooted_output_is_fitted_to_the_square_of_the_target():
    domain = _small("exp", 0.0, 1.0, "float64")
    inner = horner([0.0] * 5)
    rooted = Program((*inner.nodes, Node("sqrt", (len(inner.nodes) - 1,))))
    error = domain.fitness(domain.fitted(rooted)).info["max_rel_error"]
    wide = _small("exp", 0.0, 2.0, "float64")  # √p ≈ e^x means p ≈ e^(2x): degree 4 for e^u on [0, 2]
    direct = wide.fitness(wide.fitted(horner([0.0] * 5))).info["max_rel_error"]
    assert error == pytest.approx(direct / 2, rel=0.15)  # a root halves the relative error


def test_the_structure_cache_sees_through_a_square():
    domain = _small("exp", 0.0, 1.0, "float64")
    assert isinstance(domain.check(_squared(horner([1.0, 0.5, 0.25]))), Program)
    assert domain.check(_squared(horner([1.1, 0.4, 0.2]))).startswith("duplicate")


def test_float32_polynomial_baselines_go_past_the_cost_limit_for_the_speed_comparison():
    from agent.domains.numerics.baselines import SPEED_POLYNOMIAL_COST

    domain = _small("exp2", 0.0, 1.0, polish_evaluations=0, max_cost=4)
    costs = {name: domain.cost(program) for name, program in baseline_programs(domain)}
    polynomials = {n: c for n, c in costs.items() if n.startswith("minimax-") and n[8:].isdigit()}
    assert max(polynomials.values()) > domain.max_cost
    assert max(polynomials.values()) <= SPEED_POLYNOMIAL_COST
    others = {n: c for n, c in costs.items() if n not in polynomials}
    assert others and max(others.values()) <= domain.max_cost  # rationals, Taylor, Padé stay inside
    reals = _small("exp2", 0.0, 1.0, "float64", max_cost=4)
    assert max(reals.cost(p) for _, p in baseline_programs(reals)) <= 4


def test_textbook_extensions_are_odd_rationals_squarings_and_roots():
    from agent.domains.numerics.skeletons import Shape, odd_rational, textbook_extensions

    x = numpy.linspace(0.1, 1.5, 17)
    form = odd_rational(1, 2).with_constants(numpy.array([0.5, 1.0, 0.25, 0.3, 1.0]))
    assert numpy.allclose(
        form.evaluate(x, numpy.float64), x * (1 + 0.5 * x**2) / (1 + 0.3 * x**2 + 0.25 * x**4)
    )
    odd = dict(textbook_extensions(Shape(zero=0.0, odd=True), 0.0, 2.0, 8))
    assert "odd-rational-3/4" in odd and odd["odd-rational-3/4"].cost() == 6
    assert not any(name.startswith("squared") for name in odd)
    exp_like = dict(textbook_extensions(Shape(exp_like=True), -1.0, 1.0, 8))
    assert exp_like["squared-poly-5"].cost() == 6 and exp_like["squared-symmetric-3/0"].cost() == 8
    assert (
        exp_like["squared-twice-symmetric-2/0"].cost() == 8 and exp_like["squared-twice-poly-4"].cost() == 6
    )
    logs = dict(textbook_extensions(Shape(zero=1.0), 1.0, 2.0, 8))
    root = logs["sqrt-poly-3"]  # √x − 1 times a quadratic in it
    assert root.nodes[1].op == "sqrt" and root.cost() == 5  # sqrt, sub, two fmas, mul
    assert all(name.startswith("sqrt-") for name in logs)
    twice = logs["sqrt-twice-rational-1/4"]  # t/Q(t), t = x^(1/4) − 1: what a log search found at cost 8
    assert [n.op for n in twice.nodes[:3]] == ["x", "sqrt", "sqrt"] and twice.cost() == 8


def test_an_odd_rational_beats_the_factored_rational_of_its_cost_on_erf():
    # why erf's 'novel' float64 points must also face the odd rationals: x·P(x²)/Q(x²) at cost 8
    # is a type (5, 4) rational that the factored t·P(t)/Q(t) of cost 8 (type (≤ 6, ≤ 4)) cannot match
    from agent.domains.numerics.skeletons import odd_rational

    domain = _small("erf", 0.0, 2.0, "float64", max_cost=8)
    odd = domain.fitted(odd_rational(2, 3))
    assert odd.cost() == 8
    named = {name: p for name, p in baseline_programs(domain) if domain.cost(p) <= 8}
    best = min(domain.fitness(p).info["max_rel_error"] for p in named.values())
    assert domain.fitness(odd).info["max_rel_error"] < best / 2


def test_an_even_function_faces_even_polynomials_and_rationals():
    # cos on [0, 1.5]: q(x²) of cost 5 is degree 8; a plain polynomial of cost 5 only degree 5.
    # Without the even forms among the baselines a search's q(x²) would pass for a discovery.
    domain = _small("cos", 0.0, 1.5, "float64", max_cost=6, cost_model_name="ops")
    assert domain.shape.even and not domain.shape.odd
    named = dict(baseline_programs(domain))
    error = {name: domain.fitness(p).info["max_rel_error"] for name, p in named.items()}
    assert error["minimax-even-poly-8"] < error["minimax-5"] / 50
    general = min(e for name, e in error.items() if name.startswith("minimax-rational"))
    assert error["minimax-even-rational-4/4"] < general / 50


def test_a_twin_operation_is_merged_before_costing_and_caching():
    domain = _small("exp", 0.0, 1.0, "float64", max_cost=2)
    nodes = (Node("x"), Node("mul", (0, 0)), Node("mul", (0, 0)), Node("add", (1, 2)))  # x² + x²: cost 3
    checked = domain.check(Program(nodes))
    assert isinstance(checked, Program) and checked.cost() == 2  # within max_cost only once merged
    once = (Node("x"), Node("mul", (0, 0)), Node("add", (1, 1)))
    assert domain.check(Program(once)).startswith("duplicate")  # the same program as the merged one
