"""Lexical retrieval: BM25 over whole chunks, tuned for code and error messages.

Dense vectors see a chunk's head; BM25 sees all of it and matches exact
identifiers and error strings that embeddings blur. Scoring and the sparse
index are `bm25s`; the tokenizer is ours because code needs it: identifiers
are kept whole *and* split on `_` and camelCase (`median_abs_deviation` also
yields `median`, `abs`, `deviation`), words are lower-cased, English stop
words dropped and stemmed with PyStemmer (Snowball).

The index is rebuilt from all chunk texts on every write (a few seconds per
10,000 chunks) and saved as a new generation folder; a pointer file names the
current one and is replaced atomically, so a reader loads either the old or
the new index, never a mix.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_]*|\d+")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_STOP_WORDS = """a an and are as at be but by for from has have if in into is it its of on or such that the
their then there these they this to was were will with self none true false return def class import"""
_STOP = frozenset(_STOP_WORDS.split())


@functools.cache
def _stemmer() -> object:
    import Stemmer

    return Stemmer.Stemmer("english")


@functools.lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return _stemmer().stemWord(word)  # type: ignore[attr-defined]


def tokenize(text: str) -> list[str]:
    """Lower-cased, stemmed tokens; identifiers whole and in parts."""
    out: list[str] = []
    for word in _TOKEN.findall(text):
        parts = [p for piece in word.split("_") for p in _CAMEL.findall(piece)] if len(word) > 2 else [word]
        lowered = word.lower()
        if len(parts) > 1 and lowered not in _STOP:
            out.append(lowered)
        for part in parts:
            low = part.lower()
            if len(low) > 1 and low not in _STOP:
                out.append(_stem(low))
    return out


@dataclass
class LexicalIndex:
    """A BM25 index over chunk ids; `types[i]` is the entry type of `ids[i]`."""

    ids: list[str]
    types: list[str]
    generation: int
    _bm25: object | None = None

    @classmethod
    def build(
        cls, ids: Sequence[str], texts: Sequence[str], types: Sequence[str], generation: int
    ) -> LexicalIndex:
        import bm25s

        index = cls(list(ids), list(types), generation)
        if ids:
            retriever = bm25s.BM25()
            retriever.index([tokenize(t) or ["∅"] for t in texts], show_progress=False)
            index._bm25 = retriever
        return index

    def save(self, folder: Path) -> None:
        """Write `folder/gen-N/` then point `folder/current` at it, so readers never see half an index.

        The previous generation is kept for readers that are loading it; older ones are deleted.
        """
        target = folder / f"gen-{self.generation}"
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        if self._bm25 is not None:
            self._bm25.save(str(target / "bm25"), show_progress=False)  # type: ignore[attr-defined]
        meta = {"generation": self.generation, "ids": self.ids, "types": self.types}
        (target / "meta.json").write_text(json.dumps(meta))
        pointer = folder / "current.tmp"
        pointer.write_text(target.name)
        os.replace(pointer, folder / "current")
        for old in folder.glob("gen-*"):
            if old.name.split("-")[-1].isdigit() and int(old.name.split("-")[-1]) < self.generation - 1:
                shutil.rmtree(old, ignore_errors=True)

    @staticmethod
    def current(folder: Path) -> Path | None:
        """The folder of the current generation, or None when none was written."""
        try:
            return folder / (folder / "current").read_text().strip()
        except FileNotFoundError:
            return None

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        """Load the current generation (a folder written by `save`)."""
        import bm25s

        target = cls.current(folder)
        if target is None:
            return cls([], [], 0)
        meta = json.loads((target / "meta.json").read_text())
        index = cls(meta["ids"], meta["types"], int(meta["generation"]))
        if index.ids:
            index._bm25 = bm25s.BM25.load(str(target / "bm25"), show_progress=False)
        return index

    @functools.cached_property
    def ids_set(self) -> frozenset[str]:
        """The ids as a set: the chunks the last completed write committed."""
        return frozenset(self.ids)

    def scores(self, query: str, types: Sequence[str] | None = None) -> dict[str, float]:
        """BM25 score of every chunk with a positive score (restricted to some entry types)."""
        if self._bm25 is None or not self.ids:
            return {}
        tokens = tokenize(query)
        if not tokens:
            return {}
        mask = None
        if types:
            wanted = set(types)
            mask = np.fromiter((t in wanted for t in self.types), dtype=np.float32, count=len(self.types))
        values = self._bm25.get_scores(tokens, weight_mask=mask)  # type: ignore[attr-defined]
        positive = np.flatnonzero(values > 0)
        return {self.ids[int(i)]: float(values[i]) for i in positive}

    def search(self, query: str, k: int, types: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """Top-k (id, score) with a positive score, optionally restricted to some entry types."""
        ranked = sorted(self.scores(query, types).items(), key=lambda pair: -pair[1])
        return ranked[:k]
