"""Text from a run, made safe to read on a page: what cannot be seen is shown, not obeyed.

Ideas, reasons, metric names, decisions, diffs and logs come from candidates, scorers
and LLMs. Jinja's autoescaping keeps their markup inert; this module handles what
escaping leaves alone. A right-to-left override (U+202E) would reverse the rest of a
table cell ("score = 0.1" read backwards), a zero-width space makes two metric names
look the same, ANSI escapes and other control characters are invalid in HTML, and
Unicode tag characters smuggle invisible text. Each such character is written as
its Python escape (`\\u202e`, `\\x1b`), so the page shows exactly what the run holds.

    visible(value)    Jinja's `finalize` for every page: strings made visible, other values as they are
    log_text(raw)     a log's tail as a terminal would have left it (colours dropped, `\\r` redraws applied)
    read_tail(path)   the last bytes of a log file, decoded; never the whole file, never a FIFO
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

__all__ = ["HIDDEN", "TAIL_BYTES", "log_text", "read_tail", "visible"]

TAIL_BYTES = 20_000

# C0 controls but tab, newline and carriage return; DEL and C1; the Arabic letter mark; zero-width
# and direction marks; bidi embeddings, overrides and isolates; invisible operators; the BOM;
# interlinear annotation; Unicode tags (invisible ASCII look-alikes).
HIDDEN = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000e0000-\U000e007f]"
)
# Terminal sequences a log may hold: CSI (colours, cursor moves), OSC (titles, hyperlinks), and
# two-character escapes.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]")


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def visible(value: Any) -> Any:
    """A string with every invisible or control character written as its escape; `Markup`
    (HTML a template built itself) and non-strings are returned unchanged."""
    if type(value) is not str or not HIDDEN.search(value):
        return value
    return HIDDEN.sub(_shown, value)


def log_text(raw: str) -> str:
    """A log as a terminal shows it: ANSI sequences dropped, each line what its last `\\r` left
    (a progress bar redrawn 500 times is one line, not 500). Other controls stay, for `visible`."""
    text = _ANSI.sub("", raw) if "\x1b" in raw else raw
    if "\r" not in text:
        return text
    lines = text.replace("\r\n", "\n").split("\n")
    return "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1] for line in lines)


def read_tail(path: str | Path, limit: int = TAIL_BYTES) -> str:
    """The last `limit` bytes of a log, as text ("" when there is none).

    A candidate's log may be gigabytes (reading it whole took 24 s at 2 GiB), and a path that
    is a FIFO or a device would block or never end; bytes that are not UTF-8 read as U+FFFD.
    """
    if not path or not Path(path).is_file():
        return ""
    try:
        with open(path, "rb") as file:
            size = file.seek(0, 2)
            file.seek(max(0, size - limit))
            raw = file.read(limit)
    except OSError:  # gone, a folder, unreadable: no log to show
        return ""
    text = raw.decode("utf-8", errors="replace")
    return text.lstrip("\ufffd") if size > limit else text  # the cut may split a character
