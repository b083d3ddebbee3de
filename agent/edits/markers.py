"""Markers: the lines that open and close code in a model's answer (fences, SEARCH/REPLACE markers).

Shared by the parser, which reads edits between them, and by `split_reasoning`, which must not
take a `</think>` inside them for the end of a reasoning block.
"""

from __future__ import annotations

import re

SEARCH = re.compile(r"^\s*<{5,9}\s*SEARCH\s*$", re.IGNORECASE)
DIVIDER = re.compile(r"^\s*={5,9}\s*$")
REPLACE = re.compile(r"^\s*>{5,9}\s*REPLACE\s*$", re.IGNORECASE)
FENCE = re.compile(r"^\s*(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*?)\s*$")


def closing_fence(lines: list[str], start: int, fence: str) -> int:
    """Index of the line closing the fence opened at `start` (len(lines) when unclosed)."""
    char, size = fence[0], len(fence)
    for i in range(start + 1, len(lines)):
        stripped = lines[i].strip()
        if stripped and set(stripped) == {char} and len(stripped) >= size:
            return i
    return len(lines)


def search_block_bounds(lines: list[str], start: int) -> tuple[int | None, int | None]:
    """(divider, end) line indexes of the SEARCH block whose marker is at `start`; None where missing."""
    divider = None
    for i in range(start + 1, len(lines)):
        if divider is None and DIVIDER.match(lines[i]):
            divider = i
        elif divider is not None and REPLACE.match(lines[i]):
            return divider, i
        elif SEARCH.match(lines[i]):
            break
    return divider, None
