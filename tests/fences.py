"""Markdown code fences read as CommonMark reads them, for the tests of what a prompt quotes:
a quote is safe only if no text inside it can close its fence and write outside it."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Block:
    label: str  # the line above the fence
    ticks: int
    body: str


def fences(text: str) -> tuple[list[Block], str]:
    """The fenced blocks of `text` and its text outside fences; a fence left open fails (it would
    run to the end of the prompt, everything after it quoted)."""
    blocks: list[Block] = []
    outside: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = re.fullmatch(r" {0,3}(`{3,})[^`]*", lines[i])
        if not opening:
            outside.append(lines[i])
            i += 1
            continue
        ticks = len(opening.group(1))
        end = next(
            (j for j in range(i + 1, len(lines)) if re.fullmatch(rf" {{0,3}}`{{{ticks},}}\s*", lines[j])),
            len(lines),
        )
        assert end < len(lines), f"a fence of {ticks} backticks is never closed"
        blocks.append(Block(lines[i - 1] if i else "", ticks, "\n".join(lines[i + 1 : end])))
        i = end + 1
    return blocks, "\n".join(outside)
