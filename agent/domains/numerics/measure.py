"""Error measures: ULPs of the target format, and relative error, against extended truth.

The ULP of a true value t in a format of p significand bits is 2^(e-p) where
t = m·2^e with m in [0.5, 1) (frexp), floored at the format's smallest subnormal: the
spacing of the format's numbers around t, which is what `numpy.spacing` returns for a
representable t. Computed in longdouble so that the truth's own digits survive.

Relative error is |y − t| / max(|t|, the format's smallest normal): below that the format's
numbers are evenly spaced by its smallest subnormal, so |y − t|/|t| of the correctly rounded y
grows to 1/2 at the smallest subnormals (erf(5e-324) rounds 11% off; every float64 erf program on
[0, 2] read ≥ 0.11), while the floor keeps it at the format's own precision there. Two cases stay
whole: at an exact zero of f (t = 0) any y ≠ 0 is infinitely wrong, and y = 0 where t rounds to a
number that is not 0 (a program flushing tiny results) is relative error 1: it approximates nothing
there, which the floor alone read as 4e-13.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy

from agent.domains.numerics.targets import LD, Format


def ulp_of(truth: numpy.ndarray, fmt: Format) -> numpy.ndarray:
    """The format's ULP at each true value (longdouble)."""
    values = numpy.abs(numpy.asarray(truth, dtype=LD))
    _, exponent = numpy.frexp(values)
    ulp = numpy.ldexp(LD(1), (exponent - fmt.precision).astype(numpy.int32))
    ulp = numpy.where(values == 0, LD(fmt.smallest_subnormal), ulp)
    return numpy.maximum(ulp, LD(fmt.smallest_subnormal))


@dataclass(frozen=True)
class Errors:
    """Maximum errors of an approximation over a set of points."""

    max_ulp: float
    max_rel_error: float
    worst_x: float
    points: int


def ulp_errors(approx: numpy.ndarray, truth: numpy.ndarray, fmt: Format) -> numpy.ndarray:
    """|approx − truth| in ULPs of the format at the true value; nan/inf give inf."""
    approx_ld = numpy.asarray(approx).astype(LD)
    with numpy.errstate(all="ignore"):
        errors = numpy.abs(approx_ld - truth) / ulp_of(truth, fmt)
    return numpy.where(numpy.isfinite(errors), errors, LD(numpy.inf))


def measure(x: numpy.ndarray, approx: numpy.ndarray, truth: numpy.ndarray, fmt: Format) -> Errors:
    """Max ULP and max relative error of `approx` against `truth` at inputs `x`."""
    ulps = ulp_errors(approx, truth, fmt)
    approx_ld = numpy.asarray(approx).astype(LD)
    with numpy.errstate(all="ignore"):
        relative = numpy.abs(approx_ld - truth) / numpy.maximum(numpy.abs(truth), LD(fmt.smallest_normal))
    relative = numpy.where(numpy.isfinite(relative) | (truth == 0), relative, LD(numpy.inf))
    relative = numpy.where(truth == 0, numpy.where(approx_ld == 0, LD(0), LD(numpy.inf)), relative)
    relative = numpy.where(_flushed(approx_ld, truth, fmt), LD(1), relative)
    worst = int(numpy.argmax(ulps)) if len(ulps) else 0
    return Errors(
        max_ulp=float(numpy.max(ulps)) if len(ulps) else 0.0,
        max_rel_error=float(numpy.max(relative)) if len(relative) else 0.0,
        worst_x=float(x[worst]) if len(ulps) else 0.0,
        points=len(ulps),
    )


def _flushed(approx: numpy.ndarray, truth: numpy.ndarray, fmt: Format) -> numpy.ndarray:
    """Where a program gave 0 for a truth that rounds to a number of the format that is not 0."""
    return (approx == 0) & (numpy.abs(truth) > fmt.smallest_subnormal / 2)


class Reference:
    """Truth on a fixed point set, prepared once, for measuring many programs quickly.

    The longdouble truth is split into float64 high and low parts, so each measurement is
    float64 arithmetic: |y − t| = |(y − t_hi) − t_lo|, exact enough for ULPs of float32 and
    float64 results (the subtraction y − t_hi is exact when y is near t). The error is
    divided by the ULP, not multiplied by its inverse: a float64 ULP near a zero of the
    function is 2^-1074, whose inverse overflows float64 (0·inf made the exact answer at
    tanh(0) a NaN, and every float64 front through a zero read "nan ULP").
    """

    def __init__(self, x: numpy.ndarray, truth: numpy.ndarray, fmt: Format) -> None:
        self.x = x
        self.format = fmt
        self.high = truth.astype(numpy.float64)
        self.low = (truth - self.high.astype(LD)).astype(numpy.float64)
        self.ulp = ulp_of(truth, fmt).astype(numpy.float64)
        self.magnitude = numpy.where(
            self.high == 0, 0.0, numpy.maximum(numpy.abs(self.high), fmt.smallest_normal)
        )
        self.not_zero = numpy.abs(self.high) > fmt.smallest_subnormal / 2  # rounds to no 0 (`_flushed`)

    def measure(self, approx: numpy.ndarray) -> Errors:
        with numpy.errstate(all="ignore"):
            error = numpy.abs((approx.astype(numpy.float64) - self.high) - self.low)
            ulps = numpy.where(numpy.isfinite(error), error / self.ulp, numpy.inf)
            relative = numpy.where(
                self.magnitude > 0, error / self.magnitude, numpy.where(error == 0, 0.0, numpy.inf)
            )
        relative = numpy.where(numpy.isfinite(relative), relative, numpy.inf)
        relative = numpy.where((approx == 0) & self.not_zero, 1.0, relative)
        worst = int(numpy.argmax(ulps))
        return Errors(float(ulps[worst]), float(numpy.max(relative)), float(self.x[worst]), len(self.x))
