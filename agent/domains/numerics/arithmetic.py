"""Fused multiply-add for NumPy arrays, with a single rounding, as C's fmaf/fma compute it.

NumPy has no fma ufunc. For float32 the product of two float32 is exact in float64,
the float64 sum is made *round-to-odd* with a TwoSum error term, and rounding that to
float32 is then correctly rounded (53 ≥ 24 + 2 bits): bit-exact with `fmaf`. For
float64 the product is split exactly (Dekker's TwoProduct) and the three parts are
summed with TwoSum: faithful, and off the correctly rounded result only in rare ties;
the generated C code (true `fma`) is the reference there.
"""

from __future__ import annotations

import numpy


def _two_sum(a: numpy.ndarray, b: numpy.ndarray) -> tuple[numpy.ndarray, numpy.ndarray]:
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def fma32(a: numpy.ndarray, b: numpy.ndarray, c: numpy.ndarray) -> numpy.ndarray:
    """Correctly rounded float32 a·b + c."""
    with numpy.errstate(all="ignore"):
        a, b, c = numpy.broadcast_arrays(*(numpy.asarray(v, numpy.float64) for v in (a, b, c)))
        product = a * b
        total, error = _two_sum(product, c)
        total = numpy.array(total, dtype=numpy.float64, copy=True)
        even = (total.view(numpy.uint64) & numpy.uint64(1)) == 0
        fix = (error != 0) & even & numpy.isfinite(total)
        if fix.any():
            toward = numpy.where(error[fix] > 0, numpy.inf, -numpy.inf)
            total[fix] = numpy.nextafter(total[fix], toward)
        return total.astype(numpy.float32)


_SPLIT = 134217729.0  # 2^27 + 1


def _split(a: numpy.ndarray) -> tuple[numpy.ndarray, numpy.ndarray]:
    t = _SPLIT * a
    high = t - (t - a)
    return high, a - high


def fma64(a: numpy.ndarray, b: numpy.ndarray, c: numpy.ndarray) -> numpy.ndarray:
    """Faithful float64 a·b + c (TwoProduct + TwoSum)."""
    with numpy.errstate(all="ignore"):
        a, b, c = numpy.broadcast_arrays(*(numpy.asarray(v, numpy.float64) for v in (a, b, c)))
        product = a * b
        a_high, a_low = _split(a)
        b_high, b_low = _split(b)
        product_error = ((a_high * b_high - product) + a_high * b_low + a_low * b_high) + a_low * b_low
        total, error = _two_sum(product, c)
        result = total + (error + product_error)
        return numpy.where(numpy.isfinite(product_error), result, product + c)


def fma(a: numpy.ndarray, b: numpy.ndarray, c: numpy.ndarray, dtype: type[numpy.floating]) -> numpy.ndarray:
    return fma32(a, b, c) if dtype is numpy.float32 else fma64(a, b, c)
