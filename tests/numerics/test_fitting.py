import numpy
import pytest

from agent.domains.numerics.fitting import FitGrid, analyse, fit_form
from agent.domains.numerics.program import Node, Program, horner, rational
from agent.domains.numerics.skeletons import centred_polynomial, symmetric_rational
from agent.domains.numerics.targets import LD

LN2 = float(numpy.log(2))
ANCHORS = {5: 7.5e-8, 6: 1.9e-9}  # minimax relative error of exp on [0, ln2] (anchors.md)


def _relative_grid(points=600):
    x = numpy.unique(
        numpy.concatenate(
            [numpy.linspace(0, LN2, points), LN2 / 2 * (1 - numpy.cos(numpy.linspace(0, numpy.pi, points)))]
        )
    )
    truth = numpy.exp(x.astype(LD))
    return FitGrid(x, truth, 1 / truth)


def _max_relative(program):
    x = numpy.linspace(0, LN2, 200001)
    truth = numpy.exp(x.astype(LD))
    return float(numpy.max(numpy.abs((program.evaluate(x, numpy.float64) - truth) / truth)))


@pytest.mark.parametrize("degree", [5, 6])
def test_minimax_lp_reproduces_the_anchor_errors(degree):
    grid = _relative_grid()
    program = horner([0.0] * (degree + 1))
    form = analyse(program, grid.x)
    assert form.kind == "linear" and not form.frozen
    fitted = program.with_constants(fit_form(form, grid, program.constants()))
    error = _max_relative(fitted)
    assert error == pytest.approx(ANCHORS[degree], rel=0.05)


def test_rational_forms_are_fitted_by_linearised_lp():
    grid = _relative_grid(300)
    program = rational([0.0] * 4, [1.0, 0.0, 0.0])  # (3, 2): cost 6
    form = analyse(program, grid.x)
    assert form.kind == "rational"
    error = _max_relative(program.with_constants(fit_form(form, grid, program.constants())))
    # minimax (3,2) estimate m!n!/((m+n)!(m+n+1)!)·(ln2/2)^6 ≈ 7.5e-9; the (3,2) Padé at 0 is ~1e-5
    assert 7.0e-9 < error < 8.0e-9


def test_shift_inside_products_is_frozen_and_the_rest_fitted():
    grid = _relative_grid(300)
    program = centred_polynomial(4, 0.35)
    form = analyse(program, grid.x)
    assert form.kind == "linear" and form.frozen == frozenset({0})
    fitted = program.with_constants(fit_form(form, grid, program.constants()))
    assert fitted.constants()[0] == -0.35
    assert _max_relative(fitted) < 3e-6  # the degree-4 minimax is 2.6e-6
    symmetric = symmetric_rational(1, 1, 0.35)
    assert analyse(symmetric, grid.x).kind == "rational"


def test_product_of_two_fitted_constants_is_not_linear():
    nodes = (
        Node("x"),
        Node("const", (), 2.0),
        Node("const", (), 3.0),
        Node("mul", (1, 2)),
        Node("mul", (0, 3)),
    )
    form = analyse(Program(nodes), numpy.linspace(0, 1, 10))
    assert form.kind == "linear" and len(form.frozen) == 1


def test_a_rational_fit_keeps_its_denominator_on_one_side_of_zero():
    # 1/Q(x) for cos on [0, 1.5] (Q ≈ sec x, 1 to 14): the first linearised LP, blind to D's sign,
    # takes Q through zero; without a floor on D the fit stopped at its start (relative error 1.0)
    x = numpy.linspace(0.0, 1.5, 401)
    truth = numpy.cos(x.astype(LD))
    program = rational([0.0], [1.0, 0.0, 0.0])
    form = analyse(program, x)
    fitted = program.with_constants(fit_form(form, FitGrid(x, truth, 1 / truth), program.constants()))
    fine = numpy.linspace(0.0, 1.5, 20001)
    denominator = fitted.with_constants(numpy.r_[1.0, fitted.constants()[1:]]).evaluate(fine, numpy.float64)
    assert numpy.all(1 / denominator > 0)  # numerator set to 1: the sign of 1/Q is Q's
    exact = numpy.cos(fine.astype(LD))
    assert float(numpy.max(numpy.abs(fitted.evaluate(fine, numpy.float64) / exact - 1))) < 0.7


def test_a_constant_factor_is_held_and_the_symmetric_rational_fitted_off_centre():
    # 2^x on [0, 1] = √2 · 2^(x − 1/2): the symmetric quotient is 1 at its centre, so it needs the
    # factor; were the quotient frozen instead (the varying side), only the factor would be fitted
    x = numpy.linspace(0.0, 1.0, 401)
    truth = numpy.exp2(x.astype(LD))
    program = symmetric_rational(1, 1, 0.5, scale=float(numpy.sqrt(2)))
    form = analyse(program, x)
    scale_position = len(program.constants()) - 1
    assert form.kind == "rational" and scale_position in form.frozen
    fitted = program.with_constants(fit_form(form, FitGrid(x, truth, 1 / truth), program.constants()))
    fine = numpy.linspace(0.0, 1.0, 20001)
    exact = numpy.exp2(fine.astype(LD))
    # a (3, 3) rational in t = x − 1/2 on |t| ≤ 1/2: ~1e-10; the unscaled quotient could not go under 3%
    assert float(numpy.max(numpy.abs(fitted.evaluate(fine, numpy.float64) / exact - 1))) < 1e-9
