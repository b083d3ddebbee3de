import numpy
import pytest

from agent.domains.numerics.arithmetic import fma32
from agent.domains.numerics.measure import Reference, measure, ulp_errors, ulp_of
from agent.domains.numerics.targets import FORMATS, LD


@pytest.mark.parametrize("name", ["float32", "float64"])
def test_ulp_agrees_with_numpy_spacing(name):
    fmt = FORMATS[name]
    rng = numpy.random.default_rng(0)
    values = (rng.uniform(-8, 8, 5000) * 10.0 ** rng.integers(-30, 30, 5000)).astype(fmt.dtype)
    values = numpy.concatenate(
        [values, numpy.array([1, 2, 0.5, 3, -4, 1e-40 if name == "float32" else 1e-310], fmt.dtype)]
    )
    spacing = numpy.abs(numpy.spacing(values))
    assert numpy.array_equal(ulp_of(values.astype(LD), fmt), spacing.astype(LD))
    one_up = numpy.nextafter(values, numpy.copysign(numpy.inf, values).astype(fmt.dtype))  # away from 0
    assert numpy.all(ulp_errors(one_up, values.astype(LD), fmt) == 1)


def test_known_cases():
    fmt = FORMATS["float32"]
    assert ulp_of(numpy.array([1.0], LD), fmt)[0] == 2.0**-23
    assert ulp_of(numpy.array([1.9999], LD), fmt)[0] == 2.0**-23
    assert ulp_of(numpy.array([2.0], LD), fmt)[0] == 2.0**-22
    assert ulp_of(numpy.array([0.0], LD), fmt)[0] == 2.0**-149
    truth = numpy.array([1.0 + 2.0**-25], LD)  # between two float32: the nearest is 1 ulp/4 away
    assert ulp_errors(numpy.array([1.0], numpy.float32), truth, fmt)[0] == 0.25
    errors = measure(numpy.array([0.0]), numpy.array([1.5], numpy.float32), numpy.array([1.0], LD), fmt)
    assert errors.max_ulp == 2.0**22 and errors.max_rel_error == 0.5
    assert ulp_errors(numpy.array([numpy.nan], numpy.float32), numpy.array([1.0], LD), fmt)[0] == numpy.inf


def test_reference_matches_direct_measure():
    fmt = FORMATS["float32"]
    x = numpy.linspace(0, 1, 10001).astype(numpy.float32).astype(numpy.float64)
    truth = numpy.exp2(x.astype(LD))
    approx = (1 + x * (0.6931 + x * 0.24)).astype(numpy.float32)
    assert Reference(x, truth, fmt).measure(approx).max_ulp == pytest.approx(
        measure(x, approx, truth, fmt).max_ulp, rel=1e-12
    )


def test_fma32_is_correctly_rounded_like_libm():
    import ctypes
    import ctypes.util

    libm = ctypes.CDLL(ctypes.util.find_library("m"))
    libm.fmaf.restype = ctypes.c_float
    libm.fmaf.argtypes = [ctypes.c_float] * 3
    rng = numpy.random.default_rng(1)
    a, b = (rng.standard_normal(3000).astype(numpy.float32) for _ in range(2))
    c = (-(a.astype(numpy.float64) * b) * (1 + rng.normal(0, 1e-7, 3000))).astype(
        numpy.float32
    )  # cancellation
    ours = fma32(a, b, c)
    theirs = numpy.array(
        [libm.fmaf(float(x), float(y), float(z)) for x, y, z in zip(a, b, c, strict=True)], numpy.float32
    )
    assert numpy.array_equal(ours.view(numpy.uint32), theirs.view(numpy.uint32))
    naive = (a * b + c).astype(numpy.float32)
    assert not numpy.array_equal(naive, ours)  # the test would notice a double rounding


def test_reference_at_a_zero_of_a_float64_function():
    """tanh(0) = 0: the float64 ULP there is 2^-1074, whose inverse overflows float64."""
    fmt = FORMATS["float64"]
    x = numpy.linspace(-1, 1, 2001)
    truth = numpy.tanh(x.astype(LD))
    reference = Reference(x, truth, fmt)
    exact = reference.measure(truth.astype(numpy.float64))
    assert exact.max_ulp <= 0.5
    off = truth.astype(numpy.float64) + 1e-300  # 1e-300 at x = 0 is ~2e23 ULPs there: finite, and the max
    errors = reference.measure(off)
    assert numpy.isfinite(errors.max_ulp) and errors.worst_x == 0.0
    assert errors.max_ulp == pytest.approx(measure(x, off, truth, fmt).max_ulp, rel=1e-12)
