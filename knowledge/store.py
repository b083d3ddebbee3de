"""The knowledge store: typed chunks in Chroma plus a BM25 index, fused at search time.

Layout of a store folder::

    manifest.json   schema, embedder, generation, roots, exclusions, and per source file: hash + chunk ids
    roots.json      the roots and exclusions alone, so `rebuild` works even when manifest.json is lost;
                    written when a write starts, so it names the roots of an add that never committed
    writing.json    present while a write runs (the same roots): found with no writer, a write was killed
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

A write killed hard (SIGKILL, the OOM killer, a power cut) can leave Chroma's index files
half-written, and Chroma's native code then crashes the process that reads them (a
segfault in `count()`, no Python error to catch). So a write marks the store
(`writing.json`) until Chroma is closed; opening a store that holds the mark while no writer
does first reads Chroma in a child process, and a crash there becomes one line naming
`rebuild`, which moves the damaged files aside and re-adds the roots recorded when the
killed write started. A healthy store loses the mark and the next `add` resumes.

Incremental ingestion works per file: an unchanged hash is skipped without
reading Chroma or the model; a changed file's chunks are replaced; files that
vanished from a root that is added again are removed. A path removed from inside
a root stays out (`Manifest.excluded`) when the root is added again or the store
rebuilt, until that path, or one inside it, is added by name.

This module keeps those rules in order and fuses the two retrievers; what a write will do is
gathered first, with no change made (`ingest_plan`), and Chroma is reached only through
`vectors.ChunkVectors`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from knowledge.embedder import Embedder, default_embedder
from knowledge.entry import Chunk, Hit, content_hash
from knowledge.errors import REBUILD_HINT, EntryNotFound, KnowledgeError, StoreBusy, StoreUnavailable
from knowledge.fusion import convex_fusion
from knowledge.ingest_plan import Plan, absolute, plan_path, refuse_url
from knowledge.lexical import LexicalIndex
from knowledge.lock import DEFAULT_TIMEOUT_S, writer_lock
from knowledge.manifest import IngestReport, Manifest, SourceInfo, under
from knowledge.vectors import ChunkVectors, holds_vectors, probe, recorded_sources

EMBED_BATCH = 256
EXACT_TOP_UP = 20_000  # the most chunks a short approximate answer is completed from, exactly
MAX_DENSE_WIDENING = 64  # how much deeper than asked a search looks past uncommitted vectors
WRITING = "writing.json"
STORE_FILES = ("manifest.json", "chroma", "lexical", "roots.json", WRITING)  # what `rebuild` moves aside
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
        self._vectors = ChunkVectors(root)
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
                    store._vectors.open()
                    store.close()
                    Manifest(store.embedder.name, store.embedder.dim).write(manifest_path)
        manifest = Manifest.read(manifest_path)
        if manifest.embedder != store.embedder.name:
            raise StoreUnavailable(
                f"the knowledge store at {root} was built with embedder {manifest.embedder!r}, "
                f"not {store.embedder.name!r}; {REBUILD_HINT}"
            )
        store._check_killed_write(manifest)
        store._vectors.open()
        return store

    def _check_killed_write(self, manifest: Manifest) -> None:
        """Raise StoreUnavailable when a killed write left Chroma's files so damaged that reading
        them crashes the process; see the module docstring.

        Suspect: the `writing.json` mark, or (from versions without it) a store that never
        committed a write but holds vectors. Only with no writer running (the writer lock is
        free): a running write holds the mark too. The lock is held during the probe, and a
        healthy store loses its mark, so the next reader does not probe again.
        """
        marked = (self.root / WRITING).exists()
        if not marked and not (manifest.generation == 0 and holds_vectors(self.root)):
            return
        try:
            with writer_lock(self.root, timeout=0):
                failure = probe(self.root)
                if failure is None:
                    (self.root / WRITING).unlink(missing_ok=True)
                    return
        except StoreBusy:
            return  # a write is running: its mark is live
        roots = _recorded_roots(self.root)
        named = roots[0] if roots and roots[0] else recorded_sources(self.root)
        raise StoreUnavailable(
            f"the knowledge store at {self.root} was damaged by a killed add ({failure}): "
            f"`strop knowledge rebuild` re-adds {_some(named)}"
        )

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

    def close(self) -> None:
        """Release Chroma's files (its client is shared per folder within a process, refcounted)."""
        self._vectors.close()

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
            roots, excluded = recorded or ([], [])
            roots = roots or recorded_sources(root)  # no roots: a first add killed by an older version
            if any((root / name).exists() for name in STORE_FILES):
                stamp, n = time.strftime("%Y%m%d-%H%M%S"), 0
                aside = root.with_name(f"{root.name}.broken-{stamp}")
                while aside.exists():  # a second rebuild within the same second
                    n += 1
                    aside = root.with_name(f"{root.name}.broken-{stamp}-{n}")
                aside.mkdir(parents=True)
                for name in STORE_FILES:
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
        user relies on: the sources stay recorded, and `rebuild` re-ingests them. The roots
        this write adds are recorded (roots.json) and the store marked as being written
        (writing.json) before Chroma is touched; the mark goes once Chroma is closed, which a
        Python exception or Ctrl-C reaches too: it stays only when the process was killed.
        """
        self._record_roots(manifest)
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
            (self.root / WRITING).unlink(missing_ok=True)

    def _record_roots(self, manifest: Manifest) -> None:
        """Write roots.json and the writing.json mark (each atomically), naming `manifest`'s roots."""
        data = json.dumps({"roots": manifest.roots, "excluded": manifest.excluded})
        for name in (WRITING, "roots.json"):
            tmp = self.root / f"{name}.tmp"
            tmp.write_text(data)
            os.replace(tmp, self.root / name)

    def _apply_fresh(self, manifest: Manifest, plan: Plan, progress: Progress | None) -> int:
        self.close()  # another process may have written since we opened: start from the files
        self._vectors.open()
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
                embedded += self._vectors.store(batch[:EMBED_BATCH], self.embedder)
                done += EMBED_BATCH
                batch = batch[EMBED_BATCH:]
                if progress:
                    progress(done, total)
        if batch:
            embedded += self._vectors.store(batch, self.embedder)
            if progress:
                progress(total, total)
        keep = {i for entry in manifest.sources.values() for i in entry["chunk_ids"]}  # type: ignore[attr-defined]
        stale = [i for i in stale if i not in keep]
        if stale:
            self._vectors.delete(stale)
        self._vectors.sweep(keep)
        manifest.generation += 1
        self._rebuild_lexical(manifest)
        manifest.write(self._manifest_path)
        return embedded

    def _rebuild_lexical(self, manifest: Manifest) -> None:
        stored = self._vectors.everything()
        ids = [i for i, _, _, _ in stored]
        texts = [f"{title}\n{text}" for _, title, text, _ in stored]
        types = [kind for _, _, _, kind in stored]
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

    def _dense_scores(self, query: str, k: int, types: Sequence[str] | None) -> dict[str, float]:
        if not query.strip():
            return {}
        return self._vectors.nearest(self._query_vector(query), k, types)

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
            if len(scores) < fetch and len(kept) < k:
                kept |= self._exact_rest(query, kept, types)
            if len(kept) >= k or len(scores) < fetch or fetch >= k * MAX_DENSE_WIDENING:
                return dict(sorted(kept.items(), key=lambda pair: -pair[1])[:k])
            fetch *= 4

    def _exact_rest(
        self, query: str, kept: dict[str, float], types: Sequence[str] | None
    ) -> dict[str, float]:
        """Exact cosines of the committed chunks (of `types`) the approximate search left out.

        Chroma's HNSW index may answer fewer than the neighbours asked for while more exist (its
        graph is built by threads, so which ones varies run to run): asked for 45 of 60 chunks it
        gave 40 one time in six. Done only on such a short answer, and up to `EXACT_TOP_UP` chunks.
        """
        index = self._lexical_index()
        wanted = set(types) if types else None
        rest = [
            i
            for i, t in zip(index.ids, index.types, strict=True)
            if i not in kept and (wanted is None or t in wanted)
        ]
        return self._cosines(query, rest) if 0 < len(rest) <= EXACT_TOP_UP else {}

    def _cosines(self, query: str, ids: Sequence[str]) -> dict[str, float]:
        return self._vectors.cosines(self._query_vector(query), ids)

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
        stored = self._vectors.hits([i for i, _ in fused])
        dense_rank = {i: r for r, i in enumerate(dense, start=1)}
        lexical_rank = {i: r for r, i in enumerate(lexical, start=1)}
        return [
            dataclasses.replace(
                stored[i], score=score, dense_rank=dense_rank.get(i), lexical_rank=lexical_rank.get(i)
            )
            for i, score in fused
            if i in stored  # not when removed by a writer between the two reads
        ]

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
        return self._vectors.count()


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


def _some(paths: Sequence[str], shown: int = 3) -> str:
    """The first `shown` paths, and how many more: a killed add may have named a thousand files."""
    if not paths:
        return "nothing (no record of its sources survived): add them again with `strop knowledge add PATH…`"
    more = f" and {len(paths) - shown} more" if len(paths) > shown else ""
    return ", ".join(paths[:shown]) + more


def _root_of(source: str, manifest: Manifest) -> str:
    matches = [r for r in manifest.roots if under(source, r)]
    return max(matches, key=len) if matches else source


__all__ = ["IngestReport", "KnowledgeStore", "Progress", "SourceInfo"]
