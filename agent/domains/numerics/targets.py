"""The functions to approximate, the floating-point formats, and the ground truth.

Truth is computed in x87 extended precision (NumPy `longdouble`, 64-bit significand,
glibc's `expl`, `exp2l`, ...: about 2^-63 relative error, three orders of magnitude
below a float64 ULP). `erf` has no `longdouble` kernel in NumPy: for float32 targets
SciPy's float64 `erf` (a few float64 ULPs) is far below a float32 ULP; for float64
targets it is computed point by point with mpmath at 30 digits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy

LD = numpy.longdouble


@dataclass(frozen=True)
class Format:
    """A binary floating-point format: its NumPy type, significand bits and C spelling."""

    name: str
    dtype: type[numpy.floating]
    precision: int  # significand bits, hidden bit included
    smallest_subnormal: float
    c_type: str
    c_suffix: str  # for libm calls and literals: "f" or ""


FORMATS: dict[str, Format] = {
    "float32": Format("float32", numpy.float32, 24, 2.0**-149, "float", "f"),
    "float64": Format("float64", numpy.float64, 53, 2.0**-1074, "double", ""),
}


def _erf_truth(x: numpy.ndarray, fmt: Format) -> numpy.ndarray:
    if fmt.precision <= 24:
        from scipy.special import erf

        return erf(x.astype(numpy.float64)).astype(LD)
    import mpmath

    with mpmath.workdps(30):
        values = [mpmath.erf(mpmath.mpf(float(v))) for v in x.astype(numpy.float64)]
        return numpy.array([LD(mpmath.nstr(v, 25)) for v in values], dtype=LD)


@dataclass(frozen=True)
class Target:
    """A function to approximate: its truth in extended precision and its mpmath twin."""

    name: str
    c_truth: str  # the C `long double` libm function the harness uses
    domain_low: float  # the function is defined (and finite) strictly above this
    extended: Callable[[numpy.ndarray], numpy.ndarray] | None  # longdouble kernel, if any
    mp: Callable[[object], object]

    def truth(self, x: numpy.ndarray, fmt: Format) -> numpy.ndarray:
        """f(x) in longdouble for inputs x that are exact values of the format."""
        if self.extended is not None:
            with numpy.errstate(all="ignore"):
                return self.extended(numpy.asarray(x, dtype=LD))
        return _erf_truth(numpy.asarray(x), fmt)


def _mp(name: str) -> Callable[[object], object]:
    import mpmath

    return {
        "exp": mpmath.exp,
        "exp2": lambda v: mpmath.power(2, v),
        "log": mpmath.log,
        "log2": lambda v: mpmath.log(v, 2),
        "erf": mpmath.erf,
        "sin": mpmath.sin,
    }[name]


class _MpTwin:
    """A picklable handle on the mpmath function of a target."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, value: object) -> object:
        return _mp(self.name)(value)


TARGETS: dict[str, Target] = {
    "exp": Target("exp", "expl", -numpy.inf, numpy.exp, _MpTwin("exp")),
    "exp2": Target("exp2", "exp2l", -numpy.inf, numpy.exp2, _MpTwin("exp2")),
    "log": Target("log", "logl", 0.0, numpy.log, _MpTwin("log")),
    "log2": Target("log2", "log2l", 0.0, numpy.log2, _MpTwin("log2")),
    "erf": Target("erf", "erfl", -numpy.inf, None, _MpTwin("erf")),
    "sin": Target("sin", "sinl", -numpy.inf, numpy.sin, _MpTwin("sin")),
}
