"""What the knowledge store holds: typed chunks of text with provenance, and search hits.

A `Chunk` is the unit of retrieval: one Python function, one Markdown section,
one PDF page, one notebook cell, one playbook section. It carries its source
file, a human location (line range or page), a content hash (incremental
ingestion compares file hashes; chunk ids derive from them) and links to
related chunks (a method to its class, a section to its parent heading,
a playbook section to the sections it names).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum


class EntryType(StrEnum):
    """Kinds of entries. `reference` is prose that is none of the others (plain docs)."""

    WORKFLOW = "workflow"
    IMPLEMENTATION = "implementation"
    ENVIRONMENT = "environment"
    HEURISTIC = "heuristic"
    LESSON = "lesson"
    REFERENCE = "reference"


def parse_entry_type(value: str) -> EntryType:
    """Accept the type names and a few spellings people write (`environment constraint`)."""
    key = value.strip().lower().replace("-", " ").replace("_", " ")
    aliases = {"environment constraint": "environment", "env": "environment", "impl": "implementation"}
    key = aliases.get(key, key)
    try:
        return EntryType(key)
    except ValueError:
        names = ", ".join(t.value for t in EntryType)
        raise ValueError(f"unknown entry type {value!r}; expected one of: {names}") from None


def content_hash(data: bytes | str) -> str:
    """sha256 hex of bytes (or UTF-8 text)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class Chunk:
    """One retrievable piece of a source, before it is stored.

    `key` is unique within its source (e.g. `Store.add`, `## Install`, `page 3`);
    `links` name the keys of related chunks in the same source.
    """

    text: str
    type: EntryType
    location: str
    key: str
    title: str = ""
    links: tuple[str, ...] = ()
    head: str = ""

    def embedding_text(self) -> str:
        """What the dense model sees, most telling first (the model reads only the first word pieces).

        A chunker may set `head` (a function's name and docstring before its code); otherwise
        the title, then the text.
        """
        if self.head:
            return f"{self.head}\n{self.text}"
        return f"{self.title}\n{self.text}" if self.title and self.title not in self.text[:200] else self.text


@dataclass(frozen=True)
class Hit:
    """One search result. `score` is the fused score (higher is better); the others explain it."""

    source: str
    location: str
    type: str
    score: float
    text: str
    title: str = ""
    chunk_id: str = ""
    dense_rank: int | None = None
    lexical_rank: int | None = None
    links: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "location": self.location,
            "type": self.type,
            "score": round(self.score, 6),
            "text": self.text,
            "title": self.title,
            "chunk_id": self.chunk_id,
            "dense_rank": self.dense_rank,
            "lexical_rank": self.lexical_rank,
            "links": list(self.links),
        }
