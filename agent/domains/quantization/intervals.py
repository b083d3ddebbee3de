"""How sure a test accuracy, and a difference of two, is: 95% intervals for small evaluation sets.

The digits test split has 450 images, so one image is 0.22 points and a margin of a
few images is noise. Three intervals, each for a different question:

* `wilson`        one accuracy k/n (Wilson score interval: honest near 0 and 1);
* `paired`        two configs on the same images: only the discordant images count (b = only
                  A right, c = only B right). The test is McNemar's, exact: given m = b + c,
                  b is Binomial(m, 1/2) when neither is better (`mcnemar_p`, two-sided); the
                  interval is the matching exact one, Clopper–Pearson for b/m mapped to the
                  difference (b − c)/n = m/n · (2·b/m − 1). It excludes 0 exactly when p < 0.05,
                  so the verdict and the printed interval never disagree. (A normal
                  approximation called 4 vs 0 discordant images "ahead"; the exact p is 0.125.);
* `paired_rates`  two configs on the same items, each item's score a rate (its hits averaged
                  over seeds): mean of the per-item differences with a normal interval over the
                  items, the unit that is sampled (seeds share the images: they are not new images);
* `across_seeds`  the mean of per-seed differences, Student t over the seeds (search
                  variance; the images are the same in every seed).

`verdict` turns an interval into the word a report prints: "ahead", "behind" or "tie"
("ahead"/"behind" only when the whole 95% interval is on one side of zero).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

Z95 = 1.959964
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float

    def to_json(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high}


def wilson(hits: int, n: int) -> Interval:
    if n == 0:
        return Interval(math.nan, 0.0, 1.0)
    p = hits / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
    return Interval(p, centre - half, centre + half)


def _log_binom_pmf(k: int, m: int, p: float) -> float:
    if p <= 0.0:
        return 0.0 if k == 0 else -math.inf
    if p >= 1.0:
        return 0.0 if k == m else -math.inf
    return (
        math.lgamma(m + 1)
        - math.lgamma(k + 1)
        - math.lgamma(m - k + 1)
        + k * math.log(p)
        + (m - k) * math.log1p(-p)
    )


def _binom_cdf(k: int, m: int, p: float) -> float:
    """P(X ≤ k) for X ~ Binomial(m, p)."""
    if k < 0:
        return 0.0
    if k >= m:
        return 1.0
    return min(1.0, sum(math.exp(_log_binom_pmf(i, m, p)) for i in range(k + 1)))


def mcnemar_p(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value for b vs c discordant pairs (binomial test of b/(b+c) = 1/2)."""
    m = b + c
    if m == 0:
        return 1.0
    return min(1.0, 2.0 * _binom_cdf(min(b, c), m, 0.5))


def _solve(f: Callable[[float], float], target: float) -> float:
    """p in [0, 1] with f(p) = target for a decreasing f (bisection)."""
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if f(mid) > target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def clopper_pearson(k: int, m: int, alpha: float = 0.05) -> tuple[float, float]:
    """Exact (central) 1 − alpha interval for a binomial proportion k/m."""
    # low: P(X ≥ k) = alpha/2, i.e. P(X ≤ k − 1) = 1 − alpha/2; high: P(X ≤ k) = alpha/2 (both fall with p)
    low = 0.0 if k == 0 else _solve(lambda p: _binom_cdf(k - 1, m, p), 1 - alpha / 2)
    high = 1.0 if k == m else _solve(lambda p: _binom_cdf(k, m, p), alpha / 2)
    return low, high


def paired(a: np.ndarray, b: np.ndarray) -> Interval:
    """Accuracy of A minus accuracy of B on the same items (boolean hit vectors), with the exact
    interval that matches McNemar's exact test (module docstring): 0 inside it ⇔ p ≥ 0.05."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    n = len(a)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan)
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    m = only_a + only_b
    diff = (only_a - only_b) / n
    if m == 0:
        return Interval(0.0, 0.0, 0.0)  # the same on every item: no evidence either way
    low, high = clopper_pearson(only_a, m)
    return Interval(diff, m / n * (2 * low - 1), m / n * (2 * high - 1))


def paired_rates(a: np.ndarray, b: np.ndarray) -> Interval:
    """Mean of A − B over the same items, each item's score a rate in [0, 1] (hits averaged over
    seeds); normal 95% interval from the spread of the per-item differences (the items are the sample)."""
    d = np.asarray(a, float) - np.asarray(b, float)
    n = len(d)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan)
    mean = float(d.mean())
    if n < 2:
        return Interval(mean, math.nan, math.nan)
    half = Z95 * float(d.std(ddof=1)) / math.sqrt(n)
    return Interval(mean, mean - half, mean + half)


def across_seeds(differences: Sequence[float]) -> Interval:
    values = [float(d) for d in differences]
    mean = sum(values) / len(values) if values else math.nan
    if len(values) < 2:
        return Interval(mean, math.nan, math.nan)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    half = T95.get(len(values) - 1, Z95) * sd / math.sqrt(len(values))
    return Interval(mean, mean - half, mean + half)


def verdict(interval: Interval) -> str:
    """'ahead' when the whole interval is above zero, 'behind' when below, else 'tie'."""
    if interval.low > 0:
        return "ahead"
    if interval.high < 0:
        return "behind"
    return "tie"
