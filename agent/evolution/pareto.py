"""Pareto ranking for minimised objectives: non-dominated sort, crowding distance, NSGA-II survival.

Written by hand (about 80 lines) instead of taking pymoo: pymoo would bring matplotlib,
autograd and a compiled core for two functions, and its survival operators assume
pymoo's own Population objects. Populations here are a few hundred individuals, so the
O(M·N²) sort in NumPy is fast enough, and ties are broken by index, which keeps runs
deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """True when `a` is no worse than `b` everywhere and better somewhere."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(x < y for x, y in zip(a, b, strict=True))


def nondominated_fronts(objectives: numpy.ndarray) -> list[list[int]]:
    """Indices of rows grouped into successive Pareto fronts (fast non-dominated sort)."""
    count = len(objectives)
    if count == 0:
        return []
    values = numpy.asarray(objectives, dtype=float)
    no_worse = (values[:, None, :] <= values[None, :, :]).all(axis=2)
    better = (values[:, None, :] < values[None, :, :]).any(axis=2)
    dominance = no_worse & better  # dominance[i, j]: i dominates j
    dominated_by = dominance.sum(axis=0)
    fronts: list[list[int]] = []
    current = [int(i) for i in numpy.flatnonzero(dominated_by == 0)]
    while current:
        fronts.append(current)
        for i in current:
            dominated_by[dominance[i]] -= 1
        dominated_by[current] = -1
        current = [int(i) for i in numpy.flatnonzero(dominated_by == 0)]
    return fronts


def crowding_distance(objectives: numpy.ndarray) -> numpy.ndarray:
    """NSGA-II crowding distance of each row within one front; boundary rows get inf."""
    values = numpy.asarray(objectives, dtype=float)
    count, width = values.shape if values.ndim == 2 else (len(values), 0)
    distance = numpy.zeros(count)
    if count <= 2:
        distance[:] = numpy.inf
        return distance
    for column in range(width):
        order = numpy.argsort(values[:, column], kind="stable")
        low, high = values[order[0], column], values[order[-1], column]
        distance[order[0]] = distance[order[-1]] = numpy.inf
        span = high - low
        if not numpy.isfinite(span) or span <= 0:
            continue
        gaps = (values[order[2:], column] - values[order[:-2], column]) / span
        distance[order[1:-1]] += gaps
    return distance


def rank_and_crowding(objectives: numpy.ndarray) -> tuple[numpy.ndarray, numpy.ndarray]:
    """Front rank (0 = best) and crowding distance of every row."""
    count = len(objectives)
    rank = numpy.zeros(count, dtype=int)
    crowd = numpy.zeros(count)
    for level, front in enumerate(nondominated_fronts(objectives)):
        rank[front] = level
        crowd[front] = crowding_distance(numpy.asarray(objectives, dtype=float)[front])
    return rank, crowd


def survivors(objectives: numpy.ndarray, size: int) -> list[int]:
    """NSGA-II environmental selection: the indices of the `size` rows that survive, best first."""
    if len(objectives) <= size:
        rank, crowd = rank_and_crowding(objectives)
        return sorted(range(len(objectives)), key=lambda i: (rank[i], -crowd[i], i))
    chosen: list[int] = []
    values = numpy.asarray(objectives, dtype=float)
    for front in nondominated_fronts(values):
        crowd = crowding_distance(values[front])
        ordered = [front[k] for k in sorted(range(len(front)), key=lambda k: (-crowd[k], front[k]))]
        if len(chosen) + len(front) <= size:
            chosen.extend(ordered)
        else:
            chosen.extend(ordered[: size - len(chosen)])
            break
    return chosen
