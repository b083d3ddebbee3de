"""The float32 speed comparison: which loops are timed beside each other (the front's programs
verified under 1 ULP, the best baseline polynomial, glibc's function and its vector library,
NumPy's, and with double inside the cheapest polynomial in plain float32), within the deadline.
The timing itself is `speed`; this module chooses what races.
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from agent.deadline import Deadline
from agent.domains.numerics.baselines import (
    SPEED_POLYNOMIAL_COST,
    is_polynomial,
)
from agent.domains.numerics.domain import NumericsDomain
from agent.domains.numerics.exhaustive import verify_all
from agent.domains.numerics.measure import measure
from agent.domains.numerics.program import Program
from agent.domains.numerics.report import (
    BaselineEntry,
    FrontEntry,
    Speed,
)
from agent.domains.numerics.request import Request
from agent.domains.numerics.speed import measure_speed
from agent.domains.numerics.targets import FORMATS, Format

# double inside: the cheapest float32-arithmetic polynomials under 1 ULP on the grid that get an
# exhaustive pass (all of degree 6 to 16 qualify for exp2 on [0, 1]: verifying them all ran past
# the pass's time and left the comparison without them)
PLAIN_VERIFIED = 2
MIN_SPEED_SECONDS = 4.0  # below this the speed loops are not started


def compare_speeds(
    request: Request,
    front: list[FrontEntry],
    programs: list[Program],
    baselines: list[BaselineEntry],
    named: list[tuple[str, Program]],
    say: Callable[[str], None],
    until: Deadline,
    notes: list[str],
    plain_screened: list[PlainPolynomial],
) -> list[Speed]:
    """Loops of every exhaustively verified front program under 1 ULP, the best baseline polynomial, glibc, NumPy.

    With a wider arithmetic inside, the format's own arithmetic gets its say too: the cheapest
    baseline polynomial under 1 ULP in plain float32 (where there is one, as for exp2 on [0, 1])
    is timed beside the double-inside one, and the faster of them is "the best baseline polynomial".
    """
    candidates = [
        (f"front cost {e.cost:g}", p, e)
        for e, p in zip(front, programs, strict=True)
        if e.max_ulp < 1 and e.verified == "exhaustive"
    ]
    if not candidates:
        say("phase: speed skipped: no exhaustively verified front program under 1 ULP")
        return []
    loops = [_Loop(name, p, "front", entry.max_ulp, entry.origin) for name, p, entry in candidates]
    polynomials = [
        b for b in baselines if is_polynomial(b.name) and b.verified == "exhaustive" and b.max_ulp < 1
    ]
    if polynomials:
        best_poly = min(polynomials, key=lambda b: (b.cost, b.max_ulp))
        loops.append(
            _Loop(best_poly.name, dict(named)[best_poly.name], "baseline", best_poly.max_ulp, "baseline")
        )
    formats: dict[str, Format] = {}
    if request.format.inside:
        say("phase: speed: the float32-arithmetic baseline polynomials, on every float")
        plain = _plain_arithmetic_polynomial(request, plain_screened, until, notes)
        if plain is not None:
            loops.append(plain)
            formats[plain.name] = FORMATS[request.dtype]
    left = until.left()
    if left < MIN_SPEED_SECONDS:
        notes.append(f"speed not measured: {left:.0f}s were left")
        say("phase: speed skipped: no time left")
        return []
    say(f"phase: speed ({len(loops)} loops + glibc + NumPy over 2^24 inputs)")
    try:
        # NumPy's loop runs after the C ones, in this process: keep it a share of the time
        timeout = None if math.isinf(left) else 0.7 * left
        timings = measure_speed(
            [(loop.name, loop.program) for loop in loops], request.fn, request.lo, request.hi,
            timeout=timeout, fmt=request.format, formats=formats,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        notes.append("speed not measured: the timing loops did not finish by --time")
        say("phase: speed stopped at the deadline")
        return []
    result: list[Speed] = []
    for k, timing in enumerate(timings):
        if k < len(loops):
            loop = loops[k]
            result.append(Speed(timing.name, timing.ns, timing.spread, loop.kind, loop.max_ulp, loop.origin))
        else:
            kind = "glibc" if timing.name.startswith("glibc") else "numpy"
            result.append(Speed(timing.name, timing.ns, timing.spread, kind))
    return result


@dataclass(frozen=True)
class _Loop:
    """A program to time, and what it stands for in the comparison."""

    name: str
    program: Program
    kind: str  # "front" or "baseline"
    max_ulp: float
    origin: str


@dataclass(frozen=True)
class PlainPolynomial:
    """A baseline polynomial refitted in the format's own arithmetic, under 1 ULP on the search grid."""

    cost: float
    name: str
    program: Program


def plain_arithmetic_polynomials(request: Request, named: list[tuple[str, Program]]) -> list[PlainPolynomial]:
    """Double inside: the cheapest minimax polynomials that are under 1 ULP in plain float32 too.

    The double-inside polynomials are refitted with float32 arithmetic (the same LP and
    rounding-aware polish a float32 run gives its baselines) and screened on the search grid (a
    grid error ≥ 1 ULP is ≥ 1 ULP everywhere); the `PLAIN_VERIFIED` cheapest survivors are kept
    for an exhaustive pass at speed time. Screened before the search, so that the plan keeps
    time for that pass only where there is something to verify (exp2 on [0, 1]; none of
    log, log2, erf, sin has one).
    """
    domain = NumericsDomain(
        request.fn, request.lo, request.hi, request.dtype, max_cost=SPEED_POLYNOMIAL_COST,
        cost_model_name=request.cost_model,
    )  # fmt: skip
    fmt = domain.format
    screened: list[PlainPolynomial] = []
    for name, program in named:
        if not (name.startswith("minimax-") and is_polynomial(name)):
            continue
        refit = domain.fitted(program)
        if measure(domain.score.x, refit.run(domain.score.x, fmt), domain.score.truth, fmt).max_ulp < 1:
            screened.append(PlainPolynomial(domain.cost(refit), name, refit))
    return sorted(screened, key=lambda p: p.cost)[:PLAIN_VERIFIED]


def _plain_arithmetic_polynomial(
    request: Request, screened: list[PlainPolynomial], until: Deadline, notes: list[str]
) -> _Loop | None:
    """The cheapest screened plain-float32 polynomial that is under 1 ULP on every float."""
    if not screened:
        return None
    left = until.left()
    try:
        timeout = None if math.isinf(left) else max(1.0, 0.8 * (left - MIN_SPEED_SECONDS))
        results, _ = verify_all(
            [p.program for p in screened], request.fn, request.lo, request.hi, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        notes.append("the float32-arithmetic baseline polynomials were not verified in time: not timed")
        return None
    for plain, verified in zip(screened, results, strict=True):
        if verified.max_ulp < 1:
            return _Loop(
                f"{plain.name} in float32 arithmetic", plain.program, "baseline", verified.max_ulp, "baseline"
            )
    return None
