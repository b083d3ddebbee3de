"""Human units for limits: durations ("30s", "10m", "2h", "1h30m", "90 minutes") and sizes ("256m", "1g").

Task files, the CLI and the sandbox all speak these units; they live in the lowest
layer so that every layer parses them the same way.
"""

from __future__ import annotations

import re

# possessive digits: a long run of them cannot be split between repeats (no backtracking blow-up)
_DURATION = re.compile(r"\s*(?:\d++(?:\.\d++)?\s*+[a-z]*+\s*+)+", re.IGNORECASE)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)", re.IGNORECASE)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)

_SECONDS = {
    **dict.fromkeys(("ms", "msec", "millisecond", "milliseconds"), 0.001),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1.0),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60.0),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600.0),
    **dict.fromkeys(("d", "day", "days"), 86400.0),
    **dict.fromkeys(("w", "week", "weeks"), 7 * 86400.0),
}
_BYTES = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


class UnitError(ValueError):
    """A duration or size that cannot be read."""


def parse_duration(value: str | int | float) -> float:
    """Seconds from "30s", "10m", "2h", "1.5h", "250ms" or a bare number of seconds."""
    if isinstance(value, bool):
        raise UnitError(f"not a duration: {value!r}")
    seconds = float(value) if isinstance(value, int | float) else _duration_text(value)
    if seconds <= 0:
        raise UnitError(f"a duration must be positive: {value!r}")
    return seconds


def _duration_text(value: str) -> float:
    """Seconds from text: one number with an optional unit, or several each with its unit
    ("1h30m", "1h 30m", "2 hours"), as people write a duration."""
    if not _DURATION.fullmatch(value):
        raise UnitError(f"not a duration: {value!r} (use e.g. 30s, 10m, 2h, 1h30m)")
    parts = [(float(number), unit.lower()) for number, unit in _DURATION_PART.findall(value)]
    if len(parts) > 1 and any(not unit for _, unit in parts):
        raise UnitError(f"not a duration: {value!r} (each number needs its unit, e.g. 1h30m)")
    unknown = [unit for _, unit in parts if unit and unit not in _SECONDS]
    if unknown:
        raise UnitError(f"not a duration: {value!r} (unknown unit {unknown[0]!r}; use ms, s, m, h, d or w)")
    return sum(number * _SECONDS[unit or "s"] for number, unit in parts)


def parse_size(value: str | int) -> int:
    """Bytes from "512k", "256m", "1g", "1GiB" or a bare number of bytes."""
    if isinstance(value, bool):
        raise UnitError(f"not a size: {value!r}")
    if isinstance(value, int):
        size = value
    else:
        match = _SIZE.match(value)
        if not match:
            raise UnitError(f"not a size: {value!r} (use e.g. 256m, 1g)")
        size = int(float(match.group(1)) * _BYTES[match.group(2).lower()])
    if size <= 0:
        raise UnitError(f"a size must be positive: {value!r}")
    return size


def format_duration(seconds: float) -> str:
    """A short human form: 850ms, 12.3s, 4m05s, 2h03m."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"
