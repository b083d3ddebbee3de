"""HAWQ-V2 layer sensitivity: the Hessian trace of the loss per layer, by Hutchinson's estimator.

Tr(H_l) ≈ mean over Rademacher vectors v of v_lᵀ (H v)_l, with H v from two
backward passes (torch autograd, imported here only). Cross-layer terms vanish
in expectation because the v_l are independent, so one Hessian-vector product
per sample serves every layer. HAWQ-V2 then scores a bit width b for layer l
as Ω_l(b) = Tr(H_l)/n_l · ‖Q_b(W_l) − W_l‖².

Networks of dense layers and ReLUs (the digits MLP) get their Hessian-vector
products in NumPy instead (`mlp_hessian_vector`, Pearlmutter's R-operator: one
forward and one backward pass of directional derivatives; ReLU's second derivative
is zero almost everywhere): importing torch alone takes 6–20 s on a shared 2-core
machine, a large part of a time-bounded run. A test checks it against torch autograd.
"""

from __future__ import annotations

import numpy as np

from agent.domains.quantization.network import Dense, Network, Relu, torch_forward, torch_params, two_logits

SAMPLES = 32
BATCH = 512


def hessian_traces(
    network: Network, x: np.ndarray, y: np.ndarray, seed: int, samples: int = SAMPLES
) -> list[float]:
    """Estimated trace of the loss Hessian for each quantizable layer's weight (biases excluded)."""
    if all(isinstance(layer, Dense | Relu) for layer in network.layers):
        return _mlp_traces(network, x, y, seed, samples)
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


def _dense_layers(network: Network) -> list[tuple[Dense, bool]]:
    """Each dense layer with whether a ReLU follows it."""
    out: list[tuple[Dense, bool]] = []
    for layer in network.layers:
        if isinstance(layer, Dense):
            out.append((layer, False))
        elif isinstance(layer, Relu) and out:
            out[-1] = (out[-1][0], True)
    return out


def mlp_hessian_vector(
    network: Network, x: np.ndarray, y: np.ndarray, directions: list[np.ndarray]
) -> list[np.ndarray]:
    """H·v of the mean cross-entropy with respect to each dense weight, for weight directions `directions`.

    Biases are held fixed (their direction is zero), as in `hessian_traces`.
    """
    layers = _dense_layers(network)
    a = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    ra = np.zeros_like(a)
    inputs, r_inputs, masks = [], [], []
    for (layer, relu), v in zip(layers, directions, strict=True):
        w = np.asarray(layer.weight, dtype=np.float64)
        inputs.append(a)
        r_inputs.append(ra)
        z = a @ w.T + layer.bias
        rz = ra @ w.T + a @ v.T
        mask = (z > 0).astype(np.float64) if relu else np.ones_like(z)
        masks.append(mask)
        a, ra = z * mask, rz * mask
    logits, r_logits = two_logits(a), two_logits(ra)  # a single binary logit z reads as [0, z]
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    onehot = np.zeros_like(p)
    onehot[np.arange(len(y)), y] = 1.0
    n = len(x)
    g = (p - onehot) / n  # dL/dlogits (the last layer has no ReLU: mask of ones)
    rg = (p * r_logits - p * (p * r_logits).sum(axis=1, keepdims=True)) / n
    if a.shape[1] == 1:  # back to the one logit the layer outputs (the 0 beside it is a constant)
        g, rg = g[:, 1:], rg[:, 1:]
    products: list[np.ndarray] = [np.empty(0)] * len(layers)
    for k in range(len(layers) - 1, -1, -1):
        w = np.asarray(layers[k][0].weight, dtype=np.float64)
        g, rg = g * masks[k], rg * masks[k]
        products[k] = rg.T @ inputs[k] + g.T @ r_inputs[k]
        if k:
            g, rg = g @ w, rg @ w + g @ directions[k]
    return products


def _mlp_traces(network: Network, x: np.ndarray, y: np.ndarray, seed: int, samples: int) -> list[float]:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # small products: BLAS threads only contend (measured 7× slower)
        return _mlp_trace_samples(network, x, y, seed, samples)


def _mlp_trace_samples(
    network: Network, x: np.ndarray, y: np.ndarray, seed: int, samples: int
) -> list[float]:
    rng = np.random.default_rng(seed)
    weights = [np.asarray(layer.weight) for layer, _ in _dense_layers(network)]
    xb, yb = np.asarray(x[:BATCH]), np.asarray(y[:BATCH])
    totals = np.zeros(len(weights))
    for _ in range(samples):
        vs = [rng.integers(0, 2, w.shape).astype(np.float64) * 2 - 1 for w in weights]
        hvs = mlp_hessian_vector(network, xb, yb, vs)
        totals += [float((hv * v).sum()) for hv, v in zip(hvs, vs, strict=True)]
    return list(totals / samples)
