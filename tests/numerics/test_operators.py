"""The whole-program mutations: x replaced by a map of x, and the output squared, rooted or times x."""

import numpy
import pytest

from agent.domains.numerics.operators import substitute_input, wrap_output
from agent.domains.numerics.program import Program, horner, rational

X = numpy.linspace(0.25, 2.0, 33)


def _value(program: Program) -> numpy.ndarray:
    return program.evaluate(X, numpy.float64)


def test_substitute_input_composes_the_whole_program_with_a_map_of_x():
    parent = rational([0.5, 1.0, 0.25], [1.0, 0.3])  # x appears in numerator and denominator
    p = _value(parent)
    seen = set()
    for seed in range(60):
        child = substitute_input(parent, numpy.random.default_rng(seed))
        assert child.is_wellformed()
        y = _value(child)
        square = parent.evaluate(X * X, numpy.float64)
        if numpy.allclose(y, square, rtol=1e-12):
            seen.add("p(x²)")
        elif numpy.allclose(y, X * square, rtol=1e-12):
            seen.add("x·p(x²)")
            assert child.nodes[-1].op == "div"  # x joined the numerator: the fit still sees N/D
        elif numpy.allclose(y, parent.evaluate(numpy.sqrt(X), numpy.float64), rtol=1e-12):
            seen.add("p(√x)")
        else:  # p(c·x) for the new constant c
            c = child.nodes[1].value
            assert numpy.allclose(y, parent.evaluate(c * X, numpy.float64), rtol=1e-12)
            seen.add("p(cx)")
        assert not numpy.allclose(y, p)
    assert seen == {"p(x²)", "x·p(x²)", "p(√x)", "p(cx)"}


def test_wrap_output_squares_roots_or_multiplies_by_x():
    parent = horner([1.0, 0.5, 0.25])
    p = _value(parent)
    seen = set()
    for seed in range(40):
        child = wrap_output(parent, numpy.random.default_rng(seed))
        assert child.is_wellformed() and child.cost() == parent.cost() + 1
        y = _value(child)
        for name, expected in (("square", p * p), ("root", numpy.sqrt(p)), ("times x", X * p)):
            if numpy.allclose(y, expected, rtol=1e-12):
                seen.add(name)
    assert seen == {"square", "root", "times x"}


@pytest.mark.parametrize("seed", range(5))
def test_times_x_of_a_quotient_keeps_the_division_last(seed):
    parent = rational([0.5, 1.0], [1.0, 0.3])
    for k in range(30):
        child = wrap_output(parent, numpy.random.default_rng(100 * seed + k))
        if numpy.allclose(_value(child), X * _value(parent), rtol=1e-12):
            assert child.nodes[-1].op == "div"
            return
    pytest.fail("times x never drawn")


def test_substitute_input_can_keep_the_output_factor_x():
    # x·P(x)/Q(x) → x·P(x²)/Q(x²): the odd rational, from the factored form a zero at 0 gets
    from agent.domains.numerics.skeletons import factored_rational

    parent = factored_rational(1, 2, 0.0, ([1.0, 0.5], [1.0, 0.3, 0.1]))
    wanted = X * (1.0 + 0.5 * X**2) / (1.0 + 0.3 * X**2 + 0.1 * X**4)
    found = any(
        numpy.allclose(_value(substitute_input(parent, numpy.random.default_rng(seed))), wanted, rtol=1e-12)
        for seed in range(40)
    )
    assert found
