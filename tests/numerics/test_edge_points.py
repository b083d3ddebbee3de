"""The verification set keeps the interval's smallest-magnitude inputs, thinned or not.

The ordinal stride of the sampled set (~2,000 ordinals over [-1, 1] in float32) stepped over the
smallest subnormals: a sin program returning 0 for 863 of them (relative error 1: it approximates
nothing there) read 8.8e-4, and tanh's worst relative error near x = 2.4e-7 read 0.028 for 0.044.
"""

import numpy

from agent.deadline import Deadline
from agent.domains.numerics.domain import NumericsDomain
from agent.domains.numerics.measure import Errors, Reference
from agent.domains.numerics.points import PLANS, edge_points, from_ordinal, to_ordinal, verification_points
from agent.domains.numerics.program import Node, Program
from agent.domains.numerics.request import Request
from agent.domains.numerics.targets import FORMATS, TARGETS
from agent.domains.numerics.verification import Verifier

FLOAT32 = FORMATS["float32"]
# sin(x) ≈ (x·2^-10)·2^10 = x: exact for normal x, but x·2^-10 underflows to 0 for the ~512 smallest
# subnormals on each side of 0, where the program returns 0 (relative error 1)
UNDERFLOWS = Program(
    (
        Node("x"),
        Node("const", (), 2.0**-10),
        Node("mul", (0, 1)),
        Node("const", (), 2.0**10),
        Node("mul", (2, 3)),
    )
)


def _subnormal_errors(x: numpy.ndarray) -> Errors:
    """UNDERFLOWS's errors on the inputs of `x` below the smallest normal (elsewhere it is x for sin x)."""
    tiny = x[numpy.abs(x) < FLOAT32.smallest_normal]
    reference = Reference(tiny, TARGETS["sin"].truth(tiny, FLOAT32), FLOAT32)
    return reference.measure(UNDERFLOWS.run_chunked(tiny, FLOAT32))


def test_the_smallest_subnormals_are_verified_and_a_zero_there_is_relative_error_1():
    x = verification_points(-1.0, 1.0, FLOAT32)
    edge = PLANS["float32"].edge
    around_zero = from_ordinal(numpy.arange(-edge, edge + 1, dtype=numpy.int64), FLOAT32)
    assert numpy.isin(around_zero, x).all()
    errors = _subnormal_errors(x)
    # 0 for the 512 subnormals whose x·2^-10 underflows: 512 ULP, and relative error 1 (it approximates
    # nothing there: the floor at the smallest normal alone read 2^-14)
    assert errors.max_ulp == 512 and errors.max_rel_error == 1.0


def test_both_ends_of_an_interval_away_from_zero_are_verified_whole():
    x = verification_points(0.25, 3.0, FLOAT32)
    ends = edge_points(0.25, 3.0, FLOAT32)
    assert len(ends) == 2 * PLANS["float32"].edge and numpy.isin(ends, x).all()
    assert ends.min() == 0.25 and ends.max() == 3.0


def test_a_thinned_sampled_set_keeps_the_edges(tmp_path):
    request = Request("sin", -1.0, 1.0, "float32", time_budget=None, max_cost=3, exhaustive=False)
    domain = NumericsDomain("sin", -1.0, 1.0, "float32", max_cost=3)
    verifier = Verifier(domain, request, Deadline.after(0.5), exhaustive=False, programs=[UNDERFLOWS] * 8)
    assert verifier.kind == "sampled (thinned to fit the time)"
    assert numpy.isin(edge_points(-1.0, 1.0, FLOAT32), verifier.reference.x).all()
    assert _subnormal_errors(verifier.reference.x).max_ulp == 512


FLOAT64 = FORMATS["float64"]


def _log_through_sqrt() -> Program:
    """log(x) = 2·log1p(t), t = √x − 1, by 12 terms of the series: ~1e-6 relative on [0.5, 2] but 0
    at 1 + 1 ulp, where √x rounds to exactly 1, and twice log at 1 − 1 ulp (relative error 1 both)."""
    nodes = [Node("x"), Node("sqrt", (0,)), Node("const", (), -1.0), Node("add", (1, 2))]  # t at 3
    nodes.append(Node("const", (), (-1.0) ** 13 / 12))
    for k in range(11, 0, -1):  # Horner of Σ (−1)^(k+1) t^k / k, divided by t
        nodes += [Node("mul", (len(nodes) - 1, 3)), Node("const", (), (-1.0) ** (k + 1) / k)]
        nodes.append(Node("add", (len(nodes) - 2, len(nodes) - 1)))
    nodes += [Node("mul", (len(nodes) - 1, 3)), Node("const", (), 2.0)]
    nodes.append(Node("mul", (len(nodes) - 2, len(nodes) - 1)))
    return Program(tuple(nodes))


def test_a_zero_inside_the_interval_is_verified_on_each_side():
    """A log program returning 0 next to 1 read 3.4e-8 and was counted as a discovery."""
    program = _log_through_sqrt()
    domain = NumericsDomain("log", 0.5, 2.0, "float64", max_cost=40)
    assert domain.zeros == [1.0]
    near = from_ordinal(numpy.array([-1, 1]) + int(to_ordinal(numpy.array([1.0]), FLOAT64)[0]), FLOAT64)
    assert program.run(near, FLOAT64)[1] == 0.0  # √(1 + 2⁻⁵²) is 1
    request = Request("log", 0.5, 2.0, "float64", time_budget=None, max_cost=40, exhaustive=False)
    verifier = Verifier(domain, request, Deadline(), exhaustive=False, programs=[program])
    assert numpy.isin(near, verifier.reference.x).all()
    (errors,) = verifier.measure([program])
    assert errors is not None and errors.max_rel_error == 1.0
    away = verifier.reference.x[numpy.abs(verifier.reference.x - 1.0) > 1e-3]
    elsewhere = Reference(away, TARGETS["log"].truth(away, FLOAT64), FLOAT64)
    assert elsewhere.measure(program.run_chunked(away, FLOAT64)).max_rel_error < 1e-4  # fine elsewhere
    assert numpy.isin(near, domain.score.x).all()  # the search grid holds them too


def test_every_zero_of_the_function_is_found():
    """Exact ones (sin at 0) and those the format cannot hold (the double nearest π)."""
    assert NumericsDomain("sin", -4.0, 4.0, "float64", max_cost=4).zeros == [-numpy.pi, 0.0, numpy.pi]
    assert NumericsDomain("exp", -1.0, 1.0, "float64", max_cost=4).zeros == []


def test_relative_error_is_floored_at_the_smallest_normal():
    """erf(x) ≈ (2/√π)·x rounds 11% off at 5e-324 however it is computed: every float64 erf program on
    [0, 2] read ≥ 0.11 once the verification set held the smallest subnormals."""
    from agent.domains.numerics.measure import measure

    slope = Program((Node("x"), Node("const", (), 2 / numpy.sqrt(numpy.pi)), Node("mul", (0, 1))))
    x = edge_points(0.0, 2.0, FLOAT64)
    x = x[x < FLOAT64.smallest_normal]
    truth = TARGETS["erf"].truth(x, FLOAT64)
    y = slope.run(x, FLOAT64)
    assert Reference(x, truth, FLOAT64).measure(y).max_rel_error <= 2.0**-52
    assert measure(x, y, truth, FLOAT64).max_rel_error <= 2.0**-52
    zero = Reference(x, truth, FLOAT64).measure(numpy.zeros_like(y))  # 0 is no erf: it approximates nothing
    assert zero.max_ulp > 4000 and zero.max_rel_error == 1.0
    assert measure(x, numpy.zeros_like(y), truth, FLOAT64).max_rel_error == 1.0
