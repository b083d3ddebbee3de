"""Quantization configuration search: per-layer formats under a size budget, checked by Z3.

Modules (one concept each): formats (the formats and a layer's gene), quantizers
(NumPy fake quantization), rounding (GPTQ), size (bits incl. side information),
network / models / datasets / training (what is quantized, on what data),
profiles (hardware targets), accumulator (overflow proofs), constraints (the Z3
model: check and repair), domain (the engine's `Domain`), sensitivity (HAWQ-V2
traces), refine (budget-filling hill climb after the engine), baselines (uniform,
greedy, HAWQ-V3, random, TPE, all with the search's menu), timeplan (how `--time` is
split between phases; phase events), intervals (95% intervals and paired margins),
search (one run, end to end); minilm (all-MiniLM-L6-v2 from the wheel as a quantizable
network), docpairs (offline query/passage sets from stdlib docstrings), retrieval (its domain,
scored by recall@5 and cosine agreement), embedder (a quantized MiniLM for the knowledge store). Heavy libraries (torch, optuna, pulp, z3, sklearn) load inside functions.
"""

from agent.domains.quantization.formats import Format, Genome, LayerGene, Rounding
from agent.domains.quantization.search import SearchReport, SearchRequest, run_search, write_outputs

__all__ = [
    "Format",
    "Genome",
    "LayerGene",
    "Rounding",
    "SearchReport",
    "SearchRequest",
    "run_search",
    "write_outputs",
]
