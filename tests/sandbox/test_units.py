"""Durations and sizes as people write them, and one clear error for what is not one."""

from __future__ import annotations

import pytest

from sandbox.units import UnitError, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("10m", 600), ("2h", 7200), ("1.5h", 5400), ("250ms", 0.25), ("90", 90), (" 5 s ", 5),
     ("1h30m", 5400), ("1h 30m", 5400), ("90 minutes", 5400), ("2 Hours", 7200), ("1d12h", 129600),
     ("1 min 30 sec", 90)],
)  # fmt: skip
def test_a_duration_in_one_unit_or_several(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "said"),
    [("soon", "use e.g. 30s"), ("1h30", "each number needs its unit"), ("10 parsecs", "unknown unit 'parsecs'"),
     ("", "use e.g."), ("-5s", "use e.g."), ("0s", "must be positive"), ("nan", "use e.g.")],
)  # fmt: skip
def test_what_is_not_a_duration_is_one_error_naming_it(text: str, said: str) -> None:
    with pytest.raises(UnitError, match=said):
        parse_duration(text)


@pytest.mark.timeout(20)
def test_a_long_hostile_duration_is_refused_not_backtracked_for_ever() -> None:
    """Digits that a backtracking pattern could split between repeats every which way (2^n tries)."""
    for text in ("1" * 20000 + "!", "1 " * 20000 + "x"):
        with pytest.raises(UnitError):
            parse_duration(text)


def test_sizes() -> None:
    assert parse_size("512k") == 512 << 10 and parse_size("1GiB") == 1 << 30 and parse_size(7) == 7
    with pytest.raises(UnitError, match="not a size"):
        parse_size("lots")
