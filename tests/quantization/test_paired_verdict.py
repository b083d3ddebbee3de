"""The "ahead"/"behind" verdict is an exact McNemar test, and the printed interval agrees with it.

A normal (Wald) interval on the paired difference said "ahead" for 4 vs 0 discordant images
out of 450, where the exact McNemar p is 0.125: a verdict of noise.
"""

from __future__ import annotations

import numpy as np
import pytest

from agent.domains.quantization.intervals import clopper_pearson, mcnemar_p, paired, verdict


def _hits(only_a: int, only_b: int, both: int = 300, n: int = 450) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.zeros(n, bool), np.zeros(n, bool)
    a[:both] = b[:both] = True
    a[both : both + only_a] = True
    b[both + only_a : both + only_a + only_b] = True
    return a, b


@pytest.mark.parametrize(
    ("only_a", "only_b", "p", "word"),
    [
        (4, 0, 0.125, "tie"),
        (5, 0, 0.0625, "tie"),
        (6, 0, 0.03125, "ahead"),
        (0, 6, 0.03125, "behind"),
        (10, 3, 0.09228515625, "tie"),
        (20, 40, 0.01348929373119186, "behind"),
        (0, 0, 1.0, "tie"),
    ],
)
def test_the_verdict_is_exact_mcnemar(only_a: int, only_b: int, p: float, word: str) -> None:
    a, b = _hits(only_a, only_b)
    interval = paired(a, b)
    assert mcnemar_p(only_a, only_b) == pytest.approx(p, rel=1e-9)
    assert verdict(interval) == word
    assert interval.value == pytest.approx((only_a - only_b) / 450)
    assert interval.low <= interval.value <= interval.high


def test_the_interval_excludes_zero_exactly_when_mcnemar_rejects() -> None:
    for only_a in range(0, 25):
        for only_b in range(0, 25):
            interval = paired(*_hits(only_a, only_b))
            significant = mcnemar_p(only_a, only_b) < 0.05
            assert (verdict(interval) != "tie") == significant, (only_a, only_b)


def test_clopper_pearson_matches_known_values() -> None:
    # scipy.stats.beta.ppf(0.025, 4, 7), beta.ppf(0.975, 5, 6)
    low, high = clopper_pearson(4, 10)
    assert low == pytest.approx(0.12155, abs=1e-4)
    assert high == pytest.approx(0.73762, abs=1e-4)
    assert clopper_pearson(0, 5)[0] == 0.0 and clopper_pearson(5, 5)[1] == 1.0
