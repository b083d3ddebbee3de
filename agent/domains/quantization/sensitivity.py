"""HAWQ-V2 layer sensitivity: the Hessian trace of the loss per layer, by Hutchinson's estimator.

Tr(H_l) ≈ mean over Rademacher vectors v of v_lᵀ (H v)_l, with H v from two
backward passes (torch autograd, imported here only). Cross-layer terms vanish
in expectation because the v_l are independent, so one Hessian-vector product
per sample serves every layer. HAWQ-V2 then scores a bit width b for layer l
as Ω_l(b) = Tr(H_l)/n_l · ‖Q_b(W_l) − W_l‖².
"""

from __future__ import annotations

import numpy as np

from agent.domains.quantization.network import Network, torch_forward, torch_params

SAMPLES = 32
BATCH = 512


def hessian_traces(
    network: Network, x: np.ndarray, y: np.ndarray, seed: int, samples: int = SAMPLES
) -> list[float]:
    """Estimated trace of the loss Hessian for each quantizable layer's weight (biases excluded)."""
    import torch

    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(seed)
    params = [p.requires_grad_() for p in torch_params(network)]
    weights = params[0::2]
    xt, yt = torch.tensor(x[:BATCH]), torch.tensor(y[:BATCH])
    loss = torch.nn.functional.cross_entropy(torch_forward(network, xt, params), yt)
    grads = torch.autograd.grad(loss, weights, create_graph=True)
    totals = np.zeros(len(weights))
    for _ in range(samples):
        vs = [torch.randint(0, 2, w.shape, generator=gen).float() * 2 - 1 for w in weights]
        hvs = torch.autograd.grad(grads, weights, grad_outputs=vs, retain_graph=True)
        totals += [float((hv * v).sum()) for hv, v in zip(hvs, vs, strict=True)]
    return list(totals / samples)
