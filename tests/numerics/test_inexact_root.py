"""A zero the format cannot hold (cos at π/2): the baselines are centred at the nearest number.

Before, cos on [0, π/2] in float64 had every baseline at relative error 1.0 or worse: forms in x
or x² cannot produce cos(hi) = 6.1e-17 to relative precision, and the front's "novel" points
were 143× better than a baseline that was 100% wrong.
"""

import math

import numpy
import pytest

from agent.domains.numerics.baselines import baseline_programs
from agent.domains.numerics.domain import NumericsDomain
from agent.domains.numerics.measure import measure
from agent.domains.numerics.points import from_ordinal, to_ordinal
from agent.domains.numerics.skeletons import centred_polynomial

HALF_PI = math.pi / 2  # the double nearest π/2: cos there is 6.1e-17


def _relative_errors(domain: NumericsDomain) -> dict[str, float]:
    result = {}
    for name, program in baseline_programs(domain):
        approx = program.run(domain.score.x, domain.format)
        result[name] = measure(domain.score.x, approx, domain.score.truth, domain.format).max_rel_error
    return result


def test_cos_to_half_pi_in_float64_has_sane_baselines():
    domain = NumericsDomain("cos", 0.0, HALF_PI, "float64", max_cost=6, cost_model_name="ops")
    assert domain.shape.root == HALF_PI
    errors = _relative_errors(domain)
    assert errors["minimax-5"] < 1e-4  # 1.0 before: p(x) in x
    assert errors["taylor-5"] < 1e-2  # taken at the root, not at π/4
    assert all(error < 1 for error in errors.values()), errors


@pytest.mark.parametrize(
    ("fn", "lo", "hi", "dtype", "root"),
    [
        ("cos", 1.0, 2.0, "float32", 1.5707963705062866),  # a sign change inside
        ("sin", 3.0, 3.25, "float64", math.pi),
        ("cos", -1.0, 1.0, "float32", None),  # no zero
        ("exp", -100.0, -80.0, "float64", None),  # tiny at the end, but no zero anywhere
        ("log", 0.5, 2.0, "float32", None),  # an exact zero (at 1) is factored instead
    ],
)
def test_the_root_is_the_formats_number_nearest_the_zero(fn, lo, hi, dtype, root):
    assert NumericsDomain(fn, lo, hi, dtype, max_cost=4).shape.root == root


def test_the_fit_sees_the_inputs_next_to_the_root():
    """cos on [1, 2] in float32: the grid's evenly spread points missed the neighbourhood of π/2,
    where relative error peaks; a degree-5 fit read 12 ULP on the grid and was 64 ULP there."""
    domain = NumericsDomain("cos", 1.0, 2.0, "float32", max_cost=8)
    root = domain.shape.root
    program = domain.fitted(centred_polynomial(5, root))
    centre = int(to_ordinal(numpy.array([root]), domain.format)[0])
    near = from_ordinal(numpy.arange(centre - 20000, centre + 20000), domain.format)
    grid = measure(
        domain.score.x, program.run(domain.score.x, domain.format), domain.score.truth, domain.format
    )
    dense = measure(
        near, program.run(near, domain.format), domain.target.truth(near, domain.format), domain.format
    )
    assert dense.max_ulp < 8
    assert dense.max_ulp <= 1.1 * grid.max_ulp
