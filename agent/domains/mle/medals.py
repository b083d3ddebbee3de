"""Medal thresholds from a leaderboard, by the rules MLE-bench takes from Kaggle's progression table.

The threshold of a medal is the score of the team at a given position (1 = best):

    teams        gold                   silver              bronze
    1–99         top 10% (at least 1)   top 20%             top 40%
    100–249      10th                   top 20%             top 40%
    250–999      10 + 0.2% of teams     50th                100th
    1000 and up  10 + 0.2% of teams     top 5%              top 10%

(percentages round down, and never below the first position). A score wins the best
medal whose threshold it reaches (ties count: `>=`, or `<=` when lower is better);
it is above the median when strictly better than the median of all the teams' scores.

MLE-bench reads positions in the file's order (Kaggle's rank order); strop sorts the
scores best first by the metric's direction, which is the same for a leaderboard in rank
order and stays right for one written in any order. Pure functions, no pandas.
"""

from __future__ import annotations

import csv
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from agent.errors import UserError


@dataclass(frozen=True)
class Leaderboard:
    """The teams' scores, in the file's order."""

    scores: tuple[float, ...]

    @property
    def first_is_lowest(self) -> bool:
        """MLE-bench's rule for the direction: lower is better when the first row beats the last."""
        return self.scores[0] < self.scores[-1]


@dataclass(frozen=True)
class Thresholds:
    """The scores that win gold, silver and bronze, the median, and how many teams set them."""

    gold: float
    silver: float
    bronze: float
    median: float
    teams: int


@dataclass(frozen=True)
class Medals:
    """Where a score lands: at most one medal, and whether it beats the median."""

    gold: bool
    silver: bool
    bronze: bool
    above_median: bool

    @property
    def any(self) -> bool:
        return self.gold or self.silver or self.bronze


NO_MEDALS = Medals(gold=False, silver=False, bronze=False, above_median=False)


def read_leaderboard(path: Path) -> Leaderboard:
    """Read `leaderboard.csv` (a `score` column; other columns ignored); one clear line when unusable."""
    try:
        with Path(path).open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UserError(f"{path}: cannot read the leaderboard ({error})") from None
    if not rows or "score" not in rows[0]:
        raise UserError(f"{path}: the leaderboard needs a `score` column and at least one team")
    scores = []
    for line, row in enumerate(rows, start=2):
        try:
            score = float(row["score"])
        except (TypeError, ValueError):
            score = math.nan
        if not math.isfinite(score):
            raise UserError(f"{path}:{line}: score {row['score']!r} is not a finite number")
        scores.append(score)
    return Leaderboard(tuple(scores))


def medal_positions(teams: int) -> tuple[int, int, int]:
    """The 1-based positions whose scores are the gold, silver and bronze thresholds."""
    if teams < 1:
        raise ValueError("a leaderboard needs at least one team")
    if teams < 100:
        return max(1, int(teams * 0.1)), max(1, int(teams * 0.2)), max(1, int(teams * 0.4))
    if teams < 250:
        return 10, max(1, int(teams * 0.2)), max(1, int(teams * 0.4))
    gold = 10 + int(teams * 0.002)
    if teams < 1000:
        return gold, 50, 100
    return gold, max(1, int(teams * 0.05)), max(1, int(teams * 0.1))


def thresholds(leaderboard: Leaderboard, lower_is_better: bool) -> Thresholds:
    """The medal thresholds and the median of a leaderboard, for a metric of the given direction."""
    ranked = sorted(leaderboard.scores, reverse=not lower_is_better)
    gold, silver, bronze = medal_positions(len(ranked))
    return Thresholds(
        gold=ranked[gold - 1],
        silver=ranked[silver - 1],
        bronze=ranked[bronze - 1],
        median=float(statistics.median(ranked)),
        teams=len(ranked),
    )


def award(score: float | None, table: Thresholds, lower_is_better: bool) -> Medals:
    """The medal a score wins; no score (an invalid submission) wins nothing."""
    if score is None:
        return NO_MEDALS

    def reaches(threshold: float) -> bool:
        return score <= threshold if lower_is_better else score >= threshold

    gold = reaches(table.gold)
    silver = not gold and reaches(table.silver)
    bronze = not gold and not silver and reaches(table.bronze)
    above = score < table.median if lower_is_better else score > table.median
    return Medals(gold=gold, silver=silver, bronze=bronze, above_median=above)
