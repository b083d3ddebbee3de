"""Fusing dense and lexical retrieval into one ranking.

The product uses a convex combination of normalised scores (Bruch, Gai & Ingber,
"An Analysis of Fusion Functions for Hybrid Retrieval", ACM TOIS 2023): every
candidate from either list gets *both* scores (its cosine to the query and its
BM25 score), each is z-normalised over the candidate set, and the fused score
is α·dense + (1 − α)·lexical. Unlike reciprocal rank fusion, a chunk that one
retriever ranks 4th and the other does not list still carries its other score,
so agreement counts and a confident exact match (an error message) is not
drowned by the other list's head. α = 0.65 leans to the dense side; it sits in
the middle of the plateau (0.6–0.7) measured on the labelled set in
benchmarks/retrieval.py, which also reports plain RRF for comparison. Written
here because it is a few lines of numpy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

ALPHA = 0.65
RRF_K = 60


def _z(values: np.ndarray) -> np.ndarray:
    spread = float(values.std())
    return (values - values.mean()) / spread if spread > 1e-12 else np.zeros_like(values)


def convex_fusion(
    candidates: Sequence[str],
    dense: Mapping[str, float],
    lexical: Mapping[str, float],
    alpha: float = ALPHA,
) -> list[tuple[str, float]]:
    """Candidates by α·z(dense) + (1−α)·z(lexical), best first; a missing score counts as 0 before z."""
    if not candidates:
        return []
    d = np.array([dense.get(c, 0.0) for c in candidates], dtype=np.float64)
    lx = np.array([lexical.get(c, 0.0) for c in candidates], dtype=np.float64)
    fused = alpha * _z(d) + (1 - alpha) * _z(lx)
    order = np.argsort(-fused, kind="stable")
    return [(candidates[i], float(fused[i])) for i in order]


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: int = RRF_K) -> list[tuple[str, float]]:
    """Reciprocal rank fusion (Cormack et al., 2009), kept as the benchmark's reference."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])
