"""Failing regions of an offline search space, learned from crashes, as plain data.

The run loop compiles each `Region` into a Z3 exclusion constraint
(¬(p * q ≥ t), ¬(lo ≤ x ≤ hi ∧ y ∈ S ∧ …)) so the offline proposer does not pay
twice for the same crash. Per task and error signature, with at least
`min_failures` crashes, the simplest monotone rule comes first:

- Candidates: a half-space on one numeric parameter (`p >= t`, `p <= t`), or
  on the product of two positive numeric parameters (`p * q >= t`,
  `p * q <= t`): resource exhaustion (out of memory, time, disk) is typically
  monotone in sizes and their products. A candidate must hold every crash
  (its edge is the least extreme crash) and no success (status ok), and at
  least one success must have its parameters (evidence of where the crash does
  not happen, so two early crashes never exclude half the space).
- Choice: the widest margin between the crashes and the nearest success, as a
  share of the span of the rule's measure (log scale when positive), then
  fewer parameters. An incidental value (the learning rate or dropout the
  crashes happened to have) separates them from the successes only narrowly,
  so it does not enter the rule. Measured in `benchmarks/memory_pays.py`:
  "fewer parameters first" picked such one-parameter rules from two crashes,
  and as an excluded region can never be refuted by a success, they cost both
  crashes and the best score.
- Threshold: midway (geometric when positive) between the least extreme crash
  and the nearest success, as a maximum-margin separator would. At the crash
  itself, every point in the gap stays allowed and the search, drawn to a
  wall where the best points lie, paid for crash after crash inside it; midway,
  each crash or success in the gap halves it.

Without a consistent monotone rule, the box rule (a fallback for crashes with
no threshold, e.g. a bad choice or a narrow band):

1. Cluster the crashed genomes greedily: a crash joins a cluster when the
   bounding box of the merged cluster still contains no successful genome.
2. Keep clusters with at least `min_failures` crashes (one crash is an
   accident; two with the same signature are a pattern).
3. For each numeric parameter, open the box's upper end (hi = None) when some
   success lies below the box on that parameter and none above it, and
   symmetrically for the lower end: failures beyond every success, with
   successes on the other side, look like a threshold (out of memory above a
   size). Without successes on the other side nothing is extended, so an
   early pair of crashes never excludes the whole space.
4. Choice parameters (strings, booleans) keep the set of values that crashed.

No region at all while nothing has succeeded: a crash is evidence about a region only
beside a success elsewhere. A task whose evaluator fails on every input (a broken
scorer, a missing file) had its crash box grow with each sample until it covered the
whole space, and the run then rejected every candidate it proposed.

Confidence is (crashes + 1) / (crashes + 2). A genome lacking a parameter
the region constrains is never inside it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Literal

from knowledge.memory.trace import ParamValue

Params = Mapping[str, ParamValue]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Threshold:
    """A monotone rule: the product of `names`' values (one name: the value) `op` `value`."""

    names: tuple[str, ...]
    op: Literal[">=", "<="]
    value: float

    def measure(self, params: Params) -> float | None:
        """The product of the named values (None when one is missing or not a number)."""
        values = [params.get(name) for name in self.names]
        if not all(_is_number(v) for v in values):
            return None
        return math.prod(values)  # type: ignore[arg-type]

    def holds(self, params: Params) -> bool:
        measure = self.measure(params)
        if measure is None:
            return False
        return measure >= self.value if self.op == ">=" else measure <= self.value

    def render(self) -> str:
        return f"{' * '.join(self.names)} {self.op} {self.value!r}"

    def describe(self) -> str:
        return f"{' × '.join(self.names)} {'≥' if self.op == '>=' else '≤'} {self.value:g}"


@dataclass(frozen=True)
class Region:
    """Numeric params in [lo, hi] (None = unbounded), choices in a set, and an optional threshold."""

    task_name: str
    signature: str
    numeric: dict[str, tuple[float | None, float | None]]
    choices: dict[str, frozenset[ParamValue]]
    failures: int
    confidence: float
    experiments: tuple[str, ...] = field(default_factory=tuple)
    threshold: Threshold | None = None

    @property
    def names(self) -> frozenset[str]:
        """The parameters the region constrains."""
        extra = self.threshold.names if self.threshold is not None else ()
        return frozenset([*self.numeric, *self.choices, *extra])

    def contains(self, params: Params) -> bool:
        if self.threshold is not None and not self.threshold.holds(params):
            return False
        for name, (lo, hi) in self.numeric.items():
            value = params.get(name)
            if not _is_number(value):
                return False
            if (lo is not None and value < lo) or (hi is not None and value > hi):  # type: ignore[operator]
                return False
        return all(name in params and params[name] in values for name, values in self.choices.items())

    def exclusion_rule(self) -> str:
        """`not (…)` in Python syntax (also the task files' rule language): true outside the region."""
        terms = [self.threshold.render()] if self.threshold is not None else []
        for name, (lo, hi) in sorted(self.numeric.items()):
            if lo is not None and lo == hi:
                terms.append(f"{name} == {lo!r}")
                continue
            if lo is not None:
                terms.append(f"{name} >= {lo!r}")
            if hi is not None:
                terms.append(f"{name} <= {hi!r}")
        for name, values in sorted(self.choices.items()):
            options = " or ".join(f"{name} == {v!r}" for v in sorted(values, key=repr))
            terms.append(f"({options})" if len(values) > 1 else options)
        return f"not ({' and '.join(terms)})" if terms else "True"

    def describe(self) -> str:
        parts = [self.threshold.describe()] if self.threshold is not None else []
        for name, (lo, hi) in sorted(self.numeric.items()):
            if lo is not None and lo == hi:
                parts.append(f"{name} = {lo:g}")
            elif hi is None and lo is not None:
                parts.append(f"{name} ≥ {lo:g}")
            elif lo is None and hi is not None:
                parts.append(f"{name} ≤ {hi:g}")
            elif lo is not None and hi is not None:
                parts.append(f"{lo:g} ≤ {name} ≤ {hi:g}")
        for name, values in sorted(self.choices.items()):
            parts.append(f"{name} ∈ {{{', '.join(sorted(map(repr, values)))}}}")
        return " ∧ ".join(parts) or "(everywhere)"


@dataclass(frozen=True)
class Point:
    experiment_id: str
    params: Params


def _box(points: Sequence[Params]) -> tuple[dict[str, tuple[float, float]], dict[str, frozenset[ParamValue]]]:
    names = set(points[0])
    for p in points[1:]:
        names &= set(p)
    numeric: dict[str, tuple[float, float]] = {}
    choices: dict[str, frozenset[ParamValue]] = {}
    for name in sorted(names):
        values = [p[name] for p in points]
        if all(_is_number(v) for v in values):
            numeric[name] = (min(values), max(values))  # type: ignore[type-var]
        else:
            choices[name] = frozenset(values)
    return numeric, choices


def _inside(
    params: Params,
    numeric: Mapping[str, tuple[float | None, float | None]],
    choices: Mapping[str, frozenset[ParamValue]],
) -> bool:
    probe = Region("", "", dict(numeric), dict(choices), 0, 0.0)
    return probe.contains(params)


def _clusters(failures: Sequence[Point], successes: Sequence[Params]) -> list[list[Point]]:
    clusters: list[list[Point]] = []
    for point in failures:
        for cluster in clusters:
            numeric, choices = _box([p.params for p in [*cluster, point]])
            if not any(_inside(s, numeric, choices) for s in successes):
                cluster.append(point)
                break
        else:
            clusters.append([point])
    return clusters


def _extend(
    numeric: dict[str, tuple[float | None, float | None]],
    choices: dict[str, frozenset[ParamValue]],
    successes: Sequence[Params],
) -> dict[str, tuple[float | None, float | None]]:
    bounds = dict(numeric)
    for name in sorted(bounds):
        seen = [s[name] for s in successes if _is_number(s.get(name))]
        lo, hi = bounds[name]
        if lo is not None and hi is not None:
            below = any(v < lo for v in seen)  # type: ignore[operator]
            above = any(v > hi for v in seen)  # type: ignore[operator]
            if below and not above:
                candidate = {**bounds, name: (lo, None)}
            elif above and not below:
                candidate = {**bounds, name: (None, hi)}
            else:
                continue
            if not any(_inside(s, candidate, choices) for s in successes):
                bounds = candidate
    return bounds


def _candidates(failures: Sequence[Params], size: int) -> list[Threshold]:
    """Rules over `size` numeric parameters that every failure has, t at the least extreme failure."""
    shared = set(failures[0])
    for params in failures[1:]:
        shared &= set(params)
    numeric = sorted(n for n in shared if all(_is_number(p[n]) for p in failures))
    rules = []
    for names in combinations(numeric, size):
        if size > 1 and any(p[n] <= 0 for p in failures for n in names):  # type: ignore[operator]
            continue  # a product is monotone in its factors only where they are positive
        probe = Threshold(names, ">=", 0.0)
        measures = [probe.measure(p) for p in failures]
        rules.append(Threshold(names, ">=", min(measures)))  # type: ignore[type-var]
        rules.append(Threshold(names, "<=", max(measures)))  # type: ignore[type-var]
    return rules


def _scale(value: float, positive: bool) -> float:
    return math.log(value) if positive else value


def _margin(rule: Threshold, successes: Sequence[Params], points: Sequence[Params]) -> float:
    """The gap between the failures and the nearest success on `rule`'s measure, as a share of its span.

    Maximum margin: of the rules that separate, the one whose separation is widest
    relative to the spread of its measure is the least likely to hold by chance (an
    incidental parameter separates two crashes from the successes only narrowly).
    Log scale when every measure is positive (sizes, rates).
    """
    measures = [m for m in (rule.measure(p) for p in points) if m is not None]
    beyond = [m for m in (rule.measure(s) for s in successes) if m is not None]
    positive = min(measures) > 0
    nearest = max(beyond) if rule.op == ">=" else min(beyond)
    span = _scale(max(measures), positive) - _scale(min(measures), positive)
    gap = abs(_scale(rule.value, positive) - _scale(nearest, positive))
    return gap / span if span > 0 else 0.0


def _midway(rule: Threshold, successes: Sequence[Params]) -> Threshold:
    """`rule` with its threshold midway (geometric when positive) to the nearest success beyond it."""
    measures = [m for m in (rule.measure(s) for s in successes) if m is not None]
    nearest = max(measures) if rule.op == ">=" else min(measures)
    edge = rule.value
    middle = math.sqrt(edge * nearest) if edge > 0 and nearest > 0 else (edge + nearest) / 2
    middle = float(f"{middle:.4g}")  # a readable rule
    if not (min(edge, nearest) < middle < max(edge, nearest)):
        return rule  # no room between them once rounded: the failure itself is the edge
    return Threshold(rule.names, rule.op, middle)


def simplest_threshold(
    failures: Sequence[Params], successes: Sequence[Params], max_params: int = 2
) -> Threshold | None:
    """The monotone rule (one parameter or a product of two) that holds every failure and no success.

    None without one; the choice and the threshold are explained in the module docstring.
    """
    consistent = [
        rule
        for size in range(1, max_params + 1)
        for rule in (_candidates(failures, size) if failures else [])
        if not any(rule.holds(s) for s in successes) and any(rule.measure(s) is not None for s in successes)
    ]
    if not consistent:
        return None
    points = [*failures, *successes]
    best = min(consistent, key=lambda r: (-_margin(r, successes, points), len(r.names), r.names, r.op))
    return _midway(best, successes)


def failing_regions(
    task_name: str,
    crashes: Mapping[str, Sequence[Point]],
    successes: Sequence[Params],
    min_failures: int = 2,
) -> list[Region]:
    """Regions per signature from crashed points (grouped by signature) and successful genomes."""
    if not successes:
        return []
    regions = []
    for signature, points in sorted(crashes.items()):
        if len(points) >= min_failures:
            threshold = simplest_threshold([p.params for p in points], successes)
            if threshold is not None:
                regions.append(_region(task_name, signature, {}, {}, points, threshold))
                continue
        for cluster in _clusters(points, successes):
            if len(cluster) < min_failures:
                continue
            numeric, choices = _box([p.params for p in cluster])
            if not numeric and not choices:
                continue
            bounds = _extend(dict(numeric), choices, successes)
            regions.append(_region(task_name, signature, bounds, choices, cluster))
    return sorted(regions, key=lambda r: (-r.confidence, r.signature))


def _region(
    task_name: str,
    signature: str,
    numeric: dict[str, tuple[float | None, float | None]],
    choices: dict[str, frozenset[ParamValue]],
    points: Sequence[Point],
    threshold: Threshold | None = None,
) -> Region:
    n = len(points)
    return Region(
        task_name=task_name,
        signature=signature,
        numeric=numeric,
        choices=choices,
        failures=n,
        confidence=(n + 1) / (n + 2),
        experiments=tuple(p.experiment_id for p in points),
        threshold=threshold,
    )
