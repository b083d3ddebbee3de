"""Where errors are measured: the search grid and the verification set.

Search grid: uniform and Chebyshev points of the interval plus its endpoints, rounded to
the format (every input is a number the format can hold), deduplicated and sorted.

Verification set, the same rule as the generated C harness (which re-implements it):
  A. N_A points evenly spaced in value:  x_k = fmt(lo + (hi − lo)·(k / (N_A − 1)));
  B. N_B points evenly spaced in the *ordinal* of the format (the integer order of its
     numbers), so tiny inputs near 0 are covered as densely as large ones:
     o_k = o_lo + q·k + (r·k) // (N_B − 1) with (q, r) = divmod(o_hi − o_lo, N_B − 1);
  C. every number of the format in the top sub-interval: the last N_C ordinals up to hi;
  D. the edges (`edge_points`): the first and last N_D ordinals of the interval and, when it
     holds 0, the N_D ordinals on each side of 0 (the smallest subnormals), and of each zero
     of the function it holds (log at 1, sin at the double nearest π);
  or, when the interval holds at most 2^24 numbers of the format, all of them.
float32: N_A = 2^21, N_B = 2^20, N_C = 2^22 (all of [0.75, 1] for [0, 1]): about 7.3M inputs.
float64: N_A = 2^20, N_B = 2^18, N_C = 2^18. Both: N_D = 4096.

D is there because A and B step over the smallest magnitudes: B's stride over [-1, 1] in
float32 is ~2,000 ordinals, so a sin program returning 0 for 863 subnormals (relative error 1:
it approximates nothing there) read 8.8e-4, and tanh's worst relative error at x = 2.4e-7 read
0.028 for 0.044; a log program on [0.5, 2] that returns 0 at 1 ± 1 ulp read 3.4e-8, not 1.
A thinned set keeps D whole (`verification.Verifier`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy

from agent.domains.numerics.targets import Format


@dataclass(frozen=True)
class VerificationPlan:
    stratified: int
    ordinal: int
    top: int
    exhaustive_limit: int = 1 << 24
    edge: int = 4096  # N_D: ordinals kept at each end of the interval and on each side of 0 and of a zero


PLANS = {
    "float32": VerificationPlan(1 << 21, 1 << 20, 1 << 22),
    "float64": VerificationPlan(1 << 20, 1 << 18, 1 << 18),
}


def _int_type(fmt: Format) -> tuple[type, type]:
    return (numpy.int32, numpy.uint32) if fmt.precision <= 24 else (numpy.int64, numpy.uint64)


def to_ordinal(x: numpy.ndarray, fmt: Format) -> numpy.ndarray:
    """Monotone integer code of each number of the format (−0 and +0 both map to 0)."""
    signed, _ = _int_type(fmt)
    bits = numpy.asarray(x, dtype=fmt.dtype).view(signed).astype(numpy.int64)
    magnitude = bits & numpy.int64((1 << (63 if signed is numpy.int64 else 31)) - 1)
    return numpy.where(bits < 0, -magnitude, magnitude)


def from_ordinal(ordinal: numpy.ndarray, fmt: Format) -> numpy.ndarray:
    signed, _ = _int_type(fmt)
    ordinal = numpy.asarray(ordinal, dtype=numpy.int64)
    sign_bit = numpy.int64(1) << (63 if signed is numpy.int64 else 31)
    bits = numpy.where(ordinal < 0, (-ordinal) | sign_bit, ordinal)
    if signed is numpy.int32:
        return bits.astype(numpy.uint32).view(numpy.float32).astype(numpy.float64)
    return bits.astype(numpy.uint64).view(numpy.float64)


def search_grid(lo: float, hi: float, fmt: Format, count: int) -> numpy.ndarray:
    """About `count` distinct inputs of the format in [lo, hi], denser near the ends."""
    half = count // 2
    uniform = numpy.linspace(lo, hi, half)
    chebyshev = lo + (hi - lo) * 0.5 * (1 - numpy.cos(numpy.linspace(0.0, numpy.pi, count - half)))
    ordinals = numpy.linspace(
        float(to_ordinal(numpy.array([lo]), fmt)[0]), float(to_ordinal(numpy.array([hi]), fmt)[0]), 64
    )
    spread = from_ordinal(numpy.round(ordinals).astype(numpy.int64), fmt)
    values = numpy.concatenate([uniform, chebyshev, spread, [lo, hi]]).astype(fmt.dtype).astype(numpy.float64)
    values = values[(values >= lo) & (values <= hi)]
    return numpy.unique(values)


def verification_points(lo: float, hi: float, fmt: Format, zeros: Sequence[float] = ()) -> numpy.ndarray:
    """The verification set described in the module docstring (float64 values, sorted, unique);
    `zeros`: the function's zeros inside [lo, hi] (`domain.zeros_of`), each with its edge."""
    plan = PLANS[fmt.name]
    first, last = (int(v) for v in to_ordinal(numpy.array([lo, hi]), fmt))
    if last - first + 1 <= plan.exhaustive_limit:
        return from_ordinal(numpy.arange(first, last + 1, dtype=numpy.int64), fmt)
    k = numpy.arange(plan.stratified, dtype=numpy.float64)
    stratified = (lo + (hi - lo) * (k / (plan.stratified - 1))).astype(fmt.dtype).astype(numpy.float64)
    steps = numpy.arange(plan.ordinal, dtype=numpy.int64)
    span = last - first
    quotient, remainder = divmod(span, plan.ordinal - 1)  # span·k/(n−1) without int64 overflow
    ordinal = from_ordinal(first + quotient * steps + (remainder * steps) // (plan.ordinal - 1), fmt)
    top = from_ordinal(numpy.arange(last - plan.top + 1, last + 1, dtype=numpy.int64), fmt)
    return numpy.unique(
        numpy.concatenate([stratified, ordinal, top, edge_points(lo, hi, fmt, zeros), [lo, hi]])
    )


def edge_points(lo: float, hi: float, fmt: Format, zeros: Sequence[float] = ()) -> numpy.ndarray:
    """Part D of the verification set: the first and last `edge` ordinals of [lo, hi] and the `edge`
    ordinals on each side of 0 and of each of `zeros` that it holds (sorted, unique; see the module
    docstring)."""
    edge = PLANS[fmt.name].edge
    first, last = (int(v) for v in to_ordinal(numpy.array([lo, hi]), fmt))
    spans = [(first, min(last, first + edge - 1)), (max(first, last - edge + 1), last)]
    centres = {0, *(int(v) for v in to_ordinal(numpy.array(zeros, dtype=numpy.float64), fmt))}
    for centre in sorted(centres):
        if first <= centre <= last:
            spans.append((max(first, centre - edge), min(last, centre + edge)))
    ordinals = numpy.concatenate([numpy.arange(a, b + 1, dtype=numpy.int64) for a, b in spans])
    return numpy.unique(from_ordinal(ordinals, fmt))


def count_in(lo: float, hi: float, fmt: Format) -> int:
    """How many numbers of the format lie in [lo, hi]."""
    first, last = (int(v) for v in to_ordinal(numpy.array([lo, hi]), fmt))
    return last - first + 1
