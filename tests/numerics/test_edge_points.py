"""The verification set keeps the interval's smallest-magnitude inputs, thinned or not.

The ordinal stride of the sampled set (~2,000 ordinals over [-1, 1] in float32) stepped over the
smallest subnormals: a sin program returning 0 for 863 of them (relative error 1: it approximates
nothing there) read 8.8e-4, and tanh's worst relative error near x = 2.4e-7 read 0.028 for 0.044.
"""

import numpy

from agent.deadline import Deadline
from agent.domains.numerics.domain import NumericsDomain
from agent.domains.numerics.measure import Reference
from agent.domains.numerics.points import PLANS, edge_points, from_ordinal, verification_points
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


def _rel_error(x: numpy.ndarray) -> float:
    reference = Reference(x, TARGETS["sin"].truth(x, FLOAT32), FLOAT32)
    return reference.measure(UNDERFLOWS.run_chunked(x, FLOAT32)).max_rel_error


def test_the_smallest_subnormals_are_verified_and_a_zero_there_is_relative_error_1():
    x = verification_points(-1.0, 1.0, FLOAT32)
    edge = PLANS["float32"].edge
    around_zero = from_ordinal(numpy.arange(-edge, edge + 1, dtype=numpy.int64), FLOAT32)
    assert numpy.isin(around_zero, x).all()
    assert _rel_error(x) == 1.0  # 0 for a nonzero sin(x): the report filters it as approximating nothing


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
    (errors,) = verifier.measure([UNDERFLOWS])
    assert errors is not None and errors.max_rel_error == 1.0
