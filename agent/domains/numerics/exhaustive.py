"""Exhaustive float32 verification in C: every float of the interval, every program at once.

A float32 interval such as [0, 1] holds about 10^9 numbers, too many for NumPy but a few
seconds for compiled code. One C file holds every program (the same straight-line code as
the generated C, `fmaf` for fma, contraction off so nothing is fused or reordered) and
walks the interval's floats in blocks: the truth of a block is computed once (glibc's
double-precision function of the exact float input, four at a time through its vector
library libmvec where the CPU has AVX2: glibc's manual bounds those at 4 double ULPs, 2^-27
of a float32 ULP; the scalar function, under one double ULP, where not), then each
program runs over the block in a loop the compiler
vectorises, keeping its maximum ULP and relative error; the worst input is found by
rescanning only the blocks that raise a maximum. NaN and infinity count as infinite error.

ULP as in `measure`: 2^(e−24) for a true value in [2^(e−1), 2^e), floored at the smallest
subnormal; relative error is |y − f|/|f|, and where f = 0 it is 0 only for y = 0.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy

from agent.domains.numerics.codegen import c_function
from agent.domains.numerics.points import count_in
from agent.domains.numerics.program import Program
from agent.domains.numerics.targets import FORMATS, TARGETS, Format

FLAGS = ["-O3", "-march=native", "-ffp-contract=off", "-fno-math-errno", "-std=gnu11"]


@dataclass(frozen=True)
class Verified:
    """One program's maxima over every float of the interval."""

    max_ulp: float
    max_rel_error: float
    worst_x: float
    points: int


_PROGRAM_LOOP = r"""
    {
        for (int i = 0; i < n; i++) {  /* elementwise: vectorised */
            double y = (double)__NAME__(xs[i]);
            double e = fabs(y - ts[i]);
            double u = e * iu[i];
            double r = e * ir[i];
            u = u == u ? u : INFINITY;
            r = r == r ? r : INFINITY;
            r = ts[i] == 0.0 ? (y == 0.0 ? 0.0 : INFINITY) : r;
            r = y == 0.0 && fabs(ts[i]) > 0x1p-150 ? 1.0 : r; /* 0 for a truth that rounds to no 0 */
            eu[i] = u;
            er[i] = r;
        }
        /* errors are >= 0 (or +inf): their bit patterns order like the values, and an
           integer max reduction vectorises where a floating-point one would need -ffast-math */
        int64_t mu = 0, mr = 0;
        for (int i = 0; i < n; i++) { int64_t b = bits_of(eu[i]); mu = b > mu ? b : mu; }
        for (int i = 0; i < n; i++) { int64_t b = bits_of(er[i]); mr = b > mr ? b : mr; }
        if (mu > max_ulp[__K__]) {
            max_ulp[__K__] = mu;
            for (int i = 0; i < n; i++) if (bits_of(eu[i]) == mu) { worst[__K__] = xs[i]; break; }
        }
        if (mr > max_rel[__K__]) max_rel[__K__] = mr;
    }
"""

_MAIN = r"""
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __AVX2__
#include <immintrin.h>
__m256d __VECTOR__(__m256d);
#endif

__FUNCTIONS__

#define K __COUNT__
#define BLOCK 4096
static float xs[BLOCK];
static double xd[BLOCK], ts[BLOCK], iu[BLOCK], ir[BLOCK], eu[BLOCK], er[BLOCK];
static int64_t max_ulp[K], max_rel[K];
static double worst[K];

static inline int64_t bits_of(double v) { int64_t b; memcpy(&b, &v, 8); return b; }
static double value_of(int64_t b) { double v; memcpy(&v, &b, 8); return v; }

static float from_bits(uint32_t bits) { float x; memcpy(&x, &bits, 4); return x; }

/* 1/ulp from the double's exponent field: t in [2^E, 2^(E+1)) has float32 ulp 2^(E-23) */
static double inverse_ulp(double t) {
    uint64_t bits;
    memcpy(&bits, &t, 8);
    int64_t p = 2046 + 23 - (int64_t)((bits >> 52) & 0x7ff);
    if (p > 1023 + 149) p = 1023 + 149;
    uint64_t out = (uint64_t)p << 52;
    double v;
    memcpy(&v, &out, 8);
    return v;
}

int main(int argc, char **argv) {
    /* ordinals: negative floats run from -0 (ordinal 0) downwards; argv may narrow the range */
    const int64_t first = argc == 3 ? atoll(argv[1]) : __FIRST__, last = argc == 3 ? atoll(argv[2]) : __LAST__;
    long long visited = 0;
    for (int64_t start = first; start <= last; start += BLOCK) {
        int n = (int)((last - start + 1) < BLOCK ? (last - start + 1) : BLOCK);
        for (int i = 0; i < n; i++) {
            int64_t o = start + i;
            uint32_t bits = o < 0 ? ((uint32_t)(-o) | 0x80000000u) : (uint32_t)o;
            xs[i] = from_bits(bits);
            xd[i] = (double)xs[i];
        }
        int done = 0;
#ifdef __AVX2__
        for (; done + 4 <= n; done += 4) _mm256_storeu_pd(ts + done, __VECTOR__(_mm256_loadu_pd(xd + done)));
#endif
        for (int i = done; i < n; i++) ts[i] = __TRUTH__(xd[i]);
        for (int i = 0; i < n; i++) {
            double t = ts[i];
            iu[i] = inverse_ulp(t);
            ir[i] = t == 0.0 ? 0.0 : 1.0 / fmax(fabs(t), 0x1p-126); /* floored: see measure.py */
        }
        visited += n;
__LOOPS__
    }
    printf("[");
    for (int k = 0; k < K; k++)
        printf("%s{\"max_ulp\": %.9g, \"max_rel_error\": %.9g, \"worst_x\": %.9g}", k ? ", " : "",
               value_of(max_ulp[k]), value_of(max_rel[k]), worst[k]);
    printf("]\n");
    fprintf(stderr, "%lld\n", visited);
    return 0;
}
"""


def _ordinal(value: float) -> int:

    bits = int(numpy.array([value], dtype=numpy.float32).view(numpy.int32)[0])
    return -(bits & 0x7FFFFFFF) if bits < 0 else bits


def source(programs: list[Program], fn: str, lo: float, hi: float, fmt: Format = FORMATS["float32"]) -> str:
    """The C file that verifies `programs` on every float32 in [lo, hi] (`fmt`: float32, perhaps
    with a wider arithmetic inside)."""
    functions = "\n\n".join(
        c_function(program, fmt, f"p{k}").replace("static float", "static inline float", 1)
        for k, program in enumerate(programs)
    )
    loops = "".join(
        _PROGRAM_LOOP.replace("__NAME__", f"p{k}").replace("__K__", str(k)) for k in range(len(programs))
    )
    first, last = _ordinal(lo), _ordinal(hi)
    if first > last:  # only for an interval inside the negatives written backwards; never here
        first, last = last, first
    text = _MAIN.replace("__FUNCTIONS__", functions).replace("__COUNT__", str(max(1, len(programs))))
    double = TARGETS[fn].name  # glibc's double function, and libmvec's 4-wide one
    text = text.replace("__LOOPS__", loops).replace("__TRUTH__", double)
    text = text.replace("__VECTOR__", f"_ZGVdN4v_{double}")
    return text.replace("__FIRST__", f"{first}LL").replace("__LAST__", f"{last}LL")


def verify_all(
    programs: list[Program],
    fn: str,
    lo: float,
    hi: float,
    compiler: str = "cc",
    timeout: float | None = None,
    fmt: Format = FORMATS["float32"],
) -> tuple[list[Verified], float]:
    """Max ULP and relative error of each program over every float32 in [lo, hi]; and the seconds.

    `timeout` bounds the compiler and the pass together (`subprocess.TimeoutExpired` past it).
    """
    if not programs:
        return [], 0.0
    points = count_in(lo, hi, FORMATS["float32"])
    started = time.monotonic()
    end = None if timeout is None else started + timeout
    with tempfile.TemporaryDirectory(prefix="strop-exhaustive-") as folder:
        path, binary = Path(folder) / "verify.c", Path(folder) / "verify"
        path.write_text(source(programs, fn, lo, hi, fmt))
        subprocess.run(
            [compiler, *FLAGS, "-o", str(binary), str(path), "-lmvec", "-lm"],
            check=True,
            capture_output=True,
            timeout=_left(end),
        )
        run = subprocess.run([str(binary)], capture_output=True, text=True, check=True, timeout=_left(end))
    rows = json.loads(re.sub(r"\b(-?)inf\b", r"\1Infinity", run.stdout).replace("nan", "NaN"))
    results = [
        Verified(float(r["max_ulp"]), float(r["max_rel_error"]), float(r["worst_x"]), points) for r in rows
    ]
    return results, time.monotonic() - started


def estimate_seconds(
    fn: str,
    lo: float,
    hi: float,
    programs: int = 6,
    sample: int = 1 << 21,
    compiler: str = "cc",
    fmt: Format = FORMATS["float32"],
) -> float:
    """Seconds `verify_all` would take for `programs` programs of `fmt` over [lo, hi] on this machine now.

    Timed, not guessed: passes over `sample` floats with that many degree-8 polynomials (the
    compile timed apart), scaled to the interval. A fixed per-float figure was 3× too low on a
    machine at load 8. The sample is spread: `STRATA` slices at the centres of equal shares of
    the interval's floats, and subnormal inputs (15× slower on this machine) timed apart and
    weighted by their count; a first slice taken at the interval's start (all subnormal for
    [0, 1]) put exp2 on [0, 1] at 272 s, seven times its real pass, and a 480 s run never
    verified exhaustively.
    """
    from agent.domains.numerics.program import horner

    fmt = FORMATS["float32"]
    first, last = sorted((_ordinal(lo), _ordinal(hi)))
    total = count_in(lo, hi, fmt)
    slice_size = max(1, min(sample // STRATA, total // STRATA))
    centres = [first + (2 * k + 1) * total // (2 * STRATA) for k in range(STRATA)]
    normal = [
        (max(first, c - slice_size // 2), min(last, c - slice_size // 2 + slice_size - 1)) for c in centres
    ]
    subnormal_lo, subnormal_hi = max(first, -SUBNORMALS), min(last, SUBNORMALS)
    subnormals = max(0, subnormal_hi - subnormal_lo + 1)
    polynomial = horner([1.0 / (k + 1) for k in range(9)])
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="strop-estimate-") as folder:
        path, binary = Path(folder) / "verify.c", Path(folder) / "verify"
        path.write_text(source([polynomial] * programs, fn, lo, hi, fmt))
        subprocess.run(
            [compiler, *FLAGS, "-o", str(binary), str(path), "-lmvec", "-lm"], check=True, capture_output=True
        )
        compiled = time.monotonic()
        per_float = _per_float(binary, normal)
        seconds = per_float * (total - subnormals)
        if subnormals:
            span = (subnormal_lo, min(subnormal_hi, subnormal_lo + slice_size - 1))
            seconds += _per_float(binary, [span]) * subnormals
    return (compiled - started) + seconds


STRATA = 4  # slices of the interval an exhaustive-pass estimate times
SUBNORMALS = (1 << 23) - 1  # ordinals of the positive subnormal floats (and 0)


def _per_float(binary: Path, spans: list[tuple[int, int]]) -> float:
    """Seconds per float of the verification binary over these ordinal spans."""
    began = time.monotonic()
    for low, high in spans:
        subprocess.run([str(binary), str(low), str(high)], capture_output=True, check=True)
    return (time.monotonic() - began) / sum(high - low + 1 for low, high in spans)


def _left(end: float | None) -> float | None:
    """Seconds to `end` (monotonic), at least a token one so a spent budget times out at once."""
    return None if end is None else max(0.01, end - time.monotonic())
