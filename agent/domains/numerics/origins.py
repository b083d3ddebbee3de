"""Where a front point comes from, and whether it is a discovery.

A search seeded with the baselines' own shapes finds the baselines again; reporting
those as results would be a claim of nothing. Every front point therefore gets one origin:

- `seed`: its structure (the DAG up to commutativity, constants aside) is one of the
  seeds' structures: the fit, not evolution, made it, however good it is;
- `baseline-equivalent`: its error is within rounding (TOLERANCE) of the strongest
  baseline at the same or lower cost (costs within COST_TOLERANCE count as the same);
- `novel`: strictly better, beyond that tolerance, than every baseline at the same or
  lower cost: the only kind counted as a discovery;
- `evolved`: found by evolution, but worse than some baseline at the same or lower cost,
  or cheaper than every baseline (nothing to compare with is no discovery either).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

ORIGINS = ("seed", "baseline-equivalent", "evolved", "novel")
TOLERANCE = 0.02  # relative: errors within 2% of each other are the same result rounded differently
# relative: costs within 5% of each other are the same cost. Measured op weights have two
# significant digits and their noise (add 0.82, sub 0.85 fmas): log2's t·q(t) written with an
# add in place of a sub cost 2.68 against minimax-2's 2.7 and was "8.15× better than minimax-1".
COST_TOLERANCE = 0.05
COST_SLACK = 1e-9


@dataclass(frozen=True)
class Measured:
    """A baseline's cost and error in the report's cost model and error measure."""

    name: str
    cost: float
    error: float


@dataclass(frozen=True)
class Label:
    origin: str
    baseline: str | None  # the strongest baseline at the same or lower cost
    baseline_error: float | None
    margin: float | None  # baseline error / this error (> 1 means better than the baseline)


def strongest(baselines: Sequence[Measured], cost: float) -> Measured | None:
    """The most accurate baseline whose cost is at most `cost` (within `COST_TOLERANCE`)."""
    affordable = [b for b in baselines if b.cost <= cost * (1 + COST_TOLERANCE) + COST_SLACK]
    return min(affordable, key=lambda b: (b.error, b.cost)) if affordable else None


def label(error: float, cost: float, is_seed: bool, baselines: Sequence[Measured]) -> Label:
    """The origin of a point of this error and cost (see the module docstring)."""
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
        return Label("novel", name, reference, margin)
    if margin >= 1 / (1 + TOLERANCE):
        return Label("baseline-equivalent", name, reference, margin)
    return Label("evolved", name, reference, margin)


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
    `novel` (a discovery is never hidden behind a cheaper point that only ties its baseline).

    The search's front is ranked on its grid, the report's errors are verified on more inputs, and
    the search keeps points that are useless as approximations (a constant 0 is relative error 1 at
    the lowest cost): shown as they were, a front of 16 carried rows for a program that returns
    inf and for costlier programs with the same verified error as a cheaper one.
    """
    useless = [i for i in range(len(costs)) if not (rel_errors[i] < 1 and math.isfinite(errors[i]))]
    kept: list[int] = []
    best = float("inf")
    for i in sorted(set(range(len(costs))) - set(useless), key=lambda i: (costs[i], errors[i], i)):
        if errors[i] * (1 + TOLERANCE) < best or novel[i]:
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
