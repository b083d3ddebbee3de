"""Markdown and reStructuredText split by heading: one chunk per section.

A section runs from its heading to the next heading of any level; its title is
the heading path (`Install > From source`) and it links to its parent section.
Markdown headings are ATX (`## Title`) or setext (a paragraph underlined by `===`
or `---`, as CommonMark reads them); headings inside fenced code blocks or YAML
front matter are not headings, nor is a `---` that follows no paragraph of its own
(after a blank line, a list item or quote it continues, a table, HTML): that is
a thematic break. A heading with nothing under it is no passage, whatever its
style (the sections under it carry it in their titles), but a document of headings
alone (an outline, a table of contents, a stub) is one passage of those headings,
not a file without text. reStructuredText headings
are a title line underlined (optionally overlined) by a repeated punctuation
character; levels follow the order in which adornments first appear, as
docutils does. Long sections are cut into line windows. Written by hand: the
heading rule is small, and a Markdown AST library would add a dependency to
recover line numbers we already have.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from knowledge.chunkers.text import MAX_CHARS, chunk_text
from knowledge.entry import Chunk, EntryType

_ATX = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_ADORNMENT = re.compile(r"^\s*([=\-~^\"'`#*+:.<>_])\1*\s*$")  # an underline or overline: no content
_ATX_START = re.compile(r"^ {0,3}#{1,6}(\s|$)")
# a list item, quote, table row or HTML block: a paragraph right under one continues it ("lazily")
_CONTAINER = re.compile(r"^ {0,3}([-*+]\s|\d{1,9}[.)]\s|>|\||<[A-Za-z/!?])")
_WORD = re.compile(r"\w")
_RST_ADORN = re.compile(r"^([=\-~^\"'`#*+:.<>_])\1{2,}\s*$")


class Heading(NamedTuple):
    """A heading found in a document: where it starts (0-based line), its level and title, and how
    many lines it takes (ATX 1; setext its title lines plus the underline; RST 2, or 3 overlined),
    so that a heading with nothing under it is known as empty whatever its style."""

    line: int
    level: int
    title: str
    span: int = 1


@dataclass
class Section:
    level: int
    title: str
    first_line: int
    body: list[str]
    heading_lines: int = 0


def _markdown_headings(lines: list[str]) -> list[Heading]:
    """Each heading outside code fences and front matter: ATX (`# Title`) and setext (a paragraph
    underlined by `===`, level 1, or `---`, level 2)."""
    found: list[Heading] = []
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
            found.append(Heading(i, len(match.group(1)), match.group(2).strip()))
        elif (match := _SETEXT.match(line)) and (title := _paragraph_above(lines, i, start, found)):
            level = 1 if match.group(1).startswith("=") else 2
            found.append(Heading(i - len(title), level, " ".join(t.strip() for t in title), len(title) + 1))
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


def _paragraph_above(lines: list[str], underline: int, start: int, found: list[Heading]) -> list[str]:
    """The paragraph lines a setext underline at `underline` makes a heading of ([] when none).

    With no paragraph right above (a blank line, a fence, the start of the text), `---` is a
    thematic break. Text right under a list item, quote, table row or HTML line continues that
    block, as CommonMark reads it, and its underline is a thematic break too. A paragraph may
    go on with indented lines but not begin with one: that is an indented code block.
    """
    taken = found[-1].line + found[-1].span - 1 if found else start - 1
    first = underline
    while first - 1 > taken and _continues_paragraph(lines[first - 1]):
        first -= 1
    if first - 1 > taken and _CONTAINER.match(lines[first - 1]):
        return []
    while first < underline and lines[first].startswith("    "):
        first += 1
    return lines[first:underline]


def _continues_paragraph(line: str) -> bool:
    return bool(
        line.strip()
        and not _FENCE.match(line)
        and not _SETEXT.match(line)
        and not _ATX_START.match(line)
        and not _CONTAINER.match(line)
    )


def _rst_headings(lines: list[str]) -> list[Heading]:
    """Each heading, from its overline (if any) or title line; it spans 2–3 lines."""
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
            over = 1 if style.startswith("over") else 0
            found.append(Heading(i - over, order.index(style) + 1, title.strip(), 2 + over))
            i += 2
            continue
        i += 1
    return found


def _sections(lines: list[str], headings: list[Heading]) -> list[Section]:
    sections = []
    if not headings or headings[0].line > 0:
        end = headings[0].line if headings else len(lines)
        sections.append(Section(0, "", 1, lines[:end]))
    for n, heading in enumerate(headings):
        end = headings[n + 1].line if n + 1 < len(headings) else len(lines)
        body = lines[heading.line : end]
        sections.append(Section(heading.level, heading.title, heading.line + 1, body, heading.span))
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
        under_heading = section.body[section.heading_lines :]
        body_only = "\n".join(line for line in under_heading if not _ADORNMENT.match(line)).strip()
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
    chunks = _chunk_sections(_sections(lines, _markdown_headings(lines)), entry_type, doc_title)
    return chunks or _outline(text, entry_type, doc_title)


def chunk_rst(text: str, doc_title: str = "", entry_type: EntryType = EntryType.REFERENCE) -> list[Chunk]:
    lines = text.splitlines()
    chunks = _chunk_sections(_sections(lines, _rst_headings(lines)), entry_type, doc_title)
    return chunks or _outline(text, entry_type, doc_title)


def _outline(text: str, entry_type: EntryType, doc_title: str) -> list[Chunk]:
    """A document with no section body: its headings are its text (none when it has no words)."""
    if not _WORD.search(text):
        return []
    return chunk_text(text, entry_type, doc_title, key_prefix="(outline)@")
