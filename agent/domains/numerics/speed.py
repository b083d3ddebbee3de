"""Speed as the paper measured it: ns per value of a vectorisable loop over 2^24 float32 inputs.

Each program becomes `for (i) out[i] = p(in[i]);` in one C file compiled with
`-O3 -march=native -ffp-contract=off -fno-math-errno` (contraction off keeps the verified
rounding; the compiler still vectorises across elements). glibc gets two loops beside them:
its scalar function (`exp2f`, `expf`, ...: what a C program calling libm gets; the compiler
does not vectorise the call without -ffast-math) and, where the CPU has AVX2, its vector
library libmvec (`_ZGVdN8v_expf`, ...: eight values per call, what `-ffast-math` or
`#pragma omp simd` would call; up to 4 ULP by glibc's manual). The faster of the two is
"glibc" in the comparison.

A loop streaming 2^24 values from memory is bound by memory bandwidth (every polynomial
ties at ~8 bytes per value), so the inputs are walked in L1-sized chunks: each chunk is
touched once untimed, then every loop runs over it, timed, and the times add up over the
2^24 values; each loop's time is the sum over chunks of its best repeat on that chunk (a
preemption spoils one repeat of one chunk, not the whole pass), its spread the slowest
whole pass over that. All loops see the same chunks at the same moments, so a noisy
neighbour hits them alike. One clock read costs ~80 ns on this machine (a VM's TSC clock
source): read twice per 2048-value chunk it added ~0.08 ns per value, and with the loop's
own overhead every polynomial up to degree 6 timed the same 0.21 ns (measured: degrees 4, 5
and 6 and an Estrin degree 6 within 3%), so no cheaper program could show as faster. Each
loop therefore runs `INNER` times over the chunk between two clock reads (~0.005 ns per
value), except glibc's scalar loop (~25× slower per value), which runs once: its two clock
reads add 1–2% to its time, under the 5% that counts as a tie. NumPy's ufunc (SciPy's `erf`
for erf, which NumPy lacks) is timed from Python on the same inputs.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy

from agent.domains.numerics.codegen import c_function
from agent.domains.numerics.program import Program
from agent.domains.numerics.targets import FORMATS, TARGETS, Format

FLAGS = ["-O3", "-march=native", "-ffp-contract=off", "-fno-math-errno", "-std=gnu11"]
COUNT = 1 << 24
VECTOR = "_ZGVdN8v_"  # libmvec's AVX2 name prefix: 8 floats per call
INNER = 8  # passes of a program's loop over a chunk between two clock reads

_MAIN = r"""
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#ifdef __AVX2__
#include <immintrin.h>
__m256 __VECTOR__(__m256);
#endif

__FUNCTIONS__

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
#define CHUNK 2048
float *in, out[CHUNK];
volatile float sink;

__LOOPS__

int main(int argc, char **argv) {
    const long n = __COUNT__;
    const int repeats = argc > 1 ? atoi(argv[1]) : 5;
    in = malloc(n * sizeof(float));
    for (long i = 0; i < n; i++) in[i] = (float)(__LO__ + (__HI__ - __LO__) * ((double)i / (double)(n - 1)));
    const long chunks = n / CHUNK;
    double *fastest = malloc(sizeof(double) * __K__ * chunks);  /* per loop and chunk, the best repeat */
    double best[__K__], worst[__K__], total[__K__];
    for (long c = 0; c < __K__ * chunks; c++) fastest[c] = 1e30;
    for (int k = 0; k < __K__; k++) { best[k] = 0; worst[k] = 0; }
    for (int r = 0; r < repeats; r++) {
        for (int k = 0; k < __K__; k++) total[k] = 0;
        for (long c = 0; c < chunks; c++) {
            const float *chunk = in + c * CHUNK;
            float touch = 0;
            for (long i = 0; i < CHUNK; i++) touch += chunk[i];
            sink = touch;
            for (int k = 0; k < __K__; k++) {
                const int passes = k == SCALAR ? 1 : __INNER__;
                double begin = now();
                for (int p = 0; p < passes; p++) { run(k, chunk); __asm__ volatile("" ::: "memory"); }
                double t = (now() - begin) / passes;
                total[k] += t;
                if (t < fastest[k * chunks + c]) fastest[k * chunks + c] = t;
                sink = out[k];
            }
        }
        for (int k = 0; k < __K__; k++) {
            double ns = total[k] * 1e9 / n;
            if (ns > worst[k]) worst[k] = ns;
        }
    }
    for (int k = 0; k < __K__; k++) {
        for (long c = 0; c < chunks; c++) best[k] += fastest[k * chunks + c];
        best[k] = best[k] * 1e9 / n;
    }
    printf("[");
    for (int k = 0; k < __K__; k++) printf("%s[%.5f, %.5f]", k ? ", " : "", best[k], worst[k]);
    printf("]\n");
    return 0;
}
"""


@dataclass(frozen=True)
class Timing:
    """ns per value: the best of the repeats, and the slowest (their ratio is the spread)."""

    name: str
    ns: float
    slowest: float

    @property
    def spread(self) -> float:
        return self.slowest / self.ns if self.ns > 0 else float("inf")


def source(
    programs: list[tuple[str, Program]],
    fn: str,
    lo: float,
    hi: float,
    count: int = COUNT,
    fmt: Format = FORMATS["float32"],
    formats: dict[str, Format] | None = None,
) -> str:
    """The timing program; `formats` gives a named program another arithmetic than `fmt`'s."""
    functions = "\n\n".join(
        c_function(program, (formats or {}).get(name, fmt), f"p{k}").replace(
            "static float", "static inline float", 1
        )
        for k, (name, program) in enumerate(programs)
    )
    loops = [
        f"__attribute__((noinline)) static void loop{k}(const float *x) "
        f"{{ for (long i = 0; i < CHUNK; i++) out[i] = p{k}(x[i]); }}"
        for k in range(len(programs))
    ]
    scalar, libm = len(programs), TARGETS[fn].c_float
    loops.append(
        f"__attribute__((noinline)) static void loop{scalar}(const float *x) "
        f"{{ for (long i = 0; i < CHUNK; i++) out[i] = {libm}(x[i]); }}"
    )
    loops.append(
        f"__attribute__((noinline)) static void loop{scalar + 1}(const float *x) {{\n"
        "#ifdef __AVX2__\n"
        f"    for (long i = 0; i < CHUNK; i += 8) _mm256_storeu_ps(out + i, {VECTOR}{libm}(_mm256_loadu_ps(x + i)));\n"
        "#endif\n}"
    )
    loops.append(f"#define SCALAR {scalar}")
    cases = " ".join(f"case {k}: loop{k}(x); break;" for k in range(scalar + 2))
    loops.append(f"static void run(int k, const float *x) {{ switch (k) {{ {cases} }} }}")
    text = _MAIN.replace("__FUNCTIONS__", functions).replace("__LOOPS__", "\n".join(loops))
    text = text.replace("__VECTOR__", f"{VECTOR}{libm}")
    text = (
        text.replace("__K__", str(scalar + 2))
        .replace("__COUNT__", f"{count}L")
        .replace("__INNER__", str(INNER))
    )
    return text.replace("__LO__", float(lo).hex()).replace("__HI__", float(hi).hex())


def _numpy_timing(fn: str, lo: float, hi: float, count: int, repeats: int) -> Timing:
    x = (lo + (hi - lo) * (numpy.arange(count) / (count - 1))).astype(numpy.float32)
    out = numpy.empty_like(x)
    target = TARGETS[fn]
    function = target.numpy_function()
    name = f"numpy.{target.numpy_name}" if target.numpy_name else "scipy.special.erf"
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(x, out=out)
        times.append((time.perf_counter() - start) * 1e9 / count)
    return Timing(name, min(times), max(times))


def measure_speed(
    programs: list[tuple[str, Program]],
    fn: str,
    lo: float,
    hi: float,
    repeats: int = 5,
    count: int = COUNT,
    compiler: str = "cc",
    timeout: float | None = None,
    fmt: Format = FORMATS["float32"],
    formats: dict[str, Format] | None = None,
) -> list[Timing]:
    """Timings of each named program's loop, glibc's function and NumPy's, on the same inputs.

    `timeout` bounds the compiler and the C loops together (`subprocess.TimeoutExpired` past it).
    """
    end = None if timeout is None else time.monotonic() + timeout
    with tempfile.TemporaryDirectory(prefix="strop-speed-") as folder:
        path, binary = Path(folder) / "speed.c", Path(folder) / "speed"
        path.write_text(source(programs, fn, lo, hi, count, fmt, formats))
        subprocess.run(
            [compiler, *FLAGS, "-o", str(binary), str(path), "-lmvec", "-lm"],
            check=True,
            capture_output=True,
            timeout=_left(end),
        )
        run = subprocess.run(
            [str(binary), str(repeats)], capture_output=True, text=True, check=True, timeout=_left(end)
        )
    rows = json.loads(run.stdout)
    libm = TARGETS[fn].c_float
    names = [name for name, _ in programs] + [f"glibc {libm}", f"glibc libmvec {VECTOR}{libm}"]
    if not has_avx2(compiler):
        rows, names = rows[:-1], names[:-1]
    timings = [Timing(name, best, worst) for name, (best, worst) in zip(names, rows, strict=True)]
    return timings + [_numpy_timing(fn, lo, hi, count, repeats)]


@lru_cache(maxsize=4)
def has_avx2(compiler: str = "cc") -> bool:
    """Whether `-march=native` on this machine has AVX2 (libmvec's 8-wide functions need it)."""
    run = subprocess.run(
        [compiler, "-march=native", "-dM", "-E", "-x", "c", "/dev/null"], capture_output=True, text=True
    )
    return "__AVX2__" in run.stdout


def _left(end: float | None) -> float | None:
    """Seconds to `end` (monotonic), at least a token one so a spent budget times out at once."""
    return None if end is None else max(0.01, end - time.monotonic())
