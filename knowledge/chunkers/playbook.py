"""Playbooks: hand-written, typed knowledge in Markdown or YAML.

A playbook is how a person tells strop what they know: how a workflow goes,
which environment constraints hold, which heuristics pay. Each section has a
type (workflow, implementation, environment, heuristic, lesson, reference), a
title, a body and optional links to other sections of the same playbook.

YAML (`*.playbook.yaml` / `*.playbook.yml`, or any YAML whose top level has
`playbook:`)::

    playbook: Tuning gradient boosting
    sections:
      - id: lr-first                 # optional; defaults to the title, slugified
        type: heuristic
        title: Tune the learning rate first
        text: |
          Halve the learning rate and double n_estimators before touching depth.
        links: [oom-depth]           # ids (or titles) of other sections
      - id: oom-depth
        type: environment
        title: Depth above 12 runs out of memory on 2 GiB
        text: max_depth > 12 with 1M rows needs more than 2 GiB.

Markdown (`*.playbook.md`, or any Markdown whose front matter has
`playbook:`)::

    ---
    playbook: Tuning gradient boosting
    ---
    ## heuristic: Tune the learning rate first
    Halve the learning rate and double n_estimators before touching depth.
    Links: depth-above-12-runs-out-of-memory-on-2-gib

    ## environment: Depth above 12 runs out of memory on 2 GiB
    max_depth > 12 with 1M rows needs more than 2 GiB.

Every level-2 heading `## <type>: <title>` opens a section (its id is the
slugified title); a line `Links: a, b` inside it names linked sections. Text
before the first section is ignored. An unknown type is an error that names
the section, so a typo does not silently become `reference`.
"""

from __future__ import annotations

import re
from pathlib import Path

from knowledge.entry import Chunk, parse_entry_type

_SECTION = re.compile(r"^##\s+([A-Za-z _-]+?)\s*:\s*(.+?)\s*$")
_LINKS = re.compile(r"^\s*links\s*:\s*(.+)$", re.IGNORECASE)
_FRONT = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def is_playbook(path: Path, text: str) -> bool:
    """True for `*.playbook.{md,yaml,yml}` or a file that declares `playbook:` at its top."""
    name = path.name.lower()
    if any(name.endswith(f".playbook{ext}") for ext in (".md", ".yaml", ".yml")):
        return True
    if path.suffix.lower() in (".yaml", ".yml"):
        return re.search(r"^playbook\s*:", text, re.MULTILINE) is not None
    if path.suffix.lower() in (".md", ".markdown"):
        front = _FRONT.match(text)
        return bool(front and re.search(r"^playbook\s*:", front.group(1), re.MULTILINE))
    return False


def _chunk(name: str, number: int, type_: str, title: str, body: str, links: list[str], where: str) -> Chunk:
    try:
        entry_type = parse_entry_type(type_)
    except ValueError as error:
        raise ValueError(f"playbook {name!r}, section {number} ({title!r}): {error}") from None
    ids = tuple(slug(link) for link in links if link.strip())
    return Chunk(body.strip(), entry_type, where, slug(title), f"{name}: {title}", ids)


def parse_yaml_playbook(text: str) -> list[Chunk]:
    import yaml

    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict) or not isinstance(data.get("sections"), list):
        raise ValueError("a YAML playbook needs `playbook: NAME` and a list `sections:`")
    name = str(data.get("playbook", ""))
    chunks = []
    for number, section in enumerate(data["sections"], start=1):
        if not isinstance(section, dict) or "type" not in section or "text" not in section:
            raise ValueError(f"playbook {name!r}, section {number}: needs at least `type` and `text`")
        title = str(section.get("title") or section.get("id") or f"section {number}")
        links = [str(x) for x in section.get("links") or []]
        chunk = _chunk(
            name, number, str(section["type"]), title, str(section["text"]), links, f"section {number}"
        )
        key = slug(str(section.get("id") or title))
        chunks.append(Chunk(chunk.text, chunk.type, chunk.location, key, chunk.title, chunk.links))
    return chunks


def parse_markdown_playbook(text: str) -> list[Chunk]:
    import yaml

    front = _FRONT.match(text)
    meta = (yaml.safe_load(front.group(1)) if front else None) or {}
    name = str(meta.get("playbook", "")) if isinstance(meta, dict) else ""
    offset = text[: front.end()].count("\n") if front else 0
    lines = text[front.end() :].splitlines() if front else text.splitlines()
    chunks: list[Chunk] = []
    current: tuple[int, str, str] | None = None
    body: list[str] = []
    links: list[str] = []

    def close(end_line: int) -> None:
        if current is not None:
            start, type_, title = current
            where = f"lines {start}-{end_line}"
            chunks.append(_chunk(name, len(chunks) + 1, type_, title, "\n".join(body), links, where))

    for number, line in enumerate(lines, start=offset + 1):
        match = _SECTION.match(line)
        if match:
            close(number - 1)
            current, body, links = (number, match.group(1), match.group(2)), [], []
            continue
        link_line = _LINKS.match(line)
        if current is not None and link_line:
            links += [x.strip() for x in link_line.group(1).split(",")]
        elif current is not None:
            body.append(line)
    close(offset + len(lines))
    if not chunks:
        raise ValueError("a Markdown playbook needs sections headed `## <type>: <title>`")
    return chunks


def chunk_playbook(path: Path, text: str) -> list[Chunk]:
    if path.suffix.lower() in (".yaml", ".yml"):
        return parse_yaml_playbook(text)
    return parse_markdown_playbook(text)
