"""The knowledge store: typed chunks in Chroma plus a BM25 index, fused at search time.

Layout of a store folder::

    manifest.json   schema, embedder, generation, roots, exclusions, and per source file: hash + chunk ids
    roots.json      the roots and exclusions alone, so `rebuild` works even when manifest.json is lost
    chroma/         Chroma PersistentClient: vectors (precomputed by our embedder), texts, metadata
    lexical/        the BM25 index: gen-N/ folders and `current`, the pointer to the live one
    write.lock      held by the one writer (see `lock`)

Writes (`add`, `remove`, `rebuild`) hold the writer lock, re-read the
manifest and reopen Chroma under it (another process may have written since),
change Chroma, rebuild the lexical index, write the manifest last
(atomically) and close Chroma so that its files are complete on disk. Chunk ids are derived from the source path and
the file hash, so a write interrupted half-way is repaired by the next one:
the file's hash still differs from the manifest, it is re-ingested (keeping
the vectors the interrupted write already stored under the same ids), and
vectors that no manifest entry names are swept. Until then searches pass over
them: only chunks in the lexical index, which a write rebuilds just before it
commits, are returned. Reads take no lock; a reader whose in-process Chroma
view went stale under a writer reopens and retries.

Incremental ingestion works per file: an unchanged hash is skipped without
reading Chroma or the model; a changed file's chunks are replaced; files that
vanished from a root that is added again are removed. A path removed from inside
a root stays out (`Manifest.excluded`) when the root is added again or the store
rebuilt, until that path, or one inside it, is added by name. What a write will do is gathered
first, with no change made (`ingest_plan`); this module applies it and answers searches.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from knowledge.embedder import Embedder, default_embedder
from knowledge.entry import Chunk, Hit, content_hash
from knowledge.errors import REBUILD_HINT, EntryNotFound, KnowledgeError, StoreUnavailable
from knowledge.fusion import convex_fusion
from knowledge.ingest_plan import Plan, absolute, plan_path, refuse_url
from knowledge.lexical import LexicalIndex
from knowledge.lock import DEFAULT_TIMEOUT_S, writer_lock
from knowledge.manifest import IngestReport, Manifest, SourceInfo, under

COLLECTION = "strop_chunks"
EMBED_BATCH = 256
READ_RETRIES = 4
MAX_DENSE_WIDENING = 64  # how much deeper than asked a search looks past uncommitted vectors
T = TypeVar("T")
Progress = Callable[[int, int], None]
"""progress(chunks_stored_so_far, chunks_to_store) during `add` (a resumed chunk counts, unembedded)."""


def _chunk_id(source: str, file_hash: str, ordinal: int) -> str:
    return f"{content_hash(source)[:16]}-{file_hash[:16]}-{ordinal}"


class KnowledgeStore:
    """Open with `KnowledgeStore.open(folder)`; all methods take and return plain data."""

    def __init__(self, root: Path, embedder: Embedder, lock_timeout: float) -> None:
        self.root = root
        self.embedder = embedder
        self.lock_timeout = lock_timeout
        self._client: object | None = None
        self._collection: object | None = None
        self._lexical: LexicalIndex | None = None
        self._lexical_stamp: str | None = None
        self._last_query: tuple[str, np.ndarray] | None = None

    # ----------------------------------------------------------------- opening

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        embedder: Embedder | None = None,
        create: bool = True,
        lock_timeout: float = DEFAULT_TIMEOUT_S,
    ) -> KnowledgeStore:
        """Open (or, with `create`, initialise) the store in `path`.

        Raises StoreUnavailable when the store is missing (and `create` is false),
        corrupt, or was built with another embedder.
        """
        root = Path(path).expanduser().resolve()
        store = cls(root, embedder or default_embedder(), lock_timeout)
        manifest_path = root / "manifest.json"
        if not manifest_path.exists():
            if not create:
                store._missing()
            with writer_lock(root, lock_timeout):  # two processes may create the same store at once
                if not manifest_path.exists():
                    store._missing(creating=True)
                    store._open_collection()
                    store.close()
                    Manifest(store.embedder.name, store.embedder.dim).write(manifest_path)
        manifest = Manifest.read(manifest_path)
        if manifest.embedder != store.embedder.name:
            raise StoreUnavailable(
                f"the knowledge store at {root} was built with embedder {manifest.embedder!r}, "
                f"not {store.embedder.name!r}; {REBUILD_HINT}"
            )
        store._open_collection()
        return store

    def _missing(self, creating: bool = False) -> None:
        """Raise the right error for a folder without a manifest (unless it is empty and we create)."""
        has_data = (self.root / "chroma").exists() or (self.root / "roots.json").exists()
        if has_data:
            raise StoreUnavailable(
                f"the knowledge store at {self.root} has lost its manifest; {REBUILD_HINT}"
            )
        if not creating:
            raise StoreUnavailable(
                f"the knowledge store at {self.root} does not exist yet; add sources with `strop knowledge add PATH…`"
            )

    def _open_collection(self) -> object:
        if self._collection is None:
            try:
                import chromadb

                self._client = client = chromadb.PersistentClient(
                    path=str(self.root / "chroma"),
                    settings=chromadb.Settings(anonymized_telemetry=False, allow_reset=False),
                )
                self._collection = client.get_or_create_collection(
                    COLLECTION, embedding_function=None, metadata={"hnsw:space": "cosine"}
                )
            except Exception as error:  # chromadb raises many types for a damaged folder
                raise StoreUnavailable(
                    f"the knowledge store at {self.root} cannot be opened ({type(error).__name__}: "
                    f"{str(error)[:200]}); {REBUILD_HINT}"
                ) from None
        return self._collection

    def close(self) -> None:
        """Release Chroma's files (its client is shared per folder within a process, refcounted)."""
        if self._client is not None:
            self._client.close()  # type: ignore[attr-defined]
        self._client = self._collection = None

    def __enter__(self) -> KnowledgeStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def _manifest_path(self) -> Path:
        return self.root / "manifest.json"

    def manifest(self) -> Manifest:
        return Manifest.read(self._manifest_path)

    # ----------------------------------------------------------------- writing

    def add(
        self,
        paths: Iterable[str | os.PathLike[str]],
        progress: Progress | None = None,
        excluded: Sequence[str] = (),
    ) -> IngestReport:
        """Ingest files, folders and git repos incrementally. Holds the writer lock.

        `excluded`: paths to leave out besides those removed before (`rebuild` passes the old store's).
        """
        started = time.perf_counter()
        with writer_lock(self.root, self.lock_timeout):
            manifest = self.manifest()
            manifest.excluded += [e for e in excluded if e not in manifest.excluded]
            plan = Plan()
            for raw in paths:
                refuse_url(raw)
                plan_path(absolute(raw), manifest, plan, self.root)
            embedded = self._apply(manifest, plan, progress)
        return IngestReport(
            added=plan.added,
            updated=plan.updated,
            removed=len(set(plan.removed)),
            skipped=plan.skipped,
            chunks_embedded=embedded,
            unsupported=tuple(dict.fromkeys(plan.unsupported)),
            errors=tuple(plan.errors),
            left_out=tuple(sorted(plan.left_out)),
            seconds=time.perf_counter() - started,
        )

    def remove(self, source: str | os.PathLike[str]) -> int:
        """Forget a file, or every file under a folder (or root). Returns the number of files removed."""
        target = str(absolute(source))
        with writer_lock(self.root, self.lock_timeout):
            manifest = self.manifest()
            doomed = [s for s in manifest.sources if under(s, target)]
            if not doomed and target not in manifest.roots:
                raise EntryNotFound(
                    f"the knowledge store holds no source {target}; see `strop knowledge list`"
                )
            plan = Plan(removed=doomed)
            manifest.roots = [r for r in manifest.roots if not under(r, target)]
            manifest.excluded = [e for e in manifest.excluded if not under(e, target)]
            if manifest.admits(target):  # inside a root that stays: adding that root again leaves it out
                manifest.excluded.append(target)
            self._apply(manifest, plan, None)
        return len(doomed)

    @classmethod
    def rebuild(
        cls,
        path: str | os.PathLike[str],
        embedder: Embedder | None = None,
        progress: Progress | None = None,
        lock_timeout: float = DEFAULT_TIMEOUT_S,
    ) -> IngestReport:
        """Move a (broken) store aside and ingest its recorded roots into a fresh one.

        Close every `KnowledgeStore` of this folder in this process first: Chroma shares
        one client per folder within a process, and it would keep writing to the old files.
        """
        root = Path(path).expanduser().resolve()
        aside: Path | None = None
        with writer_lock(root, lock_timeout):
            recorded = _recorded_roots(root)
            roots, excluded = recorded or (_chroma_sources(root / "chroma"), [])
            if any((root / name).exists() for name in ("manifest.json", "chroma", "lexical", "roots.json")):
                stamp, n = time.strftime("%Y%m%d-%H%M%S"), 0
                aside = root.with_name(f"{root.name}.broken-{stamp}")
                while aside.exists():  # a second rebuild within the same second
                    n += 1
                    aside = root.with_name(f"{root.name}.broken-{stamp}-{n}")
                aside.mkdir(parents=True)
                for name in ("manifest.json", "chroma", "lexical", "roots.json"):
                    if (root / name).exists():
                        shutil.move(str(root / name), str(aside / name))
        store = cls.open(root, embedder, create=True, lock_timeout=lock_timeout)
        if recorded is None and not roots and aside is not None:
            store.close()
            raise StoreUnavailable(
                f"no record of the sources survived (manifest.json, roots.json and chroma/ are unreadable); "
                f"the old store is in {aside} and a new empty one is in place: add your sources again "
                "with `strop knowledge add PATH…`"
            )
        existing = [r for r in roots if Path(r).exists()]
        if not existing:
            return IngestReport()
        return store.add(existing, progress, excluded=excluded)

    def _apply(self, manifest: Manifest, plan: Plan, progress: Progress | None) -> int:
        """Make the plan's changes; a store that fails a write is StoreUnavailable, not a crash.

        The manifest is written last, so a write that fails half-way changes nothing the
        user relies on: the sources stay recorded, and `rebuild` re-ingests them.
        """
        try:
            return self._apply_fresh(manifest, plan, progress)
        except KnowledgeError:
            raise
        except Exception as error:  # chromadb raises many types (InternalError, sqlite3) for a damaged folder
            raise StoreUnavailable(
                f"the knowledge store at {self.root} failed a write ({type(error).__name__}: "
                f"{str(error)[:200]}); its recorded sources are kept; {REBUILD_HINT}"
            ) from None
        finally:
            self.close()  # persist Chroma's index for readers in other processes, and drop our view

    def _apply_fresh(self, manifest: Manifest, plan: Plan, progress: Progress | None) -> int:
        self.close()  # another process may have written since we opened: start from the files
        collection = self._open_collection()
        stale: list[str] = []
        for source in set(plan.removed) | set(plan.replaced):
            entry = manifest.sources.pop(source, None)
            if entry:
                stale += list(entry.get("chunk_ids", []))  # type: ignore[arg-type]
        batch: list[tuple[str, str, Chunk]] = []
        total = sum(len(chunks) for _, _, chunks in plan.files)
        done = embedded = 0
        if progress:
            progress(0, total)
        for source, digest, chunks in plan.files:
            ids = [_chunk_id(source, digest, i) for i in range(len(chunks))]
            types = sorted({c.type.value for c in chunks})
            manifest.sources[source] = {
                "hash": digest,
                "chunk_ids": ids,
                "types": types,
                "root": _root_of(source, manifest),
            }
            batch += [(i, source, c) for i, c in zip(ids, chunks, strict=True)]
            while len(batch) >= EMBED_BATCH:
                embedded += self._embed_and_store(collection, batch[:EMBED_BATCH])
                done += EMBED_BATCH
                batch = batch[EMBED_BATCH:]
                if progress:
                    progress(done, total)
        if batch:
            embedded += self._embed_and_store(collection, batch)
            if progress:
                progress(total, total)
        keep = {i for entry in manifest.sources.values() for i in entry["chunk_ids"]}  # type: ignore[attr-defined]
        stale = [i for i in stale if i not in keep]
        if stale:
            self._delete(collection, stale)
        if collection.count() != len(keep):  # type: ignore[attr-defined]
            self._sweep(collection, keep)
        manifest.generation += 1
        self._rebuild_lexical(collection, manifest)
        manifest.write(self._manifest_path)
        roots_tmp = self.root / "roots.json.tmp"
        roots_tmp.write_text(json.dumps({"roots": manifest.roots, "excluded": manifest.excluded}))
        os.replace(roots_tmp, self.root / "roots.json")
        return embedded

    def _embed_and_store(self, collection: object, batch: list[tuple[str, str, Chunk]]) -> int:
        """Embed and store a batch of (id, source, chunk); returns how many chunks it embedded.

        A chunk already stored under its id with the same text and metadata is kept as it is:
        ids derive from the file's path and hash, so such a vector is one an interrupted write
        (Ctrl-C, a kill) stored for this very file, and running the same `add` again resumes
        where that one stopped instead of embedding everything again.
        """
        metadatas = [_metadata(source, chunk) for _, source, chunk in batch]
        stored = collection.get(ids=[i for i, _, _ in batch], include=["documents", "metadatas"])  # type: ignore[attr-defined]
        have = dict(
            zip(stored["ids"], zip(stored["documents"], stored["metadatas"], strict=True), strict=True)
        )
        todo = [n for n, (i, _, c) in enumerate(batch) if have.get(i) != (c.text, metadatas[n])]
        if not todo:
            return 0
        collection.upsert(  # type: ignore[attr-defined]
            ids=[batch[n][0] for n in todo],
            embeddings=self.embedder.embed([batch[n][2].embedding_text() for n in todo]),
            documents=[batch[n][2].text for n in todo],
            metadatas=[metadatas[n] for n in todo],
        )
        return len(todo)

    @staticmethod
    def _delete(collection: object, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), 5000):
            collection.delete(ids=list(ids[start : start + 5000]))  # type: ignore[attr-defined]

    def _sweep(self, collection: object, keep: set[str]) -> None:
        """Delete vectors no manifest entry names (left by an interrupted write)."""
        present = collection.get(include=[])["ids"]  # type: ignore[attr-defined]
        orphans = [i for i in present if i not in keep]
        if orphans:
            self._delete(collection, orphans)

    def _rebuild_lexical(self, collection: object, manifest: Manifest) -> None:
        ids: list[str] = []
        texts: list[str] = []
        types: list[str] = []
        got = collection.get(include=["documents", "metadatas"])  # type: ignore[attr-defined]
        for i, text, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
            ids.append(i)
            texts.append(f"{meta.get('title', '')}\n{text}")
            types.append(str(meta.get("type", "")))
        index = LexicalIndex.build(ids, texts, types, manifest.generation)
        index.save(self.root / "lexical")
        self._lexical, self._lexical_stamp = index, self._stamp()

    # ----------------------------------------------------------------- reading

    def _stamp(self) -> str | None:
        current = LexicalIndex.current(self.root / "lexical")
        return current.name if current else None

    def _lexical_index(self) -> LexicalIndex:
        stamp = self._stamp()
        if self._lexical is None or stamp != self._lexical_stamp:
            for attempt in range(3):  # a writer may retire the generation we were about to read
                try:
                    self._lexical = LexicalIndex.load(self.root / "lexical")
                    break
                except (OSError, ValueError, KeyError) as error:
                    if attempt == 2:
                        raise StoreUnavailable(
                            f"the lexical index of the knowledge store at {self.root} is unreadable "
                            f"({error}); {REBUILD_HINT}"
                        ) from None
                    stamp = self._stamp()
            self._lexical_stamp = stamp
            if self._lexical.generation == 0 and self.manifest().generation > 0:  # type: ignore[union-attr]
                raise StoreUnavailable(
                    f"the lexical index of the knowledge store at {self.root} is missing; {REBUILD_HINT}"
                )
        return self._lexical  # type: ignore[return-value]

    def search(
        self, query: str, k: int = 5, types: Sequence[str] | None = None, depth: int = 30
    ) -> list[Hit]:
        """The k best chunks for `query`: top-`depth` candidates of dense and BM25 retrieval, fused.

        Each candidate gets both its cosine and its BM25 score; see `fusion.convex_fusion`.
        Asked for more than `depth` hits, each retriever goes k deep, so `--k 100` gives 100.
        """
        depth = max(depth, k)
        dense = self._committed_dense(query, depth, types)
        lexical_all = self._lexical_index().scores(query, types)
        lexical_top = sorted(lexical_all, key=lambda i: -lexical_all[i])[:depth]
        candidates = list(dict.fromkeys([*dense, *lexical_top]))
        missing = [i for i in candidates if i not in dense]
        if missing:
            dense |= self._cosines(query, missing)
        fused = convex_fusion(candidates, dense, lexical_all)
        dense_order = sorted(dense, key=lambda i: -dense[i])
        return _distinct(self._hits(fused, dense_order, lexical_top))[:k]

    def _query_vector(self, query: str) -> np.ndarray:
        if self._last_query is None or self._last_query[0] != query:
            self._last_query = (query, self.embedder.embed([query])[0])
        return self._last_query[1]

    def _read(self, operation: Callable[[Any], T]) -> T:
        """Run a read on the collection; when Chroma's in-process view went stale under a writer
        in another process (it raises InternalError: "Nothing found on disk", "Error finding id"),
        reopen the client and retry, then give up with StoreUnavailable."""
        for attempt in range(READ_RETRIES):
            try:
                return operation(self._open_collection())
            except StoreUnavailable:
                raise
            except Exception as error:
                self.close()
                if attempt == READ_RETRIES - 1:
                    raise StoreUnavailable(
                        f"the knowledge store at {self.root} failed a read ({type(error).__name__}: "
                        f"{str(error)[:200]}); {REBUILD_HINT}"
                    ) from None
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def _dense_scores(self, query: str, k: int, types: Sequence[str] | None) -> dict[str, float]:
        if not query.strip():
            return {}
        where = {"type": {"$in": list(types)}} if types else None
        vector = self._query_vector(query)[None, :]

        def run(collection: Any) -> dict[str, float]:
            count = collection.count()
            if not count:
                return {}
            result = collection.query(
                query_embeddings=vector, n_results=min(k, count), where=where, include=["distances"]
            )
            return {i: 1.0 - float(d) for i, d in zip(result["ids"][0], result["distances"][0], strict=True)}

        return self._read(run)

    def _committed_dense(self, query: str, k: int, types: Sequence[str] | None) -> dict[str, float]:
        """The k best committed chunks by cosine, best first.

        A write stores vectors before it commits them (lexical index, then manifest), so a
        writer killed half-way, or one still running in another process, leaves vectors that
        no manifest names; they would put files in the results that `list` does not show. The
        lexical index holds exactly the committed ids (each write rebuilds it from Chroma after
        sweeping), so vectors outside it are passed over, fetching deeper while they crowd the top.
        """
        known = self._lexical_index().ids_set
        fetch = k
        while True:
            scores = self._dense_scores(query, fetch, types)
            kept = {i: v for i, v in scores.items() if i in known}
            if len(kept) >= k or len(scores) < fetch or fetch >= k * MAX_DENSE_WIDENING:
                return dict(sorted(kept.items(), key=lambda pair: -pair[1])[:k])
            fetch *= 4

    def _cosines(self, query: str, ids: Sequence[str]) -> dict[str, float]:
        got = self._read(lambda c: c.get(ids=list(ids), include=["embeddings"]))
        vectors = np.asarray(got["embeddings"], dtype=np.float32)
        if not len(vectors):
            return {}
        sims = vectors @ self._query_vector(query)
        return {i: float(s) for i, s in zip(got["ids"], sims, strict=True)}

    def search_dense(self, query: str, k: int, types: Sequence[str] | None = None) -> list[str]:
        """Chunk ids by cosine similarity of the query's vector (for benchmarks and diagnostics)."""
        scores = self._committed_dense(query, k, types)
        return sorted(scores, key=lambda i: -scores[i])

    def search_lexical(self, query: str, k: int, types: Sequence[str] | None = None) -> list[str]:
        """Chunk ids by BM25 (for benchmarks and diagnostics)."""
        return [i for i, _ in self._lexical_index().search(query, k, types)]

    def hits_for(self, ids: Sequence[str]) -> list[Hit]:
        """Hits (score 0) for chunk ids, in order; ids no longer stored are left out."""
        return self._hits([(i, 0.0) for i in ids], [], [])

    def _hits(self, fused: list[tuple[str, float]], dense: list[str], lexical: list[str]) -> list[Hit]:
        if not fused:
            return []
        ids = [i for i, _ in fused]
        got = self._read(lambda c: c.get(ids=ids, include=["documents", "metadatas"]))
        by_id = {i: (d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)}
        dense_rank = {i: r for r, i in enumerate(dense, start=1)}
        lexical_rank = {i: r for r, i in enumerate(lexical, start=1)}
        hits = []
        for chunk_id, score in fused:
            if chunk_id not in by_id:
                continue  # removed by a writer between the two reads
            text, meta = by_id[chunk_id]
            hits.append(
                Hit(
                    source=str(meta["source"]),
                    location=str(meta["location"]),
                    type=str(meta["type"]),
                    score=score,
                    text=text,
                    title=str(meta.get("title", "")),
                    chunk_id=chunk_id,
                    dense_rank=dense_rank.get(chunk_id),
                    lexical_rank=lexical_rank.get(chunk_id),
                    links=tuple(json.loads(str(meta.get("links", "[]")))),
                )
            )
        return hits

    def list_sources(self) -> list[SourceInfo]:
        manifest = self.manifest()
        return [
            SourceInfo(
                source=s,
                root=str(e.get("root", "")),
                chunks=len(e.get("chunk_ids", [])),  # type: ignore[arg-type]
                hash=str(e.get("hash", "")),
                types=tuple(e.get("types", [])),  # type: ignore[arg-type]
            )
            for s, e in sorted(manifest.sources.items())
        ]

    def roots(self) -> list[str]:
        return list(self.manifest().roots)

    def count(self) -> int:
        return int(self._read(lambda c: c.count()))


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


def _distinct(hits: list[Hit]) -> list[Hit]:
    """Hits with the text of a better one left out: copies of a file (a vendored package, a
    backup, docs in two places) would otherwise fill the results, and the prompt, with one
    passage several times."""
    seen: set[str] = set()
    kept = []
    for hit in hits:
        text = " ".join(hit.text.split())
        if text not in seen:
            seen.add(text)
            kept.append(hit)
    return kept


def _recorded_roots(root: Path) -> tuple[list[str], list[str]] | None:
    """The roots and exclusions a store recorded (roots.json, else manifest.json); None when neither reads."""
    for name in ("roots.json", "manifest.json"):
        try:
            data = json.loads((root / name).read_text())
            roots = [str(r) for r in (data["roots"] if isinstance(data, dict) else data)]  # a list: older
            excluded = [str(e) for e in data.get("excluded", [])] if isinstance(data, dict) else []
            return roots, excluded
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
    return None


def _chroma_sources(chroma: Path) -> list[str]:
    """The source files named in Chroma's own metadata: the last record of what was ingested
    when both manifest.json and roots.json are lost. Read with sqlite directly (read-only), so
    damaged vector files do not stop it; [] when that database is unreadable too."""
    import sqlite3

    database = chroma / "chroma.sqlite3"
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


def _root_of(source: str, manifest: Manifest) -> str:
    matches = [r for r in manifest.roots if under(source, r)]
    return max(matches, key=len) if matches else source


__all__ = ["IngestReport", "KnowledgeStore", "Progress", "SourceInfo"]
