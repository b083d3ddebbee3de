"""Fusing ranked lists: reciprocal rank fusion (Cormack et al., 2009).

score(d) = Σ_lists 1 / (k + rank_list(d)), ranks from 1. It needs no score
calibration between cosine similarity and BM25, which live on unrelated
scales; k = 60 is the published default and damps the head of each list.
Twelve lines, so written here rather than pulled from a library.
"""

from __future__ import annotations

from collections.abc import Sequence

RRF_K = 60


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: int = RRF_K) -> list[tuple[str, float]]:
    """Ids ordered by fused score, best first; ties keep first-seen order."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])
