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
from agent.domains.quantization.quantizers import SideInfo, fit, project

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
