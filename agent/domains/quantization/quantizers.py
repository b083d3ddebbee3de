"""Weight quantizers: a layer's (out, in) matrix under one `LayerGene`, vectorised in NumPy.

Every format is split in two steps so that learned rounding can reuse it:
`fit` computes the stored side information (scales, zero points) per group from
the float weights and expands it to one value per weight; `project` maps weights
to the nearest representable value given that side information, elementwise.
Round-to-nearest is `project(W, fit(W))`; GPTQ (rounding.py) projects one column
at a time and feeds the error forward. Groups run along the input dimension of
each output row (per-channel = one group per row), as in GPTQ/AWQ and the MX spec.

Stored scales are rounded to what their container holds (fp16, E8M0, E4M3) before
use, so the accuracy measured is the accuracy of the bytes counted in size.py.
Written by hand because no maintained NumPy library covers NUPES power grids,
MX/NV block scales and E4M3 together without a GPU stack.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agent.domains.quantization.formats import (
    PER_CHANNEL,
    Format,
    LayerGene,
    e2m1_grid,
    e4m3_grid,
    round_to_grid,
)

FP4_MAX = 6.0
FP8_MAX = 448.0
E2M1_EMAX = 2  # exponent of the largest E2M1 value (6 = 1.5 * 2^2)


@dataclass(frozen=True)
class SideInfo:
    """Per-weight expansion of the stored scales (and zero points for asymmetric int)."""

    scale: np.ndarray  # (out, in)
    zero: np.ndarray  # (out, in); zeros except for INT_ASYM


def group_size(gene: LayerGene, in_width: int) -> int:
    return in_width if gene.group == PER_CHANNEL else gene.group


def _grouped(w: np.ndarray, size: int) -> np.ndarray:
    out, width = w.shape
    if width % size:
        raise ValueError(f"group size {size} does not divide the layer's input width {width}")
    return w.reshape(out, width // size, size)


def _expand(per_group: np.ndarray, size: int) -> np.ndarray:
    return np.repeat(per_group, size, axis=1)


def _fp16(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float16).astype(np.float64)


def _safe(scale: np.ndarray) -> np.ndarray:
    return np.where(scale > 0, scale, 1.0)


def qmax_sym(bits: int) -> int:
    return 2 ** (bits - 1) - 1


def fit(w: np.ndarray, gene: LayerGene) -> SideInfo:
    """The side information stored for `w` under `gene`, one value per weight."""
    w = np.asarray(w, dtype=np.float64)
    size = group_size(gene, w.shape[1])
    g = _grouped(w, size)
    amax = np.abs(g).max(axis=2)
    zero = np.zeros_like(w)
    fmt = gene.format
    if fmt in (Format.INT_SYM, Format.POWER):
        scale = _safe(_fp16(amax))  # stored: fp16 range max; the step is derived from it
    elif fmt is Format.INT_ASYM:
        lo, hi = np.minimum(g.min(axis=2), 0.0), np.maximum(g.max(axis=2), 0.0)
        levels = 2**gene.bits - 1
        scale = _safe(_fp16((hi - lo) / levels))
        zero = _expand(np.clip(np.round(-lo / scale), 0, levels), size)
    elif fmt is Format.MXFP4:
        scale = mx_scale(amax)
    elif fmt is Format.NVFP4:
        tensor = max(float(np.abs(w).max()), 1e-30) / (FP4_MAX * FP8_MAX)
        scale = _safe(round_to_grid(amax / FP4_MAX / tensor, e4m3_grid())) * tensor
    elif fmt is Format.FP8:
        scale = _safe(_fp16(amax / FP8_MAX))
    else:  # pragma: no cover - exhaustive over Format
        raise ValueError(fmt)
    return SideInfo(_expand(scale, size), zero)


def mx_scale(amax: np.ndarray) -> np.ndarray:
    """OCP MX rule: X = 2^(floor(log2(amax)) - emax_elem), an E8M0 power of two (all-zero block: 1)."""
    safe = np.where(amax > 0, amax, 1.0)
    exp = np.clip(np.floor(np.log2(safe)) - E2M1_EMAX, -127, 127)
    return np.where(amax > 0, 2.0**exp, 1.0)


def project(w: np.ndarray, side: SideInfo, gene: LayerGene) -> np.ndarray:
    """Nearest representable values (dequantized) of `w`, elementwise given `side` of the same shape."""
    s, fmt = side.scale, gene.format
    if fmt is Format.INT_SYM:
        q = qmax_sym(gene.bits)
        return np.clip(np.round(w / s * q), -q, q) / q * s
    if fmt is Format.POWER:
        q = qmax_sym(gene.bits)
        u = np.minimum(np.abs(w) / s, 1.0) ** gene.exponent
        return np.sign(w) * (np.round(u * q) / q) ** (1.0 / gene.exponent) * s
    if fmt is Format.INT_ASYM:
        levels = 2**gene.bits - 1
        return (np.clip(np.round(w / s) + side.zero, 0, levels) - side.zero) * s
    if fmt in (Format.MXFP4, Format.NVFP4):
        return round_to_grid(w / s, e2m1_grid()) * s
    if fmt is Format.FP8:
        return round_to_grid(w / s, e4m3_grid()) * s
    raise ValueError(fmt)  # pragma: no cover


def project_many(w: np.ndarray, scale: np.ndarray, zero: np.ndarray, genes: list[LayerGene]) -> np.ndarray:
    """`project` for K genes of one format at once: `w`, `scale`, `zero` are (K, out, n).

    The same elementwise operations in the same order as `project`, with each gene's bits
    and exponent broadcast along the first axis, so the values are identical; batched GPTQ
    (rounding.py) runs its column loop once for all of a format's genes this way.
    """
    fmt = genes[0].format
    column = (len(genes), 1, 1)
    if fmt in (Format.INT_SYM, Format.POWER):
        q = np.array([qmax_sym(g.bits) for g in genes], dtype=np.float64).reshape(column)
        if fmt is Format.INT_SYM:
            return np.clip(np.round(w / scale * q), -q, q) / q * scale
        a = np.array([g.exponent for g in genes], dtype=np.float64).reshape(column)
        u = np.minimum(np.abs(w) / scale, 1.0) ** a
        return np.sign(w) * (np.round(u * q) / q) ** (1.0 / a) * scale
    if fmt is Format.INT_ASYM:
        levels = np.array([2**g.bits - 1 for g in genes], dtype=np.float64).reshape(column)
        return (np.clip(np.round(w / scale) + zero, 0, levels) - zero) * scale
    if fmt in (Format.MXFP4, Format.NVFP4):
        return round_to_grid(w / scale, e2m1_grid()) * scale
    if fmt is Format.FP8:
        return round_to_grid(w / scale, e4m3_grid()) * scale
    raise ValueError(fmt)  # pragma: no cover


def integer_weights(w_hat: np.ndarray, side: SideInfo, gene: LayerGene) -> np.ndarray | None:
    """The integers an int kernel multiplies (q for symmetric, q - z for asymmetric); None otherwise."""
    if gene.format is Format.INT_SYM:
        return np.round(w_hat / side.scale * qmax_sym(gene.bits)).astype(np.int64)
    if gene.format is Format.INT_ASYM:
        return np.round(w_hat / side.scale).astype(np.int64)
    return None


def quantize_rtn(w: np.ndarray, gene: LayerGene) -> np.ndarray:
    """Round-to-nearest fake quantization (dequantized float64 weights)."""
    w = np.asarray(w, dtype=np.float64)
    return project(w, fit(w, gene), gene)
