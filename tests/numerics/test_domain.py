"""The domain: factored baselines where f has a zero, the structure cache, runs without seeds."""

import numpy

from agent.domains.numerics.discovery import baseline_programs
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
