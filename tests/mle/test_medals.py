"""Medal thresholds on hand-made leaderboards of each of Kaggle's size classes."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from agent.domains.mle.medals import (
    NO_MEDALS,
    Leaderboard,
    Thresholds,
    award,
    medal_positions,
    read_leaderboard,
    thresholds,
)
from agent.errors import UserError


def countdown(teams: int) -> Leaderboard:
    """Team k (1-based) scores teams + 1 - k: the score at position p is teams + 1 - p."""
    return Leaderboard(tuple(float(teams - k) for k in range(teams)))


@pytest.mark.parametrize(
    ("teams", "positions"),
    [
        (1, (1, 1, 1)),
        (5, (1, 1, 2)),
        (10, (1, 2, 4)),
        (99, (9, 19, 39)),
        (100, (10, 20, 40)),
        (249, (10, 49, 99)),
        (250, (10, 50, 100)),
        (999, (11, 50, 100)),
        (1000, (12, 50, 100)),
        (2000, (14, 100, 200)),
    ],
)
def test_medal_positions_follow_the_table_at_each_boundary(
    teams: int, positions: tuple[int, int, int]
) -> None:
    assert medal_positions(teams) == positions


def test_an_empty_leaderboard_has_no_positions() -> None:
    with pytest.raises(ValueError):
        medal_positions(0)


@pytest.mark.parametrize(
    ("teams", "expected"),
    [
        (10, Thresholds(gold=10.0, silver=9.0, bronze=7.0, median=5.5, teams=10)),
        (150, Thresholds(gold=141.0, silver=121.0, bronze=91.0, median=75.5, teams=150)),
        (500, Thresholds(gold=490.0, silver=451.0, bronze=401.0, median=250.5, teams=500)),
        (2000, Thresholds(gold=1987.0, silver=1901.0, bronze=1801.0, median=1000.5, teams=2000)),
    ],
)
def test_thresholds_are_the_scores_at_the_medal_positions(teams: int, expected: Thresholds) -> None:
    assert thresholds(countdown(teams), lower_is_better=False) == expected


def test_lower_is_better_ranks_the_smallest_scores_first_whatever_the_file_order() -> None:
    scores = [float(s) for s in range(1, 11)]
    random.Random(3).shuffle(scores)
    table = thresholds(Leaderboard(tuple(scores)), lower_is_better=True)
    assert (table.gold, table.silver, table.bronze, table.median) == (1.0, 2.0, 4.0, 5.5)


def test_a_score_wins_the_best_medal_it_reaches_ties_included() -> None:
    table = thresholds(countdown(10), lower_is_better=False)  # gold 10, silver 9, bronze 7, median 5.5
    assert award(10.0, table, False).gold and not award(10.0, table, False).silver
    assert award(9.5, table, False) == award(9.0, table, False)
    assert award(9.0, table, False).silver
    assert award(7.0, table, False).bronze and award(7.0, table, False).any
    no_medal = award(6.0, table, False)
    assert not no_medal.any and no_medal.above_median


def test_above_median_is_strict_and_follows_the_direction() -> None:
    table = thresholds(Leaderboard((1.0, 2.0, 3.0, 4.0, 5.0)), lower_is_better=True)  # median 3
    assert not award(3.0, table, True).above_median
    assert award(2.9, table, True).above_median
    assert not award(3.1, table, True).above_median
    assert award(1.0, table, True).gold


def test_no_score_wins_nothing() -> None:
    assert award(None, thresholds(countdown(10), False), False) == NO_MEDALS


def test_the_direction_rule_of_mle_bench_reads_the_first_and_last_rows() -> None:
    assert Leaderboard((0.1, 0.5, 0.9)).first_is_lowest
    assert not Leaderboard((0.9, 0.5, 0.1)).first_is_lowest


def test_read_leaderboard_takes_the_score_column(tmp_path: Path) -> None:
    path = tmp_path / "leaderboard.csv"
    path.write_text("teamName,score,submissionDate\nx,0.9,2020\ny,0.8,2020\n", encoding="utf-8")
    assert read_leaderboard(path).scores == (0.9, 0.8)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("teamName,points\nx,1\n", "`score` column"),
        ("teamName,score\n", "`score` column"),
        ("teamName,score\nx,0.5\ny,oops\n", "leaderboard.csv:3: score 'oops'"),
        ("teamName,score\nx,nan\n", "not a finite number"),
    ],
)
def test_a_bad_leaderboard_is_one_clear_line(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "leaderboard.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserError, match=None) as caught:
        read_leaderboard(path)
    assert says in str(caught.value) and "\n" not in str(caught.value)
