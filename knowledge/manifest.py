"""What a store records about itself: the manifest, and the plain results of its operations.

`manifest.json` holds the schema version, the embedder's name and dimension (a
store is only searched with the embedder that built it), a generation counter
bumped by every write, the roots that were added (so `rebuild` can re-ingest
them), the paths removed from inside a root (`excluded`: re-adding the root or
rebuilding leaves them out; adding the path itself, or a path inside it, admits
it again) and, per source file, its content hash, chunk ids and entry types. It
is written atomically (temp file + rename) by the one writer.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from knowledge.errors import REBUILD_HINT, StoreUnavailable

SCHEMA = 1


@dataclass(frozen=True)
class IngestReport:
    """What an `add` did, counted in files (and chunks embedded)."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    skipped: int = 0
    chunks_embedded: int = 0
    unsupported: tuple[tuple[str, str], ...] = ()
    """(path, reason) of each file skipped: binary, not UTF-8, unreadable, no text, too big, links out."""
    errors: tuple[str, ...] = ()
    left_out: tuple[str, ...] = ()
    """Paths removed before (`strop knowledge remove`) that kept files of the added folders out."""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "skipped": self.skipped,
            "chunks_embedded": self.chunks_embedded,
            "unsupported": [{"source": path, "reason": reason} for path, reason in self.unsupported],
            "errors": list(self.errors),
            "left_out": list(self.left_out),
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class SourceInfo:
    source: str
    root: str
    chunks: int
    hash: str
    types: tuple[str, ...]


@dataclass
class Manifest:
    embedder: str
    dim: int
    generation: int = 0
    roots: list[str] = field(default_factory=list)
    sources: dict[str, dict[str, object]] = field(default_factory=dict)
    excluded: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        data = {"schema": SCHEMA, "embedder": self.embedder, "dim": self.dim, "generation": self.generation}
        data |= {"roots": self.roots, "excluded": self.excluded}
        return json.dumps(data | {"sources": self.sources}, indent=1)

    def admits(self, path: str) -> bool:
        """Whether `path` is in: the closest root or exclusion above it (or equal to it) decides."""
        return admitted(path, self.roots, self.excluded)

    def holds_out(self, path: str) -> bool:
        """Whether `path` lies in a path removed before, with no root added inside that removal."""
        return any(under(path, e) for e in self.excluded) and not self.admits(path)

    @classmethod
    def read(cls, path: Path) -> Manifest:
        try:
            data = json.loads(path.read_text())
            if data.get("schema") != SCHEMA:
                raise ValueError(f"schema {data.get('schema')!r}, expected {SCHEMA}")
            excluded = data.get("excluded", [])  # absent from stores written before removals were kept
            if not (isinstance(excluded, list) and all(isinstance(e, str) for e in excluded)):
                raise ValueError(f"excluded must be a list of paths, got {excluded!r}")
            return cls(
                data["embedder"],
                int(data["dim"]),
                int(data["generation"]),
                data["roots"],
                data["sources"],
                excluded,
            )
        except FileNotFoundError:
            raise StoreUnavailable(
                f"the knowledge store at {path.parent} has no manifest; {REBUILD_HINT}"
            ) from None
        except (ValueError, KeyError, TypeError) as error:
            raise StoreUnavailable(
                f"the knowledge store at {path.parent} is corrupt ({path.name}: {error}); {REBUILD_HINT}"
            ) from None

    def write(self, path: Path) -> None:
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(self.to_json())
        os.replace(tmp, path)


def under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def admitted(path: str, roots: list[str], excluded: list[str]) -> bool:
    """Whether `path` is in the store's scope: under a root, and no exclusion closer to it than that root.

    A file added explicitly inside a removed folder is a root of its own, closer than the exclusion.
    """
    root = max((len(r) for r in roots if under(path, r)), default=-1)
    exclusion = max((len(e) for e in excluded if under(path, e)), default=-1)
    return root > exclusion
