"""The functions to approximate, the floating-point formats, and the ground truth.

Truth is computed in x87 extended precision (NumPy `longdouble`, 64-bit significand,
glibc's `expl`, `cosl`, ...: about 2^-63 relative error, three orders of magnitude
below a float64 ULP). `erf` has no `longdouble` kernel in NumPy: for float32 targets
SciPy's float64 `erf` (a few float64 ULPs) is far below a float32 ULP; for float64
targets it is computed point by point with mpmath at 30 digits.

Every function is one `Target` row: its libm names follow one pattern (`f` for the
float function, `l` for long double, the bare name for double), its NumPy name, the
interval where it is finite, and its shape (odd, even, exp-like) for the baselines.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy

LD = numpy.longdouble


@dataclass(frozen=True)
class Format:
    """A binary floating-point format: its NumPy type, significand bits and C spelling.

    `inside` names a wider format the program computes in, when it is not this one: float32
    in and out with float64 arithmetic, one rounding at the end, is how glibc's float
    functions (expf, log2f, ...) reach < 1 ULP. Errors are always in ULPs of this format.
    """

    name: str
    dtype: type[numpy.floating]
    precision: int  # significand bits, hidden bit included
    smallest_subnormal: float
    c_type: str
    c_suffix: str  # for libm calls and literals: "f" or ""
    inside: str | None = None

    @property
    def smallest_normal(self) -> float:
        """Below it the format's spacing is fixed (the smallest subnormal): relative error is floored
        here (`measure`), or a correctly rounded erf(5e-324) would read 11% off."""
        return float(numpy.finfo(self.dtype).tiny)

    @property
    def arithmetic(self) -> Format:
        """The format every operation of a program rounds to."""
        return FORMATS[self.inside] if self.inside else self

    @property
    def label(self) -> str:
        return f"{self.name} ({self.inside} inside)" if self.inside else self.name

    def computed_in(self, name: str | None) -> Format:
        """This format for inputs and outputs, with the arithmetic of `name` (None: its own)."""
        if name is None or name == self.name:
            return replace(self, inside=None)
        if name not in FORMATS or FORMATS[name].precision <= self.precision:
            wider = [f for f in FORMATS.values() if f.precision > self.precision]
            choices = " or ".join([self.name] + [f.name for f in wider])
            raise ValueError(f"{self.name} programs compute in {choices}, not {name!r}")
        return replace(self, inside=name)


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


def _real_cbrt(value: object) -> object:
    """The real cube root, odd on all reals: mpmath's `cbrt` is the principal complex root, so
    cbrt(-8) is 1 + 1.732i, not -2, and a complex value broke the baselines' Taylor series."""
    import mpmath

    return mpmath.sign(value) * mpmath.cbrt(abs(value))


def _mp(name: str) -> Callable[[object], object]:
    """mpmath's twin of a target, real wherever the target is defined (`Target.defined_on`).

    Every other mpmath function here is real on the target's domain: exp, exp2 (as 2^x),
    expm1, erf, the trigonometric and hyperbolic ones and atan on all reals; the logs on the
    x > 0 or x > -1 their `lowest` keeps; asin on the [-1, 1] its ends keep.
    """
    import mpmath

    special = {
        "exp2": lambda v: mpmath.power(2, v),
        "log2": lambda v: mpmath.log(v, 2),
        "cbrt": _real_cbrt,
    }
    return special.get(name) or getattr(mpmath, name)


class _MpTwin:
    """A picklable handle on the mpmath function of a target."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, value: object) -> object:
        return _mp(self.name)(value)


@dataclass(frozen=True)
class Target:
    """A function to approximate: its truth in extended precision, its libm and NumPy names."""

    name: str  # also libm's double function; `f` and `l` suffixes give float and long double
    numpy_name: str | None  # NumPy's ufunc (longdouble kernel), None where NumPy has none
    lowest: float = -math.inf  # the function is finite on [lowest, highest]
    highest: float = math.inf
    period: float | None = None  # poles at period/2 + k·period (tan): an interval must avoid them
    domain_text: str = ""  # where it is defined, for the error a user sees
    odd: bool = False  # f(−x) = −f(x): x·q(x²) forms apply about a zero at 0
    even: bool = False  # f(−x) = f(x): q(x²) forms apply
    exp_like: bool = False  # f(−x) = 1/f(x): symmetric rationals apply
    cusp: float | None = None  # where f's derivative is infinite (cbrt at 0): no program's relative
    # error is bounded on an interval holding it, so such an interval is refused

    @property
    def c_truth(self) -> str:
        """The C `long double` libm function the generated harness measures against."""
        return f"{self.name}l"

    @property
    def c_float(self) -> str:
        """glibc's float function (and, with libmvec's prefix, its 8-wide vector version)."""
        return f"{self.name}f"

    @property
    def mp(self) -> Callable[[object], object]:
        return _MpTwin(self.name)

    def numpy_function(self) -> Callable[..., numpy.ndarray]:
        """The ufunc a NumPy user would call (SciPy's for erf, which NumPy lacks)."""
        if self.numpy_name is None:
            from scipy.special import erf

            return erf
        return getattr(numpy, self.numpy_name)

    def truth(self, x: numpy.ndarray, fmt: Format) -> numpy.ndarray:
        """f(x) in longdouble for inputs x that are exact values of the format."""
        if self.numpy_name is not None:
            with numpy.errstate(all="ignore"):
                return getattr(numpy, self.numpy_name)(numpy.asarray(x, dtype=LD))
        return _erf_truth(numpy.asarray(x), fmt)

    def defined_on(self, lo: float, hi: float) -> bool:
        """Whether f is finite on all of [lo, hi] (for tan: no pole between the ends)."""
        if lo < self.lowest or hi > self.highest:
            return False
        if self.period is None:
            return True
        branch = math.floor((lo + self.period / 2) / self.period)
        return branch == math.floor((hi + self.period / 2) / self.period)


_TINY = math.ulp(0.0)  # the smallest positive double: "strictly above 0"
TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("exp", "exp", exp_like=True),
        Target("exp2", "exp2", exp_like=True),
        Target("expm1", "expm1"),
        Target("log", "log", lowest=_TINY, domain_text="x > 0"),
        Target("log2", "log2", lowest=_TINY, domain_text="x > 0"),
        Target("log10", "log10", lowest=_TINY, domain_text="x > 0"),
        Target("log1p", "log1p", lowest=math.nextafter(-1.0, 0.0), domain_text="x > -1"),
        Target("erf", None, odd=True),
        Target("sin", "sin", odd=True),
        Target("cos", "cos", even=True),
        Target("tan", "tan", period=math.pi, odd=True, domain_text="no pole π/2 + kπ inside the interval"),
        Target("sinh", "sinh", odd=True),
        Target("cosh", "cosh", even=True),
        Target("tanh", "tanh", odd=True),
        Target("atan", "arctan", odd=True),
        Target("asin", "arcsin", lowest=-1.0, highest=1.0, odd=True, domain_text="-1 ≤ x ≤ 1"),
        Target("cbrt", "cbrt", odd=True, cusp=0.0),
    )
}
