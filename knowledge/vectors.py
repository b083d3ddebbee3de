"""The chunk vectors: the Chroma collection that keeps each chunk's vector, text and metadata.

Chroma is reached through this one class, so the store's own rules (plans, the manifest,
the lexical index, fusion) never touch its API, and what Chroma keeps beside a vector
(source, location, type, title, key, links) is written and read back in one place. Chroma's
habits are handled here:

- it raises many types (InternalError, sqlite3 errors, ValueError) for a damaged folder:
  opening turns them into StoreUnavailable with the rebuild hint;
- a client's in-process view goes stale when a writer in another process changes the files
  ("Nothing found on disk", "Error finding id"): the reads reopen the client and retry;
  writes, made under the store's writer lock, do not (the store reports a failed write);
- its client is shared per folder within a process (refcounted): `close` releases it, which
  also completes its files on disk for readers in other processes.

Vectors come precomputed from our embedder: Chroma's default one downloads a model at run
time and fails offline.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from knowledge.embedder import Embedder
from knowledge.entry import Chunk, Hit
from knowledge.errors import REBUILD_HINT, StoreUnavailable

COLLECTION = "strop_chunks"
READ_RETRIES = 4
DELETE_BATCH = 5000
T = TypeVar("T")


class ChunkVectors:
    """The Chroma collection in `store_root/chroma`, opened on first use and reopened after `close`."""

    def __init__(self, store_root: Path) -> None:
        self.store_root = store_root
        self._client: Any = None
        self._collection: Any = None

    def open(self) -> Any:
        """The collection, created when the folder has none; StoreUnavailable when it is damaged."""
        if self._collection is None:
            try:
                import chromadb

                self._client = client = chromadb.PersistentClient(
                    path=str(self.store_root / "chroma"),
                    settings=chromadb.Settings(anonymized_telemetry=False, allow_reset=False),
                )
                self._collection = client.get_or_create_collection(
                    COLLECTION, embedding_function=None, metadata={"hnsw:space": "cosine"}
                )
            except Exception as error:  # chromadb raises many types for a damaged folder
                raise StoreUnavailable(
                    f"the knowledge store at {self.store_root} cannot be opened ({type(error).__name__}: "
                    f"{str(error)[:200]}); {REBUILD_HINT}"
                ) from None
        return self._collection

    def close(self) -> None:
        """Release Chroma's files (its client is shared per folder within a process, refcounted)."""
        if self._client is not None:
            self._client.close()
        self._client = self._collection = None

    # ----------------------------------------------------------------- writing (under the writer lock)

    def store(self, batch: list[tuple[str, str, Chunk]], embedder: Embedder) -> int:
        """Embed and store a batch of (id, source, chunk); returns how many chunks it embedded.

        A chunk already stored under its id with the same text and metadata is kept as it is:
        ids derive from the file's path and hash, so such a vector is one an interrupted write
        (Ctrl-C, a kill) stored for this very file, and running the same `add` again resumes
        where that one stopped instead of embedding everything again.
        """
        collection = self.open()
        metadatas = [_metadata(source, chunk) for _, source, chunk in batch]
        stored = collection.get(ids=[i for i, _, _ in batch], include=["documents", "metadatas"])
        have = dict(
            zip(stored["ids"], zip(stored["documents"], stored["metadatas"], strict=True), strict=True)
        )
        todo = [n for n, (i, _, c) in enumerate(batch) if have.get(i) != (c.text, metadatas[n])]
        if not todo:
            return 0
        collection.upsert(
            ids=[batch[n][0] for n in todo],
            embeddings=embedder.embed([batch[n][2].embedding_text() for n in todo]),
            documents=[batch[n][2].text for n in todo],
            metadatas=[metadatas[n] for n in todo],
        )
        return len(todo)

    def delete(self, ids: Sequence[str]) -> None:
        collection = self.open()
        for start in range(0, len(ids), DELETE_BATCH):
            collection.delete(ids=list(ids[start : start + DELETE_BATCH]))

    def sweep(self, keep: set[str]) -> None:
        """Delete vectors no manifest entry names (left by an interrupted write). Counting comes
        first: listing every id is the slow part, and an intact collection holds exactly `keep`."""
        collection = self.open()
        if collection.count() == len(keep):
            return
        orphans = [i for i in collection.get(include=[])["ids"] if i not in keep]
        if orphans:
            self.delete(orphans)

    def everything(self) -> list[tuple[str, str, str, str]]:
        """(id, title, text, type) of every stored chunk, for the lexical index a write rebuilds."""
        got = self.open().get(include=["documents", "metadatas"])
        return [
            (i, str(meta.get("title", "")), text, str(meta.get("type", "")))
            for i, text, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
        ]

    # ----------------------------------------------------------------- reading (any time, no lock)

    def _read(self, operation: Callable[[Any], T]) -> T:
        """Run a read on the collection; when Chroma's in-process view went stale under a writer
        in another process (it raises InternalError: "Nothing found on disk", "Error finding id"),
        reopen the client and retry, then give up with StoreUnavailable."""
        for attempt in range(READ_RETRIES):
            try:
                return operation(self.open())
            except StoreUnavailable:
                raise
            except Exception as error:
                self.close()
                if attempt == READ_RETRIES - 1:
                    raise StoreUnavailable(
                        f"the knowledge store at {self.store_root} failed a read ({type(error).__name__}: "
                        f"{str(error)[:200]}); {REBUILD_HINT}"
                    ) from None
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def count(self) -> int:
        return int(self._read(lambda c: c.count()))

    def nearest(self, vector: np.ndarray, k: int, types: Sequence[str] | None) -> dict[str, float]:
        """Cosine similarity of the (at most) k stored chunks nearest to `vector`, of `types` if given."""
        where = {"type": {"$in": list(types)}} if types else None

        def run(collection: Any) -> dict[str, float]:
            count = collection.count()
            if not count:
                return {}
            result = collection.query(
                query_embeddings=vector[None, :], n_results=min(k, count), where=where, include=["distances"]
            )
            return {i: 1.0 - float(d) for i, d in zip(result["ids"][0], result["distances"][0], strict=True)}

        return self._read(run)

    def cosines(self, vector: np.ndarray, ids: Sequence[str]) -> dict[str, float]:
        """Cosine similarity of `vector` with each of the stored chunks `ids` (those still stored)."""
        got = self._read(lambda c: c.get(ids=list(ids), include=["embeddings"]))
        vectors = np.asarray(got["embeddings"], dtype=np.float32)
        if not len(vectors):
            return {}
        sims = vectors @ vector
        return {i: float(s) for i, s in zip(got["ids"], sims, strict=True)}

    def hits(self, ids: Sequence[str]) -> dict[str, Hit]:
        """The stored chunks `ids` as hits with score 0, by id; ids no longer stored are absent."""
        got = self._read(lambda c: c.get(ids=list(ids), include=["documents", "metadatas"]))
        return {
            i: Hit(
                source=str(meta["source"]),
                location=str(meta["location"]),
                type=str(meta["type"]),
                score=0.0,
                text=text,
                title=str(meta.get("title", "")),
                chunk_id=i,
                links=tuple(json.loads(str(meta.get("links", "[]")))),
            )
            for i, text, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
        }


def _metadata(source: str, chunk: Chunk) -> dict[str, str]:
    """What Chroma keeps beside a chunk's vector and text."""
    return {
        "source": source,
        "location": chunk.location,
        "type": chunk.type.value,
        "title": chunk.title,
        "key": chunk.key,
        "links": json.dumps(list(chunk.links)),
    }


def recorded_sources(store_root: Path) -> list[str]:
    """The source files named in Chroma's own metadata: the last record of what was ingested
    when both manifest.json and roots.json are lost. Read with sqlite directly (read-only), so
    damaged vector files do not stop it; [] when that database is unreadable too."""
    import sqlite3

    database = store_root / "chroma" / "chroma.sqlite3"
    if not database.is_file():
        return []
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
            rows = connection.execute(
                "SELECT DISTINCT string_value FROM embedding_metadata WHERE key = 'source'"
            ).fetchall()
    except sqlite3.Error:
        return []
    return sorted(str(value) for (value,) in rows if value)
