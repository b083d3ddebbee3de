"""How sure a test accuracy, and a difference of two, is: 95% intervals for small evaluation sets.

The digits test split has 450 images, so one image is 0.22 points and a margin of a
few images is noise. Three intervals, each for a different question:

* `wilson`        one accuracy k/n (Wilson score interval: honest near 0 and 1);
* `paired`        two configs on the same images: the difference of accuracies from the
                  discordant images only (b = only A right, c = only B right), normal
                  approximation of the paired difference (the McNemar setting);
* `across_seeds`  the mean of per-seed differences, Student t over the seeds (search
                  variance; the images are the same in every seed).

`verdict` turns an interval into the word a report prints: "ahead", "behind" or "tie".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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


def paired(a: np.ndarray, b: np.ndarray) -> Interval:
    """Accuracy of A minus accuracy of B on the same items (boolean hit vectors)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    n = len(a)
    only_a, only_b = float(np.sum(a & ~b)), float(np.sum(~a & b))
    diff = (only_a - only_b) / n
    var = ((only_a + only_b) / n - diff**2) / n
    half = Z95 * math.sqrt(max(var, 0.0))
    return Interval(diff, diff - half, diff + half)


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
