"""Failing regions of an offline search space, learned from crashes, as plain data.

The run loop compiles each `Region` into a Z3 exclusion constraint
(¬(lo ≤ x ≤ hi ∧ y ∈ S ∧ …)) so the offline proposer does not pay twice for
the same crash. The rule, per task and error signature:

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

Confidence is (crashes + 1) / (crashes + 2). A genome lacking a parameter
the region constrains is never inside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from knowledge.memory.trace import ParamValue

Params = Mapping[str, ParamValue]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Region:
    """A box of the search space: numeric params in [lo, hi] (None = unbounded), choices in a set."""

    task_name: str
    signature: str
    numeric: dict[str, tuple[float | None, float | None]]
    choices: dict[str, frozenset[ParamValue]]
    failures: int
    confidence: float
    experiments: tuple[str, ...] = field(default_factory=tuple)

    def contains(self, params: Params) -> bool:
        for name, (lo, hi) in self.numeric.items():
            value = params.get(name)
            if not _is_number(value):
                return False
            if (lo is not None and value < lo) or (hi is not None and value > hi):  # type: ignore[operator]
                return False
        return all(name in params and params[name] in values for name, values in self.choices.items())

    def exclusion_rule(self) -> str:
        """`not (…)` in Python syntax (also the task files' rule language): true outside the region."""
        terms = []
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
        parts = []
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


def failing_regions(
    task_name: str,
    crashes: Mapping[str, Sequence[Point]],
    successes: Sequence[Params],
    min_failures: int = 2,
) -> list[Region]:
    """Regions per signature from crashed points (grouped by signature) and successful genomes."""
    regions = []
    for signature, points in sorted(crashes.items()):
        for cluster in _clusters(points, successes):
            if len(cluster) < min_failures:
                continue
            numeric, choices = _box([p.params for p in cluster])
            if not numeric and not choices:
                continue
            bounds = _extend(dict(numeric), choices, successes)
            n = len(cluster)
            regions.append(
                Region(
                    task_name=task_name,
                    signature=signature,
                    numeric=bounds,
                    choices=choices,
                    failures=n,
                    confidence=(n + 1) / (n + 2),
                    experiments=tuple(p.experiment_id for p in cluster),
                )
            )
    return sorted(regions, key=lambda r: (-r.confidence, r.signature))
