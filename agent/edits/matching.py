"""Matching: where a SEARCH block's lines are in a file (exactly, loosely, or re-indented), or the closest lines."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

_CLOSEST_MAX_LINES = 30


@dataclass(frozen=True)
class Match:
    start: int
    end: int  # exclusive, in file lines
    shift: tuple[str, str] = ("", "")  # (remove, add) on each replacement line


def strip_blank_edges(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _windows(haystack: list[str], needle: list[str], same: Callable[[str, str], bool]) -> list[int]:
    size = len(needle)
    return [
        start
        for start in range(len(haystack) - size + 1)
        if all(same(haystack[start + k], needle[k]) for k in range(size))
    ]


def _uniform_shift(window: list[str], needle: list[str]) -> tuple[str, str] | None:
    """(remove, add) that maps the needle's indentation onto the window's, the same for every line."""
    shift: tuple[str, str] | None = None
    for have, want in zip(window, needle, strict=True):
        if not have.strip():
            continue
        hi, wi = _indent(have).expandtabs(4), _indent(want).expandtabs(4)
        if hi.endswith(wi) and len(hi) >= len(wi):
            this = ("", hi[: len(hi) - len(wi)])
        elif wi.endswith(hi):
            this = (wi[: len(wi) - len(hi)], "")
        else:
            return None
        if shift is None:
            shift = this
        elif shift != this:
            return None
    return shift or ("", "")


def _squash(line: str) -> str:
    return " ".join(line.split())


def find_unique(lines: list[str], search: list[str]) -> Match | str:
    """Where `search` matches `lines`, or why not ("none" / "N places")."""
    exact = _windows(lines, search, lambda a, b: a == b)
    if len(exact) == 1:
        return Match(exact[0], exact[0] + len(search))
    if len(exact) > 1:
        return f"{len(exact)} places"
    trimmed = strip_blank_edges(search)
    if not trimmed:
        return "none"
    loose = _windows(lines, trimmed, lambda a, b: a.rstrip().expandtabs(4) == b.rstrip().expandtabs(4))
    if len(loose) == 1:
        return Match(loose[0], loose[0] + len(trimmed))
    if len(loose) > 1:
        return f"{len(loose)} places"
    squashed = _windows(lines, trimmed, lambda a, b: _squash(a) == _squash(b))
    shifted = []
    for start in squashed:
        shift = _uniform_shift(lines[start : start + len(trimmed)], trimmed)
        if shift is not None:
            shifted.append(Match(start, start + len(trimmed), shift))
    if len(shifted) == 1:
        return shifted[0]
    if len(shifted) > 1:
        return f"{len(shifted)} places"
    return "none"


def reindent(lines: list[str], shift: tuple[str, str]) -> list[str]:
    remove, add = shift
    if not remove and not add:
        return lines
    out = []
    for line in lines:
        if not line.strip():
            out.append(line)
            continue
        expanded = _indent(line).expandtabs(4) + line.lstrip()
        if remove and expanded.startswith(remove):
            expanded = expanded[len(remove) :]
        elif remove:
            expanded = expanded.lstrip()
        out.append(add + expanded)
    return out


def closest_lines(lines: list[str], search: list[str]) -> tuple[int, list[str]]:
    """The file's window most like `search` (1-based first line number, lines), for feedback."""
    needle = [s for s in strip_blank_edges(search)]
    if not lines or not needle:
        return 1, lines[:_CLOSEST_MAX_LINES]
    first = needle[0].strip()
    scored = []
    for index, line in enumerate(lines):
        matcher = difflib.SequenceMatcher(None, first, line.strip(), autojunk=False)
        if matcher.real_quick_ratio() < 0.3:
            continue
        scored.append((matcher.ratio(), index))
    anchors = [index for _, index in sorted(scored, reverse=True)[:5]] or [0]
    target = "\n".join(_squash(s) for s in needle)
    best_index, best_ratio = anchors[0], -1.0
    for index in anchors:
        window = "\n".join(_squash(s) for s in lines[index : index + len(needle)])
        ratio = difflib.SequenceMatcher(None, target, window, autojunk=False).ratio()
        if ratio > best_ratio:
            best_index, best_ratio = index, ratio
    shown = lines[best_index : best_index + min(len(needle), _CLOSEST_MAX_LINES)]
    return best_index + 1, shown
