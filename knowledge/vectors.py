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
  also completes its files on disk for readers in other processes;
- a call that names many ids, or returns the texts of many items, fails past SQLite's 32,766
  bound variables ("too many SQL variables"; Chroma 1.5.9 reads `get()` of every item's texts
  that way too): every read, write and delete goes in pages of at most `PAGE` items.

Vectors come precomputed from our embedder: Chroma's default one downloads a model at run
time and fails offline.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
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
PAGE = 5000  # items per Chroma call: far below SQLite's 32,766 variables, few round trips
PROBE_TIMEOUT_S = 120.0
_PROBE = """
import sys, chromadb
client = chromadb.PersistentClient(path=sys.argv[1], settings=chromadb.Settings(anonymized_telemetry=False))
collection = client.get_collection(sys.argv[2])
collection.count()
got = collection.get(limit=1, include=["embeddings"])
if len(got["ids"]):
    collection.query(query_embeddings=[got["embeddings"][0]], n_results=1, include=["distances"])
"""
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
        stored = _get(collection, [i for i, _, _ in batch], ["documents", "metadatas"])
        have = dict(
            zip(stored["ids"], zip(stored["documents"], stored["metadatas"], strict=True), strict=True)
        )
        todo = [n for n, (i, _, c) in enumerate(batch) if have.get(i) != (c.text, metadatas[n])]
        for start in range(0, len(todo), PAGE):
            page = todo[start : start + PAGE]
            collection.upsert(
                ids=[batch[n][0] for n in page],
                embeddings=embedder.embed([batch[n][2].embedding_text() for n in page]),
                documents=[batch[n][2].text for n in page],
                metadatas=[metadatas[n] for n in page],
            )
        return len(todo)

    def delete(self, ids: Sequence[str]) -> None:
        collection = self.open()
        for start in range(0, len(ids), PAGE):
            collection.delete(ids=list(ids[start : start + PAGE]))

    def sweep(self, keep: set[str]) -> None:
        """Delete vectors no manifest entry names (left by an interrupted write). Counting comes
        first: listing every id is the slow part, and an intact collection holds exactly `keep`."""
        collection = self.open()
        if collection.count() == len(keep):
            return
        orphans = [i for i in _all(collection, [])["ids"] if i not in keep]
        if orphans:
            self.delete(orphans)

    def everything(self) -> list[tuple[str, str, str, str]]:
        """(id, title, text, type) of every stored chunk, for the lexical index a write rebuilds."""
        got = _all(self.open(), ["documents", "metadatas"])
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
        got = self._read(lambda c: _get(c, ids, ["embeddings"]))
        vectors = np.asarray(got["embeddings"], dtype=np.float32)
        if not len(vectors):
            return {}
        sims = vectors @ vector
        return {i: float(s) for i, s in zip(got["ids"], sims, strict=True)}

    def hits(self, ids: Sequence[str]) -> dict[str, Hit]:
        """The stored chunks `ids` as hits with score 0, by id; ids no longer stored are absent."""
        got = self._read(lambda c: _get(c, ids, ["documents", "metadatas"]))
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


def _get(collection: Any, ids: Sequence[str], include: list[str]) -> dict[str, list[Any]]:
    """`collection.get(ids=…)` in pages of `PAGE` ids, the pages' answers joined."""
    got: dict[str, list[Any]] = {"ids": [], **{name: [] for name in include}}
    for start in range(0, len(ids), PAGE):
        _join(got, collection.get(ids=list(ids[start : start + PAGE]), include=include))
    return got


def _all(collection: Any, include: list[str]) -> dict[str, list[Any]]:
    """Every item of the collection, read `PAGE` at a time (a writer holds the lock: no item
    moves between pages)."""
    got: dict[str, list[Any]] = {"ids": [], **{name: [] for name in include}}
    while True:
        page = collection.get(include=include, limit=PAGE, offset=len(got["ids"]))
        _join(got, page)
        if len(page["ids"]) < PAGE:
            return got


def _join(into: dict[str, list[Any]], page: Any) -> None:
    for name, values in into.items():
        values.extend(page[name] if page[name] is not None else [])


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


def holds_vectors(store_root: Path) -> bool:
    """Whether Chroma's database holds any vector, read with sqlite directly (read-only, cheap)."""
    import sqlite3

    database = store_root / "chroma" / "chroma.sqlite3"
    if not database.is_file():
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
            return connection.execute("SELECT 1 FROM embeddings LIMIT 1").fetchone() is not None
    except sqlite3.Error:
        return True  # unreadable: let the probe tell


def probe(store_root: Path) -> str | None:
    """Open, count and query the collection in a child process; None when that works, else why not.

    In a child because a damaged index crashes Chroma's native code (a segfault), which no
    `except` in this process could turn into a message.
    """
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE, str(store_root / "chroma"), COLLECTION],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return f"reading its vectors hung for {PROBE_TIMEOUT_S:.0f}s"
    if done.returncode == 0:
        return None
    if done.returncode < 0:
        with contextlib.suppress(ValueError):
            return f"reading its vectors crashed with {signal.Signals(-done.returncode).name}"
        return f"reading its vectors crashed with signal {-done.returncode}"
    last = (done.stderr.strip().splitlines() or ["no message"])[-1]
    return f"reading its vectors failed: {last[:200]}"
