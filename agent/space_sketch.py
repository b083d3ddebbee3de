"""A `[space]` table sketched from the workspace's params file, so that `strop init` and then
`strop run` search something offline without the user first writing ranges by hand.

Today's values are the only hint there is, so each range is a guess around the value: a
positive float from a tenth to ten times it on a log scale (a fraction in (0, 1] up to 1), a
positive int from a quarter to four times it (0 to 10 for 0), a bool either way, a float 0 or a
negative number a fixed span around it. The file says they are guesses. Values no range can be guessed for (text,
lists, tables, null, a name that is no parameter name) are named in a comment, never dropped
without a word. Written by hand: no library guesses search ranges from example values.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")  # as `[space]` keys must be (agent.task)
_MAX_BYTES = 1 << 20  # a params file is a few lines; a bigger one is data, not parameters
MAX_PARAMETERS = 64  # a params file with more numbers than this holds data, not knobs to search
_SKIPPED_SHOWN = 12  # keys named in the comment; the rest counted
_EXACT_INT = 2**51  # four times it still within a float's exact integers (an int range's limit)


@dataclass(frozen=True)
class SpaceSketch:
    """The parameters a params file suggests, as `[space]` lines, and the keys left out with why."""

    source: str  # the params file's name, as the task file names it
    lines: list[str] = field(default_factory=list)  # `name = { type = … }`
    skipped: list[str] = field(default_factory=list)  # "name (why)"

    @property
    def names(self) -> list[str]:
        return [line.split(" ", 1)[0] for line in self.lines]

    def toml(self) -> str:
        """The `[space]` table, its guesses said; "" when no value gave a range."""
        if not self.lines:
            return ""
        head = [
            f"[space]  # guessed from {self.source}'s values: each range is a guess around today's value;",
            "#          narrow or widen them (types: float, int, choice, bool; see the README's tour)",
        ]
        tail = [f"# left out: {', '.join(self.skipped)}"] if self.skipped else []
        return "\n".join([*head, *self.lines, *tail]) + "\n"


def sketch_space(workspace: Path, params_file: str = "params.json") -> SpaceSketch | None:
    """The sketch of `workspace/params_file`; None when there is no such file or it is no JSON object."""
    path = workspace / params_file
    try:
        if not path.is_file() or path.stat().st_size > _MAX_BYTES:
            return None
        values = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(values, dict):
        return None
    return sketch_values(values, params_file)


def sketch_values(values: dict[str, object], source: str) -> SpaceSketch:
    sketch = SpaceSketch(source)
    for name, value in values.items():
        why = "not a parameter name" if not _PARAM_NAME.match(name) else ""
        spec = None if why else guess(value)
        if spec is not None and len(sketch.lines) >= MAX_PARAMETERS:
            why = f"past the first {MAX_PARAMETERS} parameters"
        if spec is None or why:
            sketch.skipped.append(f"{_shown(name)} ({why or _kind(value)})")
        else:
            sketch.lines.append(f"{name} = {spec}")
    if len(sketch.skipped) > _SKIPPED_SHOWN:
        more = len(sketch.skipped) - _SKIPPED_SHOWN
        sketch.skipped[_SKIPPED_SHOWN:] = [f"and {more} more"]
    return sketch


def _shown(name: str) -> str:
    """A key as a comment may hold it: escaped (JSON escapes every control character) and short."""
    text = name if _PARAM_NAME.match(name) else json.dumps(name)
    return text if len(text) <= 40 else text[:39] + "…"


def guess(value: object) -> str | None:
    """A `[space]` inline table around `value`, or None when no range can be guessed for it."""
    if isinstance(value, bool):
        return '{ type = "bool" }'
    if isinstance(value, int):
        return _int_range(value)
    if isinstance(value, float) and math.isfinite(value):
        return _float_range(value)
    return None


def _int_range(value: int) -> str | None:
    if abs(value) > _EXACT_INT:
        return None
    if value > 0:
        low, high = max(1, value // 4), value * 4
    else:
        low, high = (0, 10) if value == 0 else (value - 10, value + 10)
    return f'{{ type = "int", low = {low}, high = {high} }}'


def _float_range(value: float) -> str | None:
    if value > 0:
        low, high = value / 10, (1.0 if value <= 1 else value * 10)
        if not (math.isfinite(high) and low > 0):
            return None
        return f'{{ type = "float", low = {_number(low)}, high = {_number(high)}, log = true }}'
    if value < 0:
        low, high = value * 10, value / 10
    else:
        low, high = -1.0, 1.0
    if not math.isfinite(low):
        return None
    return f'{{ type = "float", low = {_number(low)}, high = {_number(high)} }}'


def _number(value: float) -> str:
    """A TOML float: six significant digits, always with a point or an exponent."""
    text = f"{value:.6g}"
    return text if any(c in text for c in ".en") else text + ".0"


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return "text: a choice needs its other values"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return "too large to range around"
    return "not a finite number"
