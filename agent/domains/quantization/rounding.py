"""Learned rounding: GPTQ (Frantar et al., 2022) on calibration activations.

Round-to-nearest minimises each weight's own error; GPTQ minimises the layer's
output error ‖XWᵀ − XŴᵀ‖² instead, by quantizing one input column at a time and
spreading that column's error over the columns not yet quantized, weighted by the
inverse Hessian H = XᵀX of the layer's inputs. The side information (scales, zero
points) is fitted once from the float weights, so any elementwise format of
quantizers.py works unchanged. Written here (30 lines of NumPy) because the
maintained GPTQ packages are torch/CUDA kernels tied to transformer checkpoints.
"""

from __future__ import annotations

import numpy as np

from agent.domains.quantization.formats import LayerGene
from agent.domains.quantization.quantizers import SideInfo, fit, project, project_many

DAMPING = 0.01


def inverse_hessian_factor(inputs: np.ndarray, damping: float = DAMPING) -> np.ndarray:
    """Upper Cholesky factor of (XᵀX + λI)⁻¹, the quantity GPTQ's column loop reads."""
    x = np.asarray(inputs, dtype=np.float64)
    h = x.T @ x / max(len(x), 1)
    dead = np.diag(h) == 0
    h[dead, dead] = 1.0
    h += damping * max(float(np.mean(np.diag(h))), 1e-12) * np.eye(len(h))
    inv = np.linalg.inv(h)
    return np.linalg.cholesky(inv).T


def quantize_gptq(w: np.ndarray, gene: LayerGene, hinv_factor: np.ndarray) -> np.ndarray:
    """GPTQ fake quantization of `w` (out, in) given the factor from `inverse_hessian_factor`."""
    w = np.array(w, dtype=np.float64)
    side = fit(w, gene)
    out = np.empty_like(w)
    u = hinv_factor
    for j in range(w.shape[1]):
        col = w[:, j : j + 1]
        q = project(col, SideInfo(side.scale[:, j : j + 1], side.zero[:, j : j + 1]), gene)
        out[:, j : j + 1] = q
        err = (col - q) / u[j, j]
        w[:, j + 1 :] -= err @ u[j : j + 1, j + 1 :]
    return out


def quantize_gptq_many(
    w: np.ndarray, genes: list[LayerGene], hinv_factor: np.ndarray, block: int = 32
) -> list[np.ndarray]:
    """`quantize_gptq` of one layer under many genes: one column loop per format, lazy block updates.

    HAWQ-V3 over the full menu scores ~1,000 GPTQ options of a layer. Looping over the
    columns once per format (each gene's bits and exponent broadcast) and, as GPTQ's own
    implementation does, applying a block of `block` columns' error feedback to the columns
    after it in one matrix product, makes that several times cheaper than one call per gene.
    Values agree with `quantize_gptq` up to float rounding (the deferred updates sum in
    another order); the domain's own evaluations keep using `quantize_gptq`.
    """
    w0 = np.asarray(w, dtype=np.float64)
    out_rows, width = w0.shape
    found: dict[int, np.ndarray] = {}
    by_format: dict[object, list[int]] = {}
    for k, gene in enumerate(genes):
        by_format.setdefault(gene.format, []).append(k)
    u = hinv_factor
    for indices in by_format.values():
        batch = [genes[k] for k in indices]
        count = len(batch)
        sides = [fit(w0, gene) for gene in batch]
        # column-major working layout (in, K, out): column j of every gene is one contiguous slab
        scale = np.stack([side.scale.T for side in sides], axis=1)
        zero = np.stack([side.zero.T for side in sides], axis=1)
        work = np.repeat(w0.T[:, None, :], count, axis=1)
        result = np.empty_like(work)
        for start in range(0, width, block):
            end = min(start + block, width)
            errors = np.empty((end - start, count, out_rows))
            for j in range(start, end):
                col = work[j]
                q = project_many(col[:, None, :], scale[j][:, None, :], zero[j][:, None, :], batch)[:, 0, :]
                result[j] = q
                err = (col - q) / u[j, j]
                errors[j - start] = err
                work[j + 1 : end] -= u[j, j + 1 : end, None, None] * err
            if end < width:
                update = u[start:end, end:].T @ errors.reshape(end - start, -1)
                work[end:] -= update.reshape(width - end, count, out_rows)
        for slot, k in enumerate(indices):
            found[k] = result[:, slot, :].T.copy()
    return [found[k] for k in range(len(genes))]
