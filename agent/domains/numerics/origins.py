"""Where a front point comes from, and whether it is a discovery.

A search seeded with the baselines' own shapes finds the baselines again; reporting
those as results would be a claim of nothing. Every front point therefore gets one origin:

- `seed`: its structure (the DAG up to commutativity, constants aside) is one of the
  seeds' structures: the fit, not evolution, made it, however good it is;
- `baseline-equivalent`: its error is within rounding (TOLERANCE) of the strongest
  baseline at the same or lower cost (costs within COST_TOLERANCE count as the same);
- `novel`: strictly better, beyond that tolerance, than every baseline at the same or
  lower cost, both sides measured on the full verification set (`FULL`): the only kind
  counted as a discovery;
- `novel?`: the same margin, but it rests on errors measured on less than that set (a sample
  thinned to fit --time, float32's sampled fallback, or the search grid): unconfirmed, not
  counted. A sample's maximum reads low against every float's (1–17% on float32 runs
  re-measured exhaustively), so a margin of a few % there is the sampling's: expm1's cost
  7.85 read 0.7536 vs 0.7695 ULP ("novel", 1.02×) on a 3× thinned set and is 0.7658 vs
  0.7734 (1.0099×) over every float32;
- `evolved`: found by evolution, but worse than some baseline at the same or lower cost,
  or cheaper than every baseline (nothing to compare with is no discovery either).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

ORIGINS = ("seed", "baseline-equivalent", "evolved", "novel", "novel?")
PROVISIONAL = "novel?"
# The verification kind a novel label needs, per format (see `full_kind`).
EXHAUSTIVE = "exhaustive"
SAMPLED = "sampled"
TOLERANCE = 0.02  # relative: errors within 2% of each other are the same result rounded differently
# relative: costs within 5% of each other are the same cost. Measured op weights have two
# significant digits and their noise (add 0.82, sub 0.85 fmas): log2's t·q(t) written with an
# add in place of a sub cost 2.68 against minimax-2's 2.7 and was "8.15× better than minimax-1".
COST_TOLERANCE = 0.05
COST_SLACK = 1e-9


def full_kind(precision: int) -> str:
    """The verification kind a `novel` label needs on both sides, by the format's precision.

    float32 (precision ≤ 24): `exhaustive`, every float of the interval in C; anything less
    (a stated sample, thinned or not, or the search grid) reads its maximum low.
    float64: `sampled`, the full stated verification set (`points.verification_points`: about
    1.6M inputs stratified in value and in ordinal, the top 2^18 and the edges around 0), never
    thinned. A float64 interval holds up to 2^62 inputs: no pass visits them all, so the full
    set is the design measure, the same inputs for the point and its baseline, its count
    printed, and the report says "sampled" beside each such label. Requiring a margin beyond a
    sampling uncertainty was not chosen: a sample's maximum has no bound from the sample alone
    (the worst input may be one it missed), so any such figure would be a guess; the label
    says what it rests on instead. A thinned set or the grid is less than the stated design:
    `novel?` there.
    """
    return EXHAUSTIVE if precision <= 24 else SAMPLED


@dataclass(frozen=True)
class Measured:
    """A baseline's cost and error in the report's cost model and error measure, and what the
    error was measured on (a `Verifier.kind` or "search grid")."""

    name: str
    cost: float
    error: float
    verified: str = EXHAUSTIVE


@dataclass(frozen=True)
class Label:
    origin: str
    baseline: str | None  # the strongest baseline at the same or lower cost
    baseline_error: float | None
    margin: float | None  # baseline error / this error (> 1 means better than the baseline)
    unconfirmed: str | None = None  # `novel?`: which side's error rests on less than the full set


def strongest(baselines: Sequence[Measured], cost: float) -> Measured | None:
    """The most accurate baseline whose cost is at most `cost` (within `COST_TOLERANCE`)."""
    affordable = [b for b in baselines if b.cost <= cost * (1 + COST_TOLERANCE) + COST_SLACK]
    return min(affordable, key=lambda b: (b.error, b.cost)) if affordable else None


def label(
    error: float,
    cost: float,
    is_seed: bool,
    baselines: Sequence[Measured],
    verified: str = EXHAUSTIVE,
    full: str = EXHAUSTIVE,
) -> Label:
    """The origin of a point of this error and cost (see the module docstring).

    `verified` is what this point's error was measured on, `full` the kind a `novel` label needs
    on both sides (`full_kind`); a margin beyond rounding on anything less is `novel?`.
    """
    best = strongest(baselines, cost)
    if best is None:
        margin = None
    elif error == 0:
        margin = float("inf") if best.error > 0 else 1.0
    else:
        margin = best.error / error
    name = best.name if best else None
    reference = best.error if best else None
    if is_seed:
        return Label("seed", name, reference, margin)
    if margin is None:
        return Label("evolved", None, None, None)
    if margin > 1 + TOLERANCE:
        assert best is not None
        short = _unconfirmed(verified, best, full)
        return Label(PROVISIONAL if short else "novel", name, reference, margin, short)
    if margin >= 1 / (1 + TOLERANCE):
        return Label("baseline-equivalent", name, reference, margin)
    return Label("evolved", name, reference, margin)


def _unconfirmed(verified: str, best: Measured, full: str) -> str | None:
    """Which side of a comparison rests on less than the full verification set, in words; None
    when both were measured on it."""
    if verified == best.verified != full:
        return f"both errors are {verified}"
    parts = []
    if verified != full:
        parts.append(f"its error is {verified}")
    if best.verified != full:
        parts.append(f"{best.name}'s is {best.verified}")
    return "; ".join(parts) or None


@dataclass(frozen=True)
class Shown:
    """The front points a report shows (indices, cheapest first) and one line on the rest."""

    kept: list[int]
    note: str


def worth_showing(
    costs: Sequence[float], errors: Sequence[float], rel_errors: Sequence[float], novel: Sequence[bool]
) -> Shown:
    """The points of the search's front worth a row: each approximates the function (relative error
    below 1, finite) and is better, beyond rounding (TOLERANCE), than every cheaper point shown, or is
    `novel` and strictly better than every cheaper point shown (a discovery is never hidden behind a
    cheaper point that only ties its baseline, but a point no better than a cheaper one is no
    discovery: exp's cost 7.85 was cost 7.7 with v14*v14 as fma(v14, v14, 4.6e-17), the same error,
    and both were counted as novel).

    The search's front is ranked on its grid, the report's errors are verified on more inputs, and
    the search keeps points that are useless as approximations (a constant 0 is relative error 1 at
    the lowest cost): shown as they were, a front of 16 carried rows for a program that returns
    inf and for costlier programs with the same verified error as a cheaper one.
    """
    useless = [i for i in range(len(costs)) if not (rel_errors[i] < 1 and math.isfinite(errors[i]))]
    kept: list[int] = []
    best = float("inf")
    for i in sorted(set(range(len(costs))) - set(useless), key=lambda i: (costs[i], errors[i], i)):
        if errors[i] * (1 + TOLERANCE) < best or (novel[i] and errors[i] < best):
            kept.append(i)
            best = min(best, errors[i])
    dominated = len(costs) - len(useless) - len(kept)
    parts = []
    if useless:
        parts.append(f"{len(useless)} approximate nothing (relative error ≥ 1 or not finite)")
    if dominated:
        parts.append(f"{dominated} no better than a cheaper point by more than {TOLERANCE:.0%}")
    note = f"front points not shown: {'; '.join(parts)}" if parts else ""
    return Shown(kept, note)
