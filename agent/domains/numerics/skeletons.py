"""Program shapes: the families the baselines are fitted in and the seeds start from.

Every shape is a program whose constants the domain's LP fit fills in (see `fitting`):
Horner polynomials, Horner rationals P/Q, polynomials in t = x − c (centred), the
symmetric rationals (Q(t²) + t·P(t²)) / (Q(t²) − t·P(t²)) that exp-like functions favour,
and, for a function with a zero x0 in the interval (log at 1, sin and erf at 0), the
*factored* forms libm uses: t·q(t), t + t·q(t) (x + x³·q(x²) when odd: how libm rounds them)
and t·P(t)/Q(t) (t/Q(t) when P is a constant, which Q absorbs) with t = x − x0 computed exactly
(Sterbenz: x − 1 is exact for x in [0.5, 2]), x·q(x²) for odd functions at 0, and q(x²)
and P(x²)/Q(x²) for even functions (cos, cosh). A
relative-error fit of a form that does not vanish at x0 is meaningless there.

Taylor and Padé approximants at the interval's midpoint are re-expanded with mpmath at 40
digits: in x, or, for a function with a zero, in t with the constant term dropped (it is
f(x0) = 0) so that they are factored too.

A zero the format cannot hold (cos at π/2, sin at π) has no exact factor: there the format's
number nearest it, the root, centres every polynomial and rational (t = x − root is exact near
it, and a free constant term carries f(root), tiny but not 0), and Taylor and Padé are taken
at the root itself. Forms in x or x² cannot carry f(root) to its relative precision: at 6e-17
for cos at the double nearest π/2, every one of them was 100% wrong there.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy

from agent.domains.numerics.program import Node, Program, horner, rational


@dataclass(frozen=True)
class Shape:
    """Where a family's zero sits and whether the function is odd about it."""

    zero: float | None = None  # x0 with f(x0) = 0 exactly, inside the interval
    odd: bool = False  # odd about x0 = 0: x·q(x²) forms apply
    even: bool = False  # even: q(x²) and P(x²)/Q(x²) forms apply
    exp_like: bool = False  # symmetric rationals apply
    centre_value: float | None = None  # exp-like: f at the interval's centre, the symmetric forms' factor
    root: float | None = None  # the format's number nearest a zero it cannot hold (cos at π/2)


def _append_horner(nodes: list[Node], variable: int, coefficients: list[float]) -> int:
    """Horner in node `variable`; returns the index of the result (a const for degree 0)."""
    nodes.append(Node("const", (), coefficients[-1]))
    accumulator = len(nodes) - 1
    for c in reversed(coefficients[:-1]):
        nodes.append(Node("const", (), c))
        nodes.append(Node("fma", (accumulator, variable, len(nodes) - 1)))
        accumulator = len(nodes) - 1
    return accumulator


def _shift(nodes: list[Node], zero: float) -> int:
    """t = x − x0 (exact for the zeros we factor); x itself when x0 = 0."""
    if zero == 0.0:
        return 0
    nodes.append(Node("const", (), zero))
    nodes.append(Node("sub", (0, len(nodes) - 1)))
    return len(nodes) - 1


def centred_polynomial(degree: int, centre: float, coefficients: list[float] | None = None) -> Program:
    """p(t), t = x − centre, by Horner."""
    nodes = [Node("x"), Node("const", (), -centre)]
    nodes.append(Node("add", (0, 1)))
    _append_horner(nodes, 2, coefficients or [0.0] * (degree + 1))
    return Program(tuple(nodes))


def centred_rational(
    numerator: int, denominator: int, centre: float, coefficients: tuple[list, list] | None = None
) -> Program:
    """P(t)/Q(t), t = x − centre: the rational for an interval at a zero the format cannot hold."""
    top, bottom = coefficients or ([0.0] * (numerator + 1), [1.0] + [0.0] * denominator)
    nodes = [Node("x"), Node("const", (), -centre)]
    nodes.append(Node("add", (0, 1)))
    p = _append_horner(nodes, 2, list(top))
    q = _append_horner(nodes, 2, list(bottom))
    nodes.append(Node("div", (p, q)))
    return Program(tuple(nodes))


def factored_polynomial(degree: int, zero: float, coefficients: list[float] | None = None) -> Program:
    """t·q(t), q of `degree` by Horner, t = x − zero."""
    nodes = [Node("x")]
    t = _shift(nodes, zero)
    q = _append_horner(nodes, t, coefficients or [1.0] + [0.0] * degree)
    nodes.append(Node("mul", (t, q)))
    return Program(tuple(nodes))


def unit_factored_polynomial(degree: int, zero: float) -> Program:
    """t + t·q(t) with the last step one fma, q of `degree`, t = x − zero: f(x) ≈ t·f'(x0) + ….

    The same polynomials as t·q(t), rounded differently: where f'(x0) = 1 (sin, tan, expm1,
    log1p, log at 1) q is small, so its rounding errors shrink by |q| and the fma's single
    rounding dominates; this is how libm writes them, and under 1 ULP in float32 where t·q(t)
    of the same cost is not (expm1 on [-0.5, 0.5] at 7 ops: 0.81 against 1.40 ULP).
    """
    nodes = [Node("x")]
    t = _shift(nodes, zero)
    q = _append_horner(nodes, t, [0.0] * (degree + 1))
    nodes.append(Node("fma", (t, q, t)))
    return Program(tuple(nodes))


def unit_odd_polynomial(degree: int) -> Program:
    """x + x·(s·q(s)), s = x², q of `degree` − 1: an odd polynomial of degree 2·degree + 1 in
    fdlibm's form (x + x³·P(x²)); see `unit_factored_polynomial` for why it rounds better."""
    nodes = [Node("x"), Node("mul", (0, 0))]
    q = _append_horner(nodes, 1, [0.0] * degree)
    nodes.append(Node("mul", (1, q)))
    nodes.append(Node("fma", (0, len(nodes) - 1, 0)))
    return Program(tuple(nodes))


def odd_polynomial(degree: int) -> Program:
    """x·q(x²), q of `degree` by Horner: an odd polynomial of degree 2·degree + 1."""
    nodes = [Node("x"), Node("mul", (0, 0))]
    q = _append_horner(nodes, 1, [1.0] + [0.0] * degree)
    nodes.append(Node("mul", (0, q)))
    return Program(tuple(nodes))


def even_polynomial(degree: int) -> Program:
    """q(x²), q of `degree` by Horner: an even polynomial of degree 2·degree."""
    nodes = [Node("x"), Node("mul", (0, 0))]
    _append_horner(nodes, 1, [1.0] + [0.0] * degree)
    return Program(tuple(nodes))


def even_rational(numerator: int, denominator: int) -> Program:
    """P(x²)/Q(x²): the rational a function symmetric about 0 calls for."""
    nodes = [Node("x"), Node("mul", (0, 0))]
    p = _append_horner(nodes, 1, [1.0] + [0.0] * numerator)
    q = _append_horner(nodes, 1, [1.0] + [0.0] * denominator)
    nodes.append(Node("div", (p, q)))
    return Program(tuple(nodes))


def factored_rational(
    numerator: int, denominator: int, zero: float, coefficients: tuple[list, list] | None = None
) -> Program:
    """t·P(t)/Q(t) with t = x − zero."""
    top, bottom = coefficients or ([1.0] + [0.0] * numerator, [1.0] + [0.0] * denominator)
    nodes = [Node("x")]
    t = _shift(nodes, zero)
    p = _append_horner(nodes, t, list(top))
    nodes.append(Node("mul", (t, p)))
    tp = len(nodes) - 1
    q = _append_horner(nodes, t, list(bottom))
    nodes.append(Node("div", (tp, q)))
    return Program(tuple(nodes))


def reduced_rational(denominator: int, zero: float) -> Program:
    """t / Q(t): t·p0/Q(t) with p0 divided into Q, one multiplication fewer."""
    nodes = [Node("x")]
    t = _shift(nodes, zero)
    q = _append_horner(nodes, t, [1.0] + [0.0] * denominator)
    nodes.append(Node("div", (t, q)))
    return Program(tuple(nodes))


def _symmetric_quotient(nodes: list[Node], q: int, odd: int, scale: float | None) -> Program:
    """(Q + odd) / (Q − odd), the numerator times `scale` when given (f at an off-zero centre)."""
    nodes.append(Node("add", (q, odd)))
    top = len(nodes) - 1
    if scale is not None:
        nodes.append(Node("const", (), scale))
        nodes.append(Node("mul", (len(nodes) - 1, top)))
        top = len(nodes) - 1
    nodes.append(Node("sub", (q, odd)))
    nodes.append(Node("div", (top, len(nodes) - 1)))
    return Program(tuple(nodes)).prune()


def reduced_symmetric_rational(even_degree: int, centre: float | None, scale: float | None = None) -> Program:
    """(Q(s) + t) / (Q(s) − t): the odd part of degree 0 divided into Q, one multiplication fewer."""
    nodes = [Node("x")]
    t = 0
    if centre is not None:
        nodes.append(Node("const", (), -centre))
        nodes.append(Node("add", (0, 1)))
        t = 2
    nodes.append(Node("mul", (t, t)))
    q = _append_horner(nodes, len(nodes) - 1, [2.0] + [0.0] * even_degree)
    return _symmetric_quotient(nodes, q, t, scale)


def symmetric_rational(
    even_degree: int, odd_degree: int, centre: float | None, scale: float | None = None
) -> Program:
    """(Q(s) + t·P(s)) / (Q(s) − t·P(s)), s = t², t = x − centre (or x).

    Such a quotient is 1 at t = 0 and R(−t) = 1/R(t), as e^t is. Centred at c ≠ 0 it needs
    the factor f(c) (e^x = e^c·e^(x−c)): `scale`, one multiplication more, held by the fit
    (it is the lighter side of a product) while the LP fits P and Q.
    """
    nodes = [Node("x")]
    t = 0
    if centre is not None:
        nodes.append(Node("const", (), -centre))
        nodes.append(Node("add", (0, 1)))
        t = 2
    nodes.append(Node("mul", (t, t)))
    s = len(nodes) - 1
    q = _append_horner(nodes, s, [1.0] + [0.0] * even_degree)
    p = _append_horner(nodes, s, [0.5] + [0.0] * odd_degree)
    nodes.append(Node("mul", (t, p)))
    return _symmetric_quotient(nodes, q, len(nodes) - 1, scale)


def families(shape: Shape, lo: float, hi: float, limit: int = 16) -> list[tuple[str, Program]]:
    """Every named skeleton of the families that suit the shape, up to `limit` operations."""
    named: list[tuple[str, Program]] = []
    zero, root = shape.zero, shape.root
    for degree in range(0 if zero is not None else 1, limit + 1):
        if root is not None:  # f(root) is tiny but not 0: a free constant term in t = x − root carries it
            named.append((f"poly-{degree}", centred_polynomial(degree, root)))
        elif zero is None:
            named.append((f"poly-{degree}", horner([0.0] * (degree + 1))))
        else:
            named.append((f"poly-{degree + 1}", factored_polynomial(degree, zero)))
    if zero == 0.0 and shape.odd:
        named += [(f"odd-poly-{2 * d + 1}", odd_polynomial(d)) for d in range(1, limit)]
        named += [(f"x-plus-odd-poly-{2 * d + 1}", unit_odd_polynomial(d)) for d in range(1, limit)]
    elif zero is not None:
        named += [(f"t-plus-poly-{d + 1}", unit_factored_polynomial(d, zero)) for d in range(1, limit)]
    if shape.even and root is None:  # q(x²) cannot carry f(root) ≠ 0 to its relative precision
        named += [(f"even-poly-{2 * d}", even_polynomial(d)) for d in range(1, limit)]
        for top in range(0, limit):
            for bottom in range(1, limit):
                if top + bottom + 2 <= limit and abs(top - bottom) <= 3:
                    named.append((f"even-rational-{2 * top}/{2 * bottom}", even_rational(top, bottom)))
    for top in range(0, limit):
        for bottom in range(1, limit):
            reduced = zero is not None and top == 0  # t/Q(t): any Q degree is a fair split
            if top + bottom + 1 > limit or (abs(top - bottom) > 3 and not reduced):
                continue
            if root is not None:  # a constant P never comes near 0: only P of degree ≥ 1
                if top:
                    named.append((f"rational-{top}/{bottom}", centred_rational(top, bottom, root)))
            elif zero is None:
                program = rational([0.0] * (top + 1), [1.0] + [0.0] * bottom)
                named.append((f"rational-{top}/{bottom}", program))
            elif top == 0:  # t·p0/Q(t) is t/Q(t) with p0 divided into Q: one op fewer
                named.append((f"rational-1/{bottom}", reduced_rational(bottom, zero)))
            else:
                named.append((f"rational-{top + 1}/{bottom}", factored_rational(top, bottom, zero)))
    if shape.exp_like:
        centre = float(numpy.float32((lo + hi) / 2))
        for even in range(0, 4):
            for odd in range(0, 4):
                middle = centre if centre != 0 else None
                scale = shape.centre_value if middle is not None else None
                program = (
                    symmetric_rational(even, odd, middle, scale)
                    if odd
                    else reduced_symmetric_rational(even, middle, scale)
                )
                named.append((f"symmetric-{even}/{odd}", program))
    return [(name, program.prune()) for name, program in named]


def odd_rational(numerator: int, denominator: int) -> Program:
    """x·P(x²)/Q(x²) (x/Q(x²) when P is a constant, which Q absorbs): Cephes' form for erf."""
    nodes = [Node("x"), Node("mul", (0, 0))]
    top = 0
    if numerator:
        p = _append_horner(nodes, 1, [1.0] + [0.0] * numerator)
        nodes.append(Node("mul", (0, p)))
        top = len(nodes) - 1
    q = _append_horner(nodes, 1, [1.0] + [0.0] * denominator)
    nodes.append(Node("div", (top, q)))
    return Program(tuple(nodes))


def squared(program: Program) -> Program:
    """p(x)²: with p ≈ f(x/2)·..., e^x = (e^(x/2))², the one-step range reduction of exp."""
    last = len(program.nodes) - 1
    return Program((*program.nodes, Node("mul", (last, last))))


def rooted_input(program: Program) -> Program:
    """p(√x): log x = 2·log √x, the square-root range reduction (Briggs) for logarithms."""
    nodes = [Node("x"), Node("sqrt", (0,))]
    for node in program.nodes[1:]:
        nodes.append(Node(node.op, tuple(1 if a == 0 else a + 1 for a in node.args), node.value))
    return Program(tuple(nodes))


def textbook_extensions(shape: Shape, lo: float, hi: float, limit: int) -> list[tuple[str, Program]]:
    """Textbook forms beyond `families`, for reports that ask whether a novel point is one of them.

    Odd rationals x·P(x²)/Q(x²) for odd functions (Cephes' erf); for exp-like functions one
    and two squarings of every polynomial and symmetric rational (scaling and squaring); for
    a zero at 1 (logarithms) the polynomial and rational families in √x and in √√x (Briggs'
    reduction by repeated square roots).
    They are not baselines: labels stay as `families` decide; a report shows the margin over
    these too.
    """
    named: list[tuple[str, Program]] = []
    if shape.zero == 0.0 and shape.odd:
        for top in range(0, limit):
            for bottom in range(1, limit):
                program = odd_rational(top, bottom)
                if program.cost() <= limit:
                    named.append((f"odd-rational-{2 * top + 1}/{2 * bottom}", program))
    if shape.exp_like:
        for times, prefix in ((1, "squared-"), (2, "squared-twice-")):
            # the inner program approximates f^(1/2) or f^(1/4): so does its symmetric forms' factor
            value = shape.centre_value
            inner = replace(shape, centre_value=None if value is None else value ** (0.5**times))
            for name, program in families(inner, lo, hi, limit - times):
                if name.startswith(("poly-", "symmetric-")):
                    for _ in range(times):
                        program = squared(program)
                    named.append((f"{prefix}{name}", program))
    if shape.zero == 1.0:
        for name, program in families(shape, lo, hi, limit - 1):
            if name.startswith(("poly-", "rational-")):
                named.append((f"sqrt-{name}", rooted_input(program)))
                if program.cost() + 2 <= limit:
                    named.append((f"sqrt-twice-{name}", rooted_input(rooted_input(program))))
    return named


def seed_programs(shape: Shape, lo: float, hi: float, within: object) -> list[Program]:
    """Skeletons of every family (plus centred polynomials) that `within(program)` accepts."""
    centre = float(numpy.float32((lo + hi) / 2))
    seeds = [program for _, program in families(shape, lo, hi)]
    seeds += [centred_polynomial(d, centre).prune() for d in range(2, 12)]
    accepted = [seed for seed in seeds if within(seed)]  # type: ignore[operator]
    return sorted(accepted, key=lambda p: (p.cost(), len(p.nodes)))


@dataclass(frozen=True)
class Baseline:
    name: str
    program: Program


def _reexpand(coefficients: list, centre: object, shift: object = 0) -> list[float]:
    """Coefficients of Σ a_k (x − c)^k as a polynomial in (x − shift) (mpmath arithmetic)."""
    import mpmath

    degree = len(coefficients) - 1
    result = [mpmath.mpf(0)] * (degree + 1)
    offset = centre - shift
    for k, a in enumerate(coefficients):
        for j in range(k + 1):
            result[j] += a * mpmath.binomial(k, j) * (-offset) ** (k - j)
    return [float(v) for v in result]


def taylor_and_pade(mp_function: object, lo: float, hi: float, limit: int, shape: Shape) -> list[Baseline]:
    """Taylor and Padé at the midpoint, as Horner programs (factored when f has a zero)."""
    import mpmath

    baselines: list[Baseline] = []
    zero, root = shape.zero, shape.root
    with mpmath.workdps(40):
        # at a zero the format cannot hold, the series is taken there: its constant term is f(root)
        centre = mpmath.mpf(root) if root is not None else (mpmath.mpf(lo) + mpmath.mpf(hi)) / 2
        series = mpmath.taylor(mp_function, centre, limit + 2)
        for degree in range(1, limit + 1):
            if root is not None:
                program = centred_polynomial(degree, root, [float(a) for a in series[: degree + 1]])
            elif zero is None:
                program = horner(_reexpand(series[: degree + 1], centre))
            else:
                coefficients = _reexpand(series[: degree + 1], centre, mpmath.mpf(zero))[1:]
                program = factored_polynomial(degree - 1, zero, coefficients)
            baselines.append(Baseline(f"taylor-{degree}", program))
        for m in range(1, limit):
            for n in (m - 1, m):
                if n < 1 or m + n + 1 > limit:
                    continue
                try:
                    top, bottom = mpmath.pade(series[: m + n + 1], m, n)
                except (ZeroDivisionError, ValueError):
                    continue
                if root is not None:
                    floats = ([float(a) for a in top], [float(b) for b in bottom])
                    program = centred_rational(m, n, root, floats)
                elif zero is None:
                    program = rational(_reexpand(top, centre), _reexpand(bottom, centre))
                else:
                    shift = mpmath.mpf(zero)
                    p, q = _reexpand(top, centre, shift)[1:], _reexpand(bottom, centre, shift)
                    program = factored_rational(len(p) - 1, len(q) - 1, zero, (p, q))
                baselines.append(Baseline(f"pade-{m}/{n}", program))
    return baselines
