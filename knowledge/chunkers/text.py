"""Size-bounded chunks that respect line boundaries: the fallback for any text.

A chunk grows line by line until the next line would pass `max_chars`; a single
line longer than that is cut hard (minified files, data dumps). Written by hand
because the rule is five lines and the splitters in LangChain-like libraries
would bring a framework for it.
"""

from __future__ import annotations

from knowledge.entry import Chunk, EntryType

MAX_CHARS = 1500


def line_windows(lines: list[str], max_chars: int = MAX_CHARS) -> list[tuple[int, int, str]]:
    """Split lines into (first_line, last_line, text) windows, 1-based inclusive, each ≤ max_chars."""
    windows: list[tuple[int, int, str]] = []
    start, buf, size = 1, [], 0
    for number, line in enumerate(lines, start=1):
        if len(line) > max_chars:
            if buf:
                windows.append((start, number - 1, "\n".join(buf)))
                buf, size = [], 0
            for i in range(0, len(line), max_chars):
                windows.append((number, number, line[i : i + max_chars]))
            start = number + 1
            continue
        if buf and size + len(line) + 1 > max_chars:
            windows.append((start, number - 1, "\n".join(buf)))
            buf, size, start = [], 0, number
        if not buf:
            start = number
        buf.append(line)
        size += len(line) + 1
    if buf:
        windows.append((start, start + len(buf) - 1, "\n".join(buf)))
    return [w for w in windows if w[2].strip()]


def lines_location(first: int, last: int) -> str:
    return f"lines {first}-{last}" if last != first else f"line {first}"


def chunk_text(
    text: str,
    entry_type: EntryType = EntryType.REFERENCE,
    title: str = "",
    first_line: int = 1,
    max_chars: int = MAX_CHARS,
    key_prefix: str = "",
) -> list[Chunk]:
    """Chunk plain text or code by line windows; line numbers are offset by `first_line`."""
    chunks = []
    for first, last, body in line_windows(text.splitlines(), max_chars):
        a, b = first + first_line - 1, last + first_line - 1
        chunks.append(
            Chunk(
                text=body,
                type=entry_type,
                location=lines_location(a, b),
                key=f"{key_prefix}L{a}",
                title=title,
            )
        )
    return chunks
