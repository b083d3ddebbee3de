"""Shared printing helpers for the CLI: one console on stdout, one on stderr, JSON out."""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

__all__ = [
    "err",
    "escape",
    "out",
    "plural",
    "print_json",
    "print_table",
    "print_whole",
    "printable",
    "safe",
    "styled_status",
]

_UNCUT = 100_000
"""The width a tree is drawn at off a terminal: wider than any line, so none is cut (rich pads none)."""


def print_whole(renderable: Any) -> None:
    """`renderable` (a tree) on stdout with no line cut short.

    `out` soft-wraps, which keeps long lines whole for plain text but makes rich crop a tree's
    labels at the console's width: 80 columns off a terminal, so `strop log RUN | grep buggy`
    lost every failure reason past column 80. On a terminal the labels wrap under their guide
    lines; off one the tree is drawn wide, one line per label, for grep and files.
    """
    if out.is_terminal:
        out.print(renderable, soft_wrap=False)
    else:
        Console(file=out.file, highlight=False, width=_UNCUT, no_color=out.no_color).print(renderable)


def print_table(table: Any, console: Console | None = None) -> None:
    """`table` with every cell legible, whatever the width.

    Below the table's least width rich blanks whole columns (`strop runs` at 20 columns drew
    empty boxes, at 40 "ta…" and "sta…"): a terminal that narrow gets one "column: value"
    line per cell instead. Off a terminal the table is drawn at its own width, as trees are.
    """
    console = console or out
    wide = Console(width=_UNCUT, highlight=False)
    least = Measurement.get(wide, wide.options, table).minimum
    if not console.is_terminal:
        Console(file=console.file, highlight=False, width=_UNCUT, no_color=console.no_color).print(table)
    elif console.width >= least:
        console.print(table)
    else:
        _print_rows(table, console)


def _print_rows(table: Any, console: Console) -> None:
    if table.title:
        console.print(table.title)
    rows = zip(*(list(column.cells) for column in table.columns), strict=True)
    for number, cells in enumerate(rows):
        if number and table.show_header:
            console.print()
        if not table.show_header:
            console.print(*cells, soft_wrap=True)
            continue
        for column, cell in zip(table.columns, cells, strict=True):
            console.print(f"{column.header}:", cell, soft_wrap=True)  # the terminal wraps it


_SUSPECT = re.compile(r"[^\t\n\x20-\x7e]")
"""A character that may be a control or an invisible one: all but tab, newline and printable ASCII."""
_SUSPECT_ONE_LINE = re.compile(r"[^\x20-\x7e]")


_JOINERS = "\u200c\u200d"
"""Zero-width (non-)joiners: the ZWJ of an emoji sequence (👩‍💻), the ZWNJ of Persian script. Shown
as they are between two characters beyond ASCII, where writing needs them; escaped elsewhere."""


def _joins(match: re.Match[str]) -> bool:
    """Whether the joiner `match` found stands between two printable characters beyond ASCII."""
    text, at = match.string, match.start()
    before = text[at - 1] if at else ""
    after = text[at + 1] if at + 1 < len(text) else ""
    return all(c and not c.isascii() and unicodedata.category(c)[0] in "LMS" for c in (before, after))


def _shown(match: re.Match[str], one_line: bool) -> str:
    char = match.group()
    category = unicodedata.category(char)
    if category == "Cc":  # C0 but tab and newline, DEL, C1: a terminal sequence's ESC, CSI, BEL, \r
        return " " if one_line and char in "\t\n" else ""
    if char in _JOINERS and _joins(match):
        return char
    if category in ("Cf", "Zl", "Zp", "Cs"):  # format (bidi, zero-width, tags), line and paragraph
        code = ord(char)  # separators, lone surrogates: written as their escape, as `visible` does
        return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
    return char


def printable(text: Any, one_line: bool = False) -> str:
    """Text from candidates, evaluators, scorers and knowledge files without control characters.

    Ideas, reasons, metric names, log tails and stored passages are written by code or people
    strop does not trust; an ESC sequence in them would otherwise drive the user's terminal
    (retitle it, clear it, hide lines, fake output): control characters (C0 but tab and
    newline, DEL, C1) are dropped, what is left of a sequence is inert text. Invisible and
    format characters (a right-to-left override, a zero-width space, U+2028, Unicode tags) are
    shown as their escape (`\\u202e`), as `agent.report.text.visible` does on a page: dropped,
    `sc\\u202eore` read as `score`, passed, it reversed or hid what follows. `one_line` also
    flattens newlines and tabs, so that a name cannot start a line of its own that looks like
    strop's output.
    """
    text = str(text)
    if text.isascii() and text.isprintable():
        return text
    if one_line:
        return _SUSPECT_ONE_LINE.sub(_shown_one_line, text)
    return _SUSPECT.sub(_shown_lines, text)


def _shown_lines(match: re.Match[str]) -> str:
    return _shown(match, one_line=False)


def _shown_one_line(match: re.Match[str]) -> str:
    return _shown(match, one_line=True)


def safe(text: Any, one_line: bool = False) -> str:
    """Untrusted text for a Rich markup string: printable, and its brackets shown as written."""
    return escape(printable(text, one_line))


def clip(text: str, limit: int) -> str:
    """`text` in at most `limit` characters, cut at a word with "…" when it is longer: a cut
    mid-word read as a figure ("a prompt of about 149" where the reason said 1497)."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"


def plural(count: int, noun: str) -> str:
    """`1 experiment`, `2 experiments`: a count and its noun, agreeing."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def print_json(data: Any) -> None:
    """`data` as JSON on stdout; nothing when stdout is closed (`>&-`: Python's is None), as `out` does."""
    if sys.stdout is not None:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


STATUS_STYLE = {
    "ok": "green",
    "buggy": "red",
    "timeout": "yellow",
    "tampered": "magenta",
    "rejected": "bright_black",
    "pending": "cyan",
}


def styled_status(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"
