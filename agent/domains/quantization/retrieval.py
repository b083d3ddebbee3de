"""Quantizing the knowledge store's embedder: the `QuantDomain` of MiniLM, scored by retrieval.

The same genome, operators, Z3 check, refinement and baselines as the digits models;
what changes is what a configuration is scored on (docpairs.py):

* selection (what the engine, refinement and every baseline see): recall@5 of the
  selection queries over the selection passages, plus `COSINE_WEIGHT` × the mean
  cosine between the quantized and the fp32 embeddings of those texts. With 32
  queries recall moves in steps of 3.1 points; the cosine is smooth and tracks the
  held-out recall better than a step function of 32 queries does, so it weighs in
  (a 0.01 drop in cosine costs a third of one query);
* calibration (GPTQ's inputs, HAWQ's Gauss–Newton traces): the selection texts too;
* report (`test_hits`, once per chosen configuration): per held-out query whether its
  passage is in the top 5, and the held-out cosine agreement with fp32 (`test_metrics`).

Evaluations are one forward pass of 64 short texts (~1,400 word pieces, ~1–3 s on a
shared core); the word table holds only the rows those texts use (minilm.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from agent.domains.quantization.constraints import build_space
from agent.domains.quantization.docpairs import PairSets, cosine_agreement, pair_sets, recall_hits
from agent.domains.quantization.domain import QuantDomain
from agent.domains.quantization.formats import INT_FORMATS, MIN_BITS, Genome, LayerGene, Rounding
from agent.domains.quantization.minilm import HIDDEN, Encoded, MiniLM, load_minilm, tokenize
from agent.domains.quantization.profiles import Profile
from agent.domains.quantization.quantizers import quantize_rtn
from agent.domains.quantization.rounding import inverse_hessian_factor, quantize_gptq_many
from agent.domains.quantization.size import ModelSize, model_size
from agent.evolution.domain import Fitness

MAX_TOKENS = 32  # the knowledge store's setting (knowledge/embedder.py)
COSINE_WEIGHT = 1.0
MINILM_GROUPS = (64, 128)
MINILM_NAMES = ("minilm", "all-minilm-l6-v2")
CALIBRATION = "docpairs selection set (docpairs.py), max 32 word pieces"


@dataclass(frozen=True)
class TextSet:
    queries: Encoded
    passages: Encoded
    fp32_queries: np.ndarray
    fp32_passages: np.ndarray

    def fp32_hits(self) -> np.ndarray:
        return recall_hits(self.fp32_queries, self.fp32_passages)


@dataclass(frozen=True)
class RetrievalData:
    """What a MiniLM search reads: the selection and held-out sets, encoded for the restricted model."""

    selection: TextSet
    heldout: TextSet
    pairs: PairSets


def prepare(sets: PairSets | None = None) -> tuple[MiniLM, RetrievalData]:
    """The model restricted to the word pieces of both sets, and the sets with their fp32 embeddings."""
    sets = sets or pair_sets()
    full = load_minilm()
    encoded = {}
    for name, pairs in (("selection", sets.selection), ("heldout", sets.heldout)):
        encoded[name] = (
            tokenize([p.query for p in pairs], MAX_TOKENS, None),
            tokenize([p.passage for p in pairs], MAX_TOKENS, None),
        )
    used = np.concatenate([ids.ravel() for q, p in encoded.values() for ids, _ in (q, p)])
    model = full.restricted(used)
    texts = {}
    for name, (q, p) in encoded.items():
        queries, passages = model.encode_ids(*q), model.encode_ids(*p)
        texts[name] = TextSet(queries, passages, model.forward(queries)[0], model.forward(passages)[0])
    return model, RetrievalData(texts["selection"], texts["heldout"], sets)


def captured_inputs(model: MiniLM, queries: Encoded, passages: Encoded) -> list[np.ndarray]:
    """Each matrix's inputs on the calibration texts; the word table's is the identity (GPTQ = RTN there)."""
    _, q = model.forward(queries, capture=True)
    _, p = model.forward(passages, capture=True)
    seen = [np.eye(HIDDEN, dtype=np.float32)]
    return seen + [np.concatenate([a, b]) for a, b in zip(q[1:], p[1:], strict=True)]


def learned_weights(w: np.ndarray, gene: LayerGene, index: int, factor: np.ndarray) -> np.ndarray:
    """GPTQ with lazy block updates (rounding.quantize_gptq_many: far faster on 1536-wide layers).

    The word table (index 0) has the identity as input, where GPTQ equals round to nearest.
    """
    if index == 0:
        return quantize_rtn(w, gene)
    return quantize_gptq_many(w, [gene], factor)[0]


def quantized_minilm(genome: Genome) -> MiniLM:
    """The whole model (every vocabulary row) with its matrices on `genome`'s grids.

    GPTQ layers are calibrated on the selection texts, exactly as in the search, so the
    embeddings equal the ones the search scored (a test checks it).
    """
    full = load_minilm()
    sel = pair_sets().selection
    learned = any(g.rounding is Rounding.GPTQ for g in genome)
    seen: list[np.ndarray] = []
    if learned:
        queries = full.encode_ids(*tokenize([p.query for p in sel], MAX_TOKENS))
        passages = full.encode_ids(*tokenize([p.passage for p in sel], MAX_TOKENS))
        seen = captured_inputs(full, queries, passages)
    matrices = []
    for i, (w, gene) in enumerate(zip(full.matrices(), genome, strict=True)):
        if gene.rounding is Rounding.GPTQ and i:
            q = learned_weights(w, gene, i, inverse_hessian_factor(seen[i]))
        else:
            q = quantize_rtn(w, gene)
        matrices.append(q.astype(np.float32))
    return replace(full, word=matrices[0], linear=tuple(matrices[1:]))


def build_minilm_domain(
    profile: Profile, budget_bits: float, groups: tuple[int, ...], gptq: bool = True
) -> RetrievalDomain:
    model, data = prepare()
    space = replace(build_space(model.shapes(), profile, budget_bits, groups), allow_gptq=gptq)
    return RetrievalDomain(model, data, space)  # type: ignore[arg-type]


class RetrievalDomain(QuantDomain):
    """`QuantDomain` whose network is MiniLM and whose split is `RetrievalData` (see the module docstring)."""

    cache_entries: ClassVar[int] = 300  # MiniLM layers are 0.6–2.4 MB each: ≤ ~0.7 GB

    @property
    def data(self) -> RetrievalData:
        return self.split  # type: ignore[return-value]

    def calibration_inputs(self) -> list[np.ndarray]:
        if "seen" not in self._local:
            sel = self.data.selection
            self._local["seen"] = captured_inputs(self.network, sel.queries, sel.passages)  # type: ignore[arg-type]
        return self._local["seen"]

    def learned(self, index: int, gene: LayerGene) -> np.ndarray:
        return learned_weights(self._matrices()[index], gene, index, self._factors()[index])

    def layer_traces(self, seed: int) -> list[float]:
        return self.network.gauss_newton_traces(self.data.selection.passages, seed)  # type: ignore[attr-defined]

    def size(self, genome: Genome) -> ModelSize:
        return model_size(genome, self.network.shapes(), self.network.bias_count())

    def _embed(self, texts: TextSet, genome: Genome | None) -> tuple[np.ndarray, np.ndarray]:
        if genome is None:
            return texts.fp32_queries, texts.fp32_passages
        matrices = self.matrices(genome)
        return (
            self.network.forward(texts.queries, matrices)[0],
            self.network.forward(texts.passages, matrices)[0],
        )

    @staticmethod
    def _agreement(texts: TextSet, q: np.ndarray, p: np.ndarray) -> float:
        return cosine_agreement(
            np.concatenate([q, p]), np.concatenate([texts.fp32_queries, texts.fp32_passages])
        )

    def evaluate(self, genome: Genome) -> Fitness:
        sel = self.data.selection
        q, p = self._embed(sel, genome)
        hits = recall_hits(q, p)
        recall, cosine = float(hits.mean()), self._agreement(sel, q, p)
        size = self.size(genome)
        exotic = sum(g.format not in INT_FORMATS for g in genome)
        signature = hashlib.sha256(
            hits.tobytes() + np.round(q, 3).tobytes() + repr(size.weight_bits).encode()
        ).digest()
        return Fitness(
            objectives=(1.0 - recall + COSINE_WEIGHT * (1.0 - cosine), size.bytes),
            descriptor=(int((size.avg_bits - MIN_BITS) * 4), exotic),
            signature=signature,
            info={"val_acc": recall, "val_cosine": cosine, "avg_bits": size.avg_bits, "bytes": size.bytes},
        )

    def tie_width(self) -> float:
        """One selection query: recall on 32 queries moves in 3.1-point steps, inside its own noise."""
        return 1.0 / len(self.data.selection.fp32_queries)

    def selection_ceiling(self) -> float | None:
        """None: the near-tie band hangs from the best selection recall (as measured in the README).

        The digits domain caps it at fp32's own score; MiniLM's configs rarely pass fp32's
        recall on the selection set, and its rule was measured as it stands.
        """
        return None

    def fp32_divergence(self, genome: Genome, fitness: Fitness | None = None) -> float | None:
        """1 − the selection texts' cosine to fp32 (from `fitness` when given): smooth where recall steps.

        Among configs within one selection query of the best recall, the final pick takes the
        one closest to fp32 (search.chosen_genome), as the module docstring argues the cosine
        tracks held-out recall better than 32 queries do.
        """
        info = (fitness or self.evaluate(genome)).info
        return 1.0 - float(info["val_cosine"])

    def fp32_val(self) -> float:
        return float(self.data.selection.fp32_hits().mean())

    def test_hits(self, genome: Genome | None) -> np.ndarray:
        """Per held-out query, whether its passage is in the top 5: call once per chosen configuration."""
        q, p = self._embed(self.data.heldout, genome)
        self._local["last_test"] = (genome, self._agreement(self.data.heldout, q, p))
        return recall_hits(q, p)

    def test_metrics(self, genome: Genome | None) -> dict[str, Any]:
        """Held-out cosine agreement with fp32 of the configuration `test_hits` last scored."""
        last = self._local.get("last_test")
        if last is None or last[0] != genome:
            self.test_hits(genome)
            last = self._local["last_test"]
        return {"test_cosine": round(float(last[1]), 6)}
