"""Starting programs (smart seeding) and the baselines they are compared with.

Seeds are shapes whose constants the domain's LP fit fills in: Horner polynomials,
Horner rationals P/Q, polynomials in t = x − c (centred), and the symmetric rationals
(Q(t²) + t·P(t²)) / (Q(t²) − t·P(t²)) that exp-like functions favour. Evolution then
explores around them.

Baselines, each written as a Horner program so that one cost model and one evaluation
(the format's arithmetic) measure everyone: Taylor polynomials at the interval's
midpoint, Padé approximants there (both re-expanded in x with mpmath at 40 digits), and
minimax polynomials (the exact LP fit of `fitting`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy

from agent.domains.numerics.program import Node, Program, horner, rational


def _append_horner(nodes: list[Node], variable: int, coefficients: list[float]) -> int:
    """Horner in node `variable`; returns the index of the result (a const for degree 0)."""
    nodes.append(Node("const", (), coefficients[-1]))
    accumulator = len(nodes) - 1
    for c in reversed(coefficients[:-1]):
        nodes.append(Node("const", (), c))
        nodes.append(Node("fma", (accumulator, variable, len(nodes) - 1)))
        accumulator = len(nodes) - 1
    return accumulator


def centred_polynomial(degree: int, centre: float) -> Program:
    nodes = [Node("x"), Node("const", (), -centre)]
    nodes.append(Node("add", (0, 1)))
    _append_horner(nodes, 2, [0.0] * (degree + 1))
    return Program(tuple(nodes))


def symmetric_rational(even_degree: int, odd_degree: int, centre: float | None) -> Program:
    """(Q(s) + t·P(s)) / (Q(s) − t·P(s)), s = t², t = x − centre (or x)."""
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
    tp = len(nodes) - 1
    nodes.append(Node("add", (q, tp)))
    nodes.append(Node("sub", (q, tp)))
    nodes.append(Node("div", (len(nodes) - 2, len(nodes) - 1)))
    return Program(tuple(nodes)).prune()


def seed_programs(max_cost: int, lo: float, hi: float) -> list[Program]:
    """Skeletons of every family with cost ≤ max_cost, cheapest first."""
    centre = float(numpy.float32((lo + hi) / 2))
    seeds: list[Program] = [horner([0.0] * (d + 1)) for d in range(1, max_cost + 1)]
    seeds += [centred_polynomial(d, centre) for d in range(2, max_cost)]
    for numerator in range(0, max_cost):
        for denominator in range(1, max_cost):
            if numerator + denominator + 1 <= max_cost and abs(numerator - denominator) <= 2:
                seeds.append(rational([0.0] * (numerator + 1), [1.0] + [0.0] * denominator))
    for even in range(0, 4):
        for odd in range(0, 4):
            for middle in (None, centre):
                program = symmetric_rational(even, odd, middle)
                if program.cost() <= max_cost:
                    seeds.append(program)
    seeds = [seed.prune() for seed in seeds if seed.cost() <= max_cost]
    return sorted(seeds, key=lambda p: (p.cost(), len(p.nodes)))


@dataclass(frozen=True)
class Baseline:
    name: str
    program: Program


def _reexpand(coefficients: list, centre: object) -> list[float]:
    """Coefficients of Σ a_k (x − c)^k as a polynomial in x (mpmath arithmetic)."""
    import mpmath

    degree = len(coefficients) - 1
    result = [mpmath.mpf(0)] * (degree + 1)
    for k, a in enumerate(coefficients):
        for j in range(k + 1):
            result[j] += a * mpmath.binomial(k, j) * (-centre) ** (k - j)
    return [float(v) for v in result]


def taylor_and_pade(mp_function: object, lo: float, hi: float, max_cost: int) -> list[Baseline]:
    import mpmath

    baselines: list[Baseline] = []
    with mpmath.workdps(40):
        centre = (mpmath.mpf(lo) + mpmath.mpf(hi)) / 2
        series = mpmath.taylor(mp_function, centre, max_cost + 1)
        for degree in range(1, max_cost + 1):
            baselines.append(Baseline(f"taylor-{degree}", horner(_reexpand(series[: degree + 1], centre))))
        for m in range(1, max_cost):
            for n in (m - 1, m):
                if n < 1 or m + n + 1 > max_cost:
                    continue
                try:
                    top, bottom = mpmath.pade(series[: m + n + 1], m, n)
                except (ZeroDivisionError, ValueError):
                    continue
                program = rational(_reexpand(top, centre), _reexpand(bottom, centre))
                baselines.append(Baseline(f"pade-{m}/{n}", program))
    return baselines
