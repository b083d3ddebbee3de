"""Markdown and reStructuredText split by heading: one chunk per section.

A section runs from its heading to the next heading of any level; its title is
the heading path (`Install > From source`) and it links to its parent section.
Markdown headings are ATX (`## Title`) or setext (a paragraph underlined by `===`
or `---`, as CommonMark reads them); headings inside fenced code blocks or YAML
front matter are not headings. reStructuredText headings
are a title line underlined (optionally overlined) by a repeated punctuation
character; levels follow the order in which adornments first appear, as
docutils does. Long sections are cut into line windows. Written by hand: the
heading rule is small, and a Markdown AST library would add a dependency to
recover line numbers we already have.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from knowledge.chunkers.text import MAX_CHARS, chunk_text
from knowledge.entry import Chunk, EntryType

_ATX = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_ADORNMENT = re.compile(r"^\s*([=\-~^\"'`#*+:.<>_])\1*\s*$")  # an underline or overline: no content
_BLOCK_START = re.compile(r"^ {0,3}([-*+]\s|\d{1,9}[.)]\s|>|#{1,6}(\s|$)|\|)")  # list, quote, heading, table
_RST_ADORN = re.compile(r"^([=\-~^\"'`#*+:.<>_])\1{2,}\s*$")


@dataclass
class Section:
    level: int
    title: str
    first_line: int
    body: list[str]


def _markdown_headings(lines: list[str]) -> list[tuple[int, int, str]]:
    """(line index 0-based, level, title) of each heading outside code fences and front matter:
    ATX (`# Title`) and setext (a paragraph underlined by `===`, level 1, or `---`, level 2)."""
    found: list[tuple[int, int, str]] = []
    fenced = False
    start = _front_matter_end(lines)
    for i in range(start, len(lines)):
        line = lines[i]
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        if match := _ATX.match(line):
            found.append((i, len(match.group(1)), match.group(2).strip()))
        elif (match := _SETEXT.match(line)) and (title := _paragraph_above(lines, i, start, found)):
            first = i - len(title)
            found.append(
                (first, 1 if match.group(1).startswith("=") else 2, " ".join(t.strip() for t in title))
            )
    return found


def _front_matter_end(lines: list[str]) -> int:
    """The first line after a YAML front matter block (`---` … `---`), 0 when there is none:
    its closing `---` under a `key: value` line is no heading."""
    if not lines or lines[0].strip() != "---":
        return 0
    for i in range(1, len(lines)):
        if lines[i].strip() in ("---", "..."):
            return i + 1
    return 0


def _paragraph_above(
    lines: list[str], underline: int, start: int, found: list[tuple[int, int, str]]
) -> list[str]:
    """The paragraph lines a setext underline at `underline` makes a heading of ([] when none:
    after a blank line, a list item or a quote, `---` is a thematic break, not a heading)."""
    taken = found[-1][0] if found else start - 1
    paragraph: list[str] = []
    i = underline - 1
    while i > taken and i >= start and _is_paragraph_line(lines[i]):
        paragraph.insert(0, lines[i])
        i -= 1
    return paragraph


def _is_paragraph_line(line: str) -> bool:
    return bool(
        line.strip()
        and not line.startswith("    ")
        and not _FENCE.match(line)
        and not _SETEXT.match(line)
        and not _BLOCK_START.match(line)
    )


def _rst_headings(lines: list[str]) -> list[tuple[int, int, str]]:
    """(line index of the first adornment/title line, level, title); heading spans 2–3 lines."""
    found, order = [], []
    i = 0
    while i < len(lines) - 1:
        title, under = lines[i], lines[i + 1]
        over = lines[i - 1] if i > 0 else ""
        is_title = title.strip() and not _RST_ADORN.match(title) and _RST_ADORN.match(under)
        if is_title and len(under.rstrip()) >= len(title.rstrip()):
            style = ("over" if _RST_ADORN.match(over) else "") + under.strip()[0]
            if style not in order:
                order.append(style)
            start = i - 1 if style.startswith("over") else i
            found.append((start, order.index(style) + 1, title.strip()))
            i += 2
            continue
        i += 1
    return found


def _sections(lines: list[str], headings: list[tuple[int, int, str]]) -> list[Section]:
    sections = []
    if not headings or headings[0][0] > 0:
        end = headings[0][0] if headings else len(lines)
        sections.append(Section(0, "", 1, lines[:end]))
    for n, (index, level, title) in enumerate(headings):
        end = headings[n + 1][0] if n + 1 < len(headings) else len(lines)
        sections.append(Section(level, title, index + 1, lines[index:end]))
    return sections


def _chunk_sections(sections: list[Section], entry_type: EntryType, doc_title: str) -> list[Chunk]:
    chunks: list[Chunk] = []
    path: list[tuple[int, str]] = []
    for section in sections:
        while path and path[-1][0] >= section.level and section.level > 0:
            path.pop()
        parent = " > ".join(t for _, t in path) if path else ""
        if section.level > 0:
            path.append((section.level, section.title))
        heading_path = " > ".join(t for _, t in path) if section.level > 0 else doc_title
        text = "\n".join(section.body).strip("\n")
        body_only = "\n".join(line for line in section.body[1:] if not _ADORNMENT.match(line)).strip()
        if not text.strip() or (section.level > 0 and not body_only):
            continue
        key = heading_path or "(preamble)"
        links = (parent,) if parent else ()
        title = f"{doc_title}: {heading_path}" if doc_title and heading_path != doc_title else heading_path
        if len(text) <= MAX_CHARS:
            last = section.first_line + len(section.body) - 1
            location = f"lines {section.first_line}-{last}"
            chunks.append(Chunk(text, entry_type, location, key, title, links))
        else:
            for part in chunk_text(text, entry_type, title, section.first_line, MAX_CHARS, f"{key}@"):
                chunks.append(Chunk(part.text, part.type, part.location, part.key, title, links))
    return chunks


def chunk_markdown(
    text: str, doc_title: str = "", entry_type: EntryType = EntryType.REFERENCE
) -> list[Chunk]:
    lines = text.splitlines()
    return _chunk_sections(_sections(lines, _markdown_headings(lines)), entry_type, doc_title)


def chunk_rst(text: str, doc_title: str = "", entry_type: EntryType = EntryType.REFERENCE) -> list[Chunk]:
    lines = text.splitlines()
    return _chunk_sections(_sections(lines, _rst_headings(lines)), entry_type, doc_title)
