"""Ingesting a task's `[knowledge] sources` within the run's time, off the loop's thread.

`open_memory` once called `KnowledgeStore.add(sources)` on the loop's thread, before the
first experiment, where no deadline reaches: with a 979-chunk source `strop run --time 1m`
ended after 143.5 s of its 60 s, with no experiment run (the scale pass of a digits task).
Ingestion needs the embedding model, so it is decided like the model's warm-up
(`KnowledgeMemory.warm_up`): not at all for a run shorter than `WARM_UP_MIN_BUDGET`, else
on the warm-up thread once the model is loaded, and it stops `MARGIN` seconds before the
run's deadline, or when the run ends (`KnowledgeMemory.close`), whichever comes first.

What can stop it is the embedder: `SharedEmbedder` embeds an ingestion's texts in slices
of `SLICE` and raises `IngestionStopped` between two slices once told to stop. The store
keeps the batches it had stored (their ids derive from each file's path and hash), and
the next `add` of the same sources, the next run's or `strop knowledge add`'s, resumes
from them instead of embedding again; only the batch in flight is lost. The store closes
Chroma on the way out, so a stop is a clean end, never the half-written files of a
process killed mid-write.

The loop's own calls (lessons learned and recalled) use the same model while the source
is ingested: the shared embedder runs one call at a time, as a fast tokenizer used by two
threads at once fails ("Already borrowed"), and a recall waits for one slice at most.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from knowledge.embedder import Embedder
from knowledge.errors import KnowledgeError

SLICE = 32
"""Texts an ingestion embeds between two looks at its stop (≈0.2-2 s on 2 shared cores)."""
MARGIN = 15.0
"""Seconds before the run's deadline at which an ingestion stops: the slice in flight, the
store's closing, and the run's own ending (its final phase) fit in it."""


class IngestionStopped(KnowledgeError):
    """An ingestion stopped between two slices (the run's time was running out, or it ended)."""


class SharedEmbedder:
    """An embedder that two threads share one call at a time, and an ingestion can stop."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self._lock = threading.Lock()
        self._stops: dict[int, Callable[[], bool]] = {}

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    def stop_when(self, stop: Callable[[], bool] | None) -> None:
        """Make this thread's calls stop between slices once `stop()` is true (None: never)."""
        if stop is None:
            self._stops.pop(threading.get_ident(), None)
        else:
            self._stops[threading.get_ident()] = stop

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        stop = self._stops.get(threading.get_ident())
        if stop is None:
            with self._lock:
                return self.inner.embed(texts)
        parts = []
        for start in range(0, len(texts), SLICE):
            if stop():
                raise IngestionStopped("stopped before the run's deadline")
            with self._lock:
                parts.append(self.inner.embed(texts[start : start + SLICE]))
        return np.concatenate(parts) if parts else np.zeros((0, self.dim), dtype=np.float32)


def ingest(store: Any, paths: Sequence[str], label: str, stop: Callable[[], bool]) -> str:
    """Add `paths` to `store` until `stop()`; the one note that says how it went.

    Raises what `store.add` raises (KnowledgeError, OSError) but `IngestionStopped`.
    """
    embedder = store.embedder
    if not isinstance(embedder, SharedEmbedder):
        embedder = store.embedder = SharedEmbedder(embedder)
    stored = [0, 0]  # chunks stored so far, chunks to store

    def progress(done: int, total: int) -> None:
        stored[:] = [done, total]

    embedder.stop_when(stop)
    try:
        report = store.add(paths, progress=progress)
    except IngestionStopped:
        done, total = stored
        kept = f"{done} of {total} chunks stored, kept: " if done else ""
        return (
            f"knowledge: ingesting {label} stopped before the run's end ({kept}the next run with "
            "more time, or `strop knowledge add`, continues it); no passages from it this run"
        )
    finally:
        embedder.stop_when(None)
    return f"knowledge: ingested {label} ({_ingested(report)})"


def deadline_stop(deadline: float | None, ended: threading.Event) -> Callable[[], bool]:
    """True from `MARGIN` seconds before `deadline` (`time.monotonic()`; None: no deadline), or once the run `ended`."""
    cutoff = None if deadline is None else deadline - MARGIN
    return lambda: ended.is_set() or (cutoff is not None and time.monotonic() >= cutoff)


def _ingested(report: Any) -> str:
    data = report.as_dict() if hasattr(report, "as_dict") else {}
    return ", ".join(f"{k} {v}" for k, v in data.items() if isinstance(v, int)) or "done"
