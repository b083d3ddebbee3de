"""Programs as source code: C (with a self-checking harness) and NumPy.

The C file holds the approximation (constants as exact hexadecimal literals, one
statement per operation in the program's order, `fmaf`/`fma` for fma) and a `main`
that re-measures it against the C library's `long double` functions on the same
verification set as Python (see `points`), printing one JSON line. Build it with
contraction off so that the compiler neither fuses nor reorders:
    cc -O2 -std=c99 -ffp-contract=off -o approx approx.c -lm && ./approx
The NumPy file is standalone: the program as array code (with the single-rounding fma
emulation copied in) and a `__main__` that re-measures it on 2^22 evenly spaced inputs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

from agent.domains.numerics import arithmetic
from agent.domains.numerics.points import PLANS
from agent.domains.numerics.program import Program
from agent.domains.numerics.targets import FORMATS, TARGETS, Format

C_FLAGS = ["-O2", "-std=c99", "-ffp-contract=off"]

_C_SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "/"}


def _c_literal(value: float, fmt: Format) -> str:
    text = float(fmt.dtype(value)).hex()
    return f"{text}{'f' if fmt.c_suffix else ''}"


def straight_line(
    program: Program,
    constant: Callable[[float], str],
    operation: Callable[[str, list[str]], str],
    statement: Callable[[str, str], str],
) -> tuple[list[str], str]:
    """One statement per constant and operation, in the program's order; and the result's name.

    The C and NumPy generators differ only in how they spell a constant, an operation
    and an assignment, so the walk over the DAG is written once.
    """
    lines: list[str] = []
    names: list[str] = []
    for index, node in enumerate(program.nodes):
        if node.op == "x":
            names.append("x")
            continue
        if node.op == "const":
            name, value = f"c{index}", constant(node.value)
        else:
            name, value = f"v{index}", operation(node.op, [names[a] for a in node.args])
        lines.append(statement(name, value))
        names.append(name)
    return lines, names[-1]


def c_function(program: Program, fmt: Format, name: str) -> str:
    """`static T name(T x)` in the format's C type; with a wider arithmetic inside, x is widened
    first and the result rounded once on return."""
    inner = fmt.arithmetic
    real = inner.c_type

    def operation(op: str, args: list[str]) -> str:
        if op in _C_SYMBOL:
            return f"{args[0]} {_C_SYMBOL[op]} {args[1]}"
        if op == "fma":
            return f"fma{inner.c_suffix}({args[0]}, {args[1]}, {args[2]})"
        return f"sqrt{inner.c_suffix}({args[0]})"

    body, result = straight_line(
        program,
        lambda value: _c_literal(value, inner),
        operation,
        lambda target, value: f"    const {real} {target} = {value};",
    )
    if inner is fmt:
        lines = [f"static {real} {name}({real} x) {{", *body, f"    return {result};", "}"]
    else:
        lines = [f"static {fmt.c_type} {name}({fmt.c_type} input) {{", f"    const {real} x = input;", *body]
        lines += [f"    return ({fmt.c_type}){result};", "}"]
    return "\n".join(lines)


_HARNESS = r"""
/* ---- harness: re-measure against long double libm on the verification set ---- */
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#define PRECISION __PRECISION__
static const long double MIN_SUBNORMAL = __MIN_SUB__L;
static long double max_ulp = 0.0L, max_rel = 0.0L;
static double worst_x = 0.0;
static long long visited = 0;

static long double ulp_of(long double t) {
    int e;
    if (t == 0.0L) return MIN_SUBNORMAL;
    frexpl(fabsl(t), &e);
    long double u = ldexpl(1.0L, e - PRECISION);
    return u < MIN_SUBNORMAL ? MIN_SUBNORMAL : u;
}

static int64_t to_ordinal(__REAL__ x) {
    __SIGNED__ bits;
    memcpy(&bits, &x, sizeof bits);
    int64_t b = (int64_t)bits;
    return b < 0 ? -(b & (int64_t)__MAGNITUDE__) : b;
}

static __REAL__ from_ordinal(int64_t o) {
    __UNSIGNED__ bits = o < 0 ? ((__UNSIGNED__)(-o) | (__UNSIGNED__)__SIGN_BIT__) : (__UNSIGNED__)o;
    __REAL__ x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

static void visit(__REAL__ x) {
    __REAL__ y = __NAME__(x);
    long double t = __TRUTH__((long double)x);
    long double error = fabsl((long double)y - t);
    long double u = error / ulp_of(t);
    long double r = t == 0.0L ? (y == 0 ? 0.0L : INFINITY) : error / fmaxl(fabsl(t), __TINY__L);
    if (y == 0 && fabsl(t) > MIN_SUBNORMAL / 2) r = 1.0L; /* 0 where the truth rounds to no 0 */
    if (u != u) u = INFINITY;
    if (r != r) r = INFINITY;
    if (u > max_ulp) { max_ulp = u; worst_x = (double)x; }
    if (r > max_rel) max_rel = r;
    visited++;
}

int main(void) {
    const double lo = __LO__, hi = __HI__;
    const int64_t first = to_ordinal((__REAL__)lo), last = to_ordinal((__REAL__)hi);
    /* the span in uint64: a float64 interval across 0 with ends of magnitude 2 or more spans more
       ordinals than int64 holds (signed overflow: the harness never ended on [-4, 4]) */
    const uint64_t span = (uint64_t)last - (uint64_t)first;
    if (span < (uint64_t)__EXHAUSTIVE__) {
        for (int64_t o = first; o <= last; o++) visit(from_ordinal(o));
    } else {
        const int64_t na = __NA__, nb = __NB__, nc = __NC__;
        for (int64_t k = 0; k < na; k++) visit((__REAL__)(lo + (hi - lo) * ((double)k / (double)(na - 1))));
        const uint64_t q = span / (uint64_t)(nb - 1), r = span % (uint64_t)(nb - 1);
        for (int64_t k = 0; k < nb; k++)
            visit(from_ordinal((int64_t)((uint64_t)first + q * (uint64_t)k + (r * (uint64_t)k) / (uint64_t)(nb - 1))));
        for (int64_t o = last - nc + 1; o <= last; o++) visit(from_ordinal(o));
        const int64_t nd = __ND__; /* the edges: each end of the interval, each side of 0 and of f's zeros */
        for (int64_t o = first; o <= last && o < first + nd; o++) visit(from_ordinal(o));
        for (int64_t o = last; o >= first && o > last - nd; o--) visit(from_ordinal(o));
        const double zeros[] = {__ZEROS__};
        for (size_t z = 0; z < sizeof zeros / sizeof zeros[0]; z++) {
            const int64_t c = z == 0 ? 0 : to_ordinal((__REAL__)zeros[z]);
            if (z > 0 && c == 0) continue; /* 0 is centre 0 already */
            if (first <= c && c <= last)
                for (int64_t o = first > c - nd ? first : c - nd; o <= last && o <= c + nd; o++)
                    visit(from_ordinal(o));
        }
        visit((__REAL__)lo);
        visit((__REAL__)hi);
    }
    printf("{\"max_ulp\": %.9Lg, \"max_rel_error\": %.9Lg, \"worst_x\": %.17g, \"visited\": %lld}\n",
           max_ulp, max_rel, worst_x, visited);
    return 0;
}
"""


def c_source(
    program: Program,
    fn: str,
    lo: float,
    hi: float,
    format_name: str,
    header: str = "",
    inside: str | None = None,
    zeros: Sequence[float] = (),
) -> str:
    """A complete C file: the approximation and its measuring `main` (`inside`: a wider arithmetic;
    `zeros`: the function's zeros in the interval, whose neighbourhoods the sampled set holds)."""
    fmt, target = FORMATS[format_name].computed_in(inside), TARGETS[fn]
    plan = PLANS[format_name]
    name = f"approx_{fn}"
    single = fmt.precision <= 24
    replacements = {
        "__PRECISION__": str(fmt.precision),
        "__MIN_SUB__": float(fmt.smallest_subnormal).hex(),
        "__TINY__": float(fmt.smallest_normal).hex(),  # relative error's floor (see `measure`)
        "__REAL__": fmt.c_type,
        "__SIGNED__": "int32_t" if single else "int64_t",
        "__UNSIGNED__": "uint32_t" if single else "uint64_t",
        "__MAGNITUDE__": "0x7fffffff" if single else "0x7fffffffffffffffLL",
        "__SIGN_BIT__": "0x80000000u" if single else "0x8000000000000000ULL",
        "__NAME__": name,
        "__TRUTH__": target.c_truth,
        "__LO__": float(lo).hex(),
        "__HI__": float(hi).hex(),
        "__EXHAUSTIVE__": str(plan.exhaustive_limit),
        "__NA__": str(plan.stratified),
        "__NB__": str(plan.ordinal),
        "__NC__": str(plan.top),
        "__ND__": str(plan.edge),
        "__ZEROS__": ", ".join(["0.0", *(float(z).hex() for z in zeros)]),  # 0 first: always a centre
    }
    harness = _HARNESS
    for key, value in replacements.items():
        harness = harness.replace(key, value)
    comment = "".join(f" * {line}\n" for line in header.splitlines())
    return f"/*\n{comment} */\n#include <math.h>\n\n{c_function(program, fmt, name)}\n{harness}"


def numpy_source(
    program: Program,
    fn: str,
    lo: float,
    hi: float,
    format_name: str,
    header: str = "",
    inside: str | None = None,
) -> str:
    """A standalone Python module: `approx(x)` in the format's arithmetic, and a re-measuring main."""
    fmt = FORMATS[format_name].computed_in(inside)
    dtype = f"numpy.{fmt.arithmetic.name}"
    helpers = f"_SPLIT = {arithmetic._SPLIT!r}\n\n\n" + "\n\n".join(
        inspect.getsource(f)
        for f in (arithmetic._two_sum, arithmetic.fma32, arithmetic._split, arithmetic.fma64)
    )
    fma_name = "fma32" if fmt.arithmetic.precision <= 24 else "fma64"

    def operation(op: str, args: list[str]) -> str:
        if op in _C_SYMBOL:
            return f"{dtype}({args[0]} {_C_SYMBOL[op]} {args[1]})"
        if op == "fma":
            return f"{fma_name}({args[0]}, {args[1]}, {args[2]})"
        return f"numpy.sqrt({args[0]}, dtype={dtype})"

    statements, result = straight_line(
        program,
        lambda value: f"{dtype}(float.fromhex({float(fmt.arithmetic.dtype(value)).hex()!r}))",
        operation,
        lambda target, value: f"    {target} = {value}",
    )
    io = f"numpy.{fmt.name}"
    body = [f"def approx_{fn}(x):", f"    x = numpy.asarray(x).astype({io}).astype({dtype})", *statements]
    body.append(f"    return numpy.broadcast_to({result}, x.shape).astype({io})")
    numpy_name = TARGETS[fn].numpy_name
    truth = (
        f"numpy.{numpy_name}(x.astype(numpy.longdouble))"
        if numpy_name
        else "__import__('scipy.special').special.erf(x.astype(numpy.float64)).astype(numpy.longdouble)"
    )
    docstring = header.replace('"""', "'''")
    return f'''"""{docstring}"""

import numpy

numpy.seterr(all="ignore")


{helpers}


{chr(10).join(body)}


def truth(x):
    return {truth}


if __name__ == "__main__":
    lo, hi, count = {lo!r}, {hi!r}, 1 << 22
    x = (lo + (hi - lo) * (numpy.arange(count) / (count - 1))).astype(numpy.{fmt.name})
    t = truth(x)
    _, e = numpy.frexp(numpy.abs(t))
    smallest = numpy.longdouble({fmt.smallest_subnormal!r})
    ulp = numpy.maximum(numpy.ldexp(numpy.longdouble(1), (e - {fmt.precision}).astype(numpy.int32)), smallest)
    ulp = numpy.where(t == 0, smallest, ulp)
    y = approx_{fn}(x).astype(numpy.longdouble)
    error = numpy.abs(y - t)
    relative = error / numpy.maximum(numpy.abs(t), {fmt.smallest_normal!r})  # floored: see measure.py
    relative = numpy.where((y == 0) & (numpy.abs(t) > smallest / 2), 1.0, relative)  # 0 for no 0
    print({{"max_ulp": float(numpy.max(error / ulp)), "max_rel_error": float(numpy.max(relative)), "points": count}})
'''
