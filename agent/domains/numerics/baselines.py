"""The baselines a discovery is measured against: Taylor, Padé, minimax polynomials and rationals,
factored and symmetric forms, fitted under the run's cost model, and the textbook extensions
(squarings, roots) a float64 result is also compared with. A baseline that cannot be evaluated on
the interval is left out with its reason, never silently.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy

from agent.deadline import Deadline
from agent.domains.numerics.domain import NumericsDomain
from agent.domains.numerics.program import Program, horner
from agent.domains.numerics.request import NumericsInputError
from agent.domains.numerics.skeletons import families, taylor_and_pade, textbook_extensions
from agent.domains.numerics.targets import Format

SPEED_POLYNOMIAL_COST = 16  # float32: minimax polynomials are fitted up to this cost for the speed comparison


class BaselinesOutOfTime(NumericsInputError):
    """The minimax fits ran past the time they had: `done` of `total` in `seconds`.

    The time the fits take is known only once they run (2 cores, under load, 10–30 s for a
    cost limit of 10), so the caller turns these counts into the `--time` that would do.
    """

    def __init__(self, done: int, total: int, seconds: float) -> None:
        super().__init__(f"the baselines fitted {done} of {total} in {seconds:.0f}s")
        self.done, self.total, self.seconds = done, total, seconds

    def needed(self) -> float:
        """Seconds all the fits would take at the pace of those done (the first is never cut)."""
        return self.seconds * self.total / max(1, self.done)


def minimax_polynomial(domain: NumericsDomain, degree: int) -> Program:
    """The LP minimax polynomial of a degree (weighted as the domain fits), by Horner."""
    return domain.fitted(horner([0.0] * (degree + 1)))


def baseline_programs(
    domain: NumericsDomain, say: Callable[[str], None] = lambda _: None, until: Deadline | None = None
) -> list[tuple[str, Program]]:
    """Every baseline within the domain's cost limit, fitted with the same care as candidates.

    Taylor and Padé (factored where f has a zero) keep their own coefficients; the minimax
    families (polynomials, factored or odd forms, rationals for every split of the cost,
    symmetric rationals for exp-like functions) go through the domain's own fit: LP, CMA-ES
    where needed and, for float32, the same rounding-aware polish. Past `until` (the last
    moment that still leaves the search its minimum) the request cannot be met: an error.
    For float32 the minimax polynomials go on past the cost limit, up to
    `SPEED_POLYNOMIAL_COST`: the speed comparison needs the cheapest polynomial under 1 ULP,
    and where it costs more than the search may spend, the search's programs must still be
    timed against it (a baseline above a point's cost never decides that point's label).
    """
    dtype = domain.format.arithmetic.dtype
    named: list[tuple[str, Program]] = []
    for baseline in taylor_and_pade(domain.target.mp, domain.lo, domain.hi, 12, domain.shape):
        with numpy.errstate(over="ignore"):
            program = baseline.program.rounded(dtype)
        if 0 < domain.cost(program) <= domain.max_cost:
            named.append((baseline.name, program))
    fits: list[tuple[Program, Program]] = []
    polynomial_limit = max(domain.max_cost, SPEED_POLYNOMIAL_COST if domain.metric == "max_ulp" else 0)
    fitted_here = [
        (name, skeleton)
        for name, skeleton in families(domain.shape, domain.lo, domain.hi)
        if 0
        < domain.cost(skeleton)
        <= (polynomial_limit if is_polynomial(f"minimax-{name}") else domain.max_cost)
    ]
    started = time.monotonic()
    for done, (name, skeleton) in enumerate(fitted_here):
        if done and until is not None and until.expired():  # after one fit: its pace tells the rest
            raise BaselinesOutOfTime(done, len(fitted_here), time.monotonic() - started)
        say(f"baseline {name}")
        label = f"minimax-{name.removeprefix('poly-')}" if name.startswith("poly-") else f"minimax-{name}"
        with numpy.errstate(all="ignore"):  # an ill-conditioned fit overflows: `usable_baselines` says so
            fitted = domain.fitted(skeleton)
        named.append((label, fitted))
        fits.append((skeleton, fitted))
    domain.remember_fits(fits)
    return named


def usable_baselines(
    domain: NumericsDomain, named: list[tuple[str, Program]]
) -> tuple[list[tuple[str, Program]], list[str]]:
    """The baselines that compute a finite value everywhere on the search grid, and a note for each
    one left out saying why.

    A Padé approximant centred in the interval can have its pole inside it (exp's pade-1/1 on
    [-5, -1] has it at -1), and a high-degree fit on a narrow interval can need coefficients past
    the format's range (log's minimax-14 on [1, 1.0001] in float32): such a "baseline" is infinitely
    wrong, and would sit in the report as inf beside the others with no reason given.
    """
    kept: list[tuple[str, Program]] = []
    notes: list[str] = []
    with numpy.errstate(all="ignore"):
        for name, program in named:
            values = program.run(domain.score.x, domain.format)
            if numpy.all(numpy.isfinite(values)):
                kept.append((name, program))
            else:
                notes.append(f"baseline {name} left out: {_why_not_finite(program, domain.format)}")
    return kept, notes


def _why_not_finite(program: Program, fmt: Format) -> str:
    if not numpy.all(numpy.isfinite(program.constants())):
        return (
            f"its coefficients overflow {fmt.arithmetic.name} (the fit is ill-conditioned on this interval)"
        )
    if program.count("div"):
        return "its denominator vanishes on the interval (a pole inside it)"
    return f"its value overflows {fmt.arithmetic.name} on the interval"


def textbook_programs(
    domain: NumericsDomain, say: Callable[[str], None] = lambda _: None, until: Deadline | None = None
) -> list[tuple[str, Program]]:
    """float64 and double inside: the textbook forms that are not baselines (see
    `skeletons.textbook_extensions`), fitted. In plain float32 arithmetic they are left out: their
    rounding errors, not their forms, decide there.

    Only reports use them: a novel point that does not also beat these is one of them (an odd
    rational, a squared polynomial or symmetric rational, a form in √x), however its label reads. Stops
    quietly at `until`: the search's time comes first.
    """
    if domain.metric != "max_rel_error" and not domain.format.inside:
        return []
    named: list[tuple[str, Program]] = []
    fits: list[tuple[Program, Program]] = []
    for name, skeleton in textbook_extensions(domain.shape, domain.lo, domain.hi, domain.max_cost):
        if not 0 < domain.cost(skeleton) <= domain.max_cost:
            continue
        if until is not None and until.expired():
            break
        say(f"textbook form {name}")
        with numpy.errstate(all="ignore"):
            fitted = domain.fitted(skeleton)
        named.append((f"minimax-{name}", fitted))
        fits.append((skeleton, fitted))
    domain.remember_fits(fits)
    return named


def dominated(costs: list[float], errors: list[float], index: int, factor: float = 2.0) -> bool:
    """Whether another baseline is at most as costly and `factor`× more accurate."""
    return any(
        c <= costs[index] + 1e-9 and e * factor < errors[index]
        for k, (c, e) in enumerate(zip(costs, errors, strict=True))
        if k != index
    )


def is_polynomial(name: str) -> bool:
    """Taylor's and the minimax polynomials (plain, factored, odd and even); not rationals."""
    rest = name.removeprefix("minimax-")
    return name.startswith("taylor-") or (
        name.startswith("minimax-") and "rational" not in rest and not rest.startswith("symmetric")
    )
