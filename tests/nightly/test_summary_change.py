"""The morning summary's change line: the verb says which way, "by" says how much (never a sign)."""

from __future__ import annotations

import pytest

from agent.nightly.history import NightRecord
from agent.nightly.summary import JobMorning


@pytest.mark.parametrize(
    ("direction", "best", "previous", "said"),
    [
        (
            "maximize",
            0.9153,
            0.919964,
            "score = 0.9153, worse by 0.004664 since the previous night (0.919964)",
        ),
        (
            "minimize",
            0.919964,
            0.9153,
            "score = 0.919964, worse by 0.004664 since the previous night (0.9153)",
        ),
        (
            "maximize",
            0.919964,
            0.9153,
            "score = 0.919964, improved by 0.004664 since the previous night (0.9153)",
        ),
        (
            "minimize",
            0.9153,
            0.919964,
            "score = 0.9153, improved by 0.004664 since the previous night (0.919964)",
        ),
    ],
)
def test_the_change_says_the_magnitude_after_by(
    direction: str, best: float, previous: float, said: str
) -> None:
    night = NightRecord(
        job="j", night="2026-12-02T02:00", kind="run", started="s", status="done", metric="score",
        direction=direction, best_metric=best, previous_metric=previous, previous_night="2026-12-01T02:00",
        previous_of=f"score {direction}",
    )  # fmt: skip
    change = JobMorning("j", night).change
    assert change == said
    assert "by -" not in change and "by +" not in change
