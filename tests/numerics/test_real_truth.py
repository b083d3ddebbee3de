"""The mpmath twin of every target is real where the target is defined: cbrt of a negative x.

mpmath's own `cbrt` is the principal complex root (cbrt(-8) = 1 + 1.732i), and the complex
Taylor coefficients stopped `strop evolve numerics --fn cbrt --interval=-1,1` with
"internal error: TypeError: float() argument must be ... not 'mpc'".
"""

import math

import mpmath
import numpy
import pytest

from agent.domains.numerics.discovery import discover
from agent.domains.numerics.request import Request
from agent.domains.numerics.skeletons import Shape, taylor_and_pade
from agent.domains.numerics.targets import FORMATS, TARGETS


@pytest.mark.parametrize("x", [-8.0, -1.0, -0.3, -1e-30, 0.0, 0.7, 27.0])
def test_cbrt_truth_is_the_real_cube_root(x):
    with mpmath.workdps(40):
        value = TARGETS["cbrt"].mp(mpmath.mpf(x))
        assert isinstance(value, mpmath.mpf), value
        assert abs(value**3 - x) <= 1e-35 * max(1.0, abs(x))
        assert value == 0 if x == 0 else math.copysign(1.0, float(value)) == math.copysign(1.0, x)
    longdouble = TARGETS["cbrt"].truth(numpy.array([x]), FORMATS["float64"])[0]
    assert float(longdouble) == pytest.approx(float(value), rel=1e-15, abs=0)


# points on each side of every target's allowed interval: asin's [-1, 1], log's x > 0, log1p's x > -1
EDGES = {"log": (1e-300, 3.0), "log2": (1e-300, 3.0), "log10": (1e-300, 3.0), "log1p": (-0.999, 3.0)}


@pytest.mark.parametrize("fn", list(TARGETS))
def test_every_twin_is_real_on_its_whole_domain(fn):
    lo, hi = EDGES.get(fn, (-1.0, 1.0) if fn == "asin" else (-3.0, 3.0))
    target = TARGETS[fn]
    with mpmath.workdps(30):
        for x in numpy.linspace(lo, hi, 41):
            if target.period is not None and not target.defined_on(float(x), float(x)):
                continue
            assert isinstance(target.mp(mpmath.mpf(float(x))), mpmath.mpf), (fn, float(x))


def test_taylor_and_pade_of_cbrt_on_negative_numbers_approximate_it():
    baselines = dict(
        (b.name, b.program) for b in taylor_and_pade(TARGETS["cbrt"].mp, -2.0, -1.0, 12, Shape())
    )
    x = numpy.linspace(-2.0, -1.0, 101)
    value = baselines["taylor-8"].evaluate(x, numpy.float64)
    assert numpy.max(numpy.abs(value - numpy.cbrt(x))) < 1e-4


def _cbrt(lo: float, hi: float) -> Request:
    return Request(
        "cbrt", lo, hi, "float64", time_budget=None, generations=0, workers=0,
        population=2, islands=1, max_cost=4, cost_model="ops",
    )  # fmt: skip


def test_cbrt_below_zero_runs_to_a_report():
    request = _cbrt(-2.0, -1.0)
    request.validate()
    report = discover(request)
    assert report.baselines
    assert min(entry.max_rel_error for entry in report.front) < 1e-4  # cost 4 in float64


@pytest.mark.parametrize(("lo", "hi"), [(-1.0, 1.0), (0.0, 1.0), (-1.0, 0.0)])
def test_cbrt_on_an_interval_holding_zero_is_refused_up_front(lo, hi):
    """x^(1/3) has an infinite slope at 0: no polynomial or rational keeps a bounded relative error
    there, and the search ran to a report whose front held nothing ("10 approximate nothing")."""
    from agent.domains.numerics.request import NumericsInputError

    with pytest.raises(NumericsInputError, match="infinite slope at 0"):
        _cbrt(lo, hi).validate()
