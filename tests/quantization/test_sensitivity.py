"""HAWQ's Hessian-vector products in NumPy (dense + ReLU networks) against torch autograd."""

from __future__ import annotations

import numpy as np

from agent.domains.quantization.datasets import digits_split
from agent.domains.quantization.models import load_model
from agent.domains.quantization.network import torch_forward, torch_params
from agent.domains.quantization.sensitivity import hessian_traces, mlp_hessian_vector


def test_numpy_hessian_vector_product_is_autograds() -> None:
    import torch

    net, split = load_model("digits-mlp"), digits_split()
    x, y = split.x_train[:96], split.y_train[:96]
    rng = np.random.default_rng(0)
    directions = [rng.normal(size=w.shape) for w in net.matrices()]
    ours = mlp_hessian_vector(net, x, y, directions)
    params = [p.double().requires_grad_() for p in torch_params(net)]
    logits = torch_forward(net, torch.tensor(x, dtype=torch.float64), params)
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(y))
    grads = torch.autograd.grad(loss, params[0::2], create_graph=True)
    theirs = torch.autograd.grad(grads, params[0::2], grad_outputs=[torch.tensor(v) for v in directions])
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-9, atol=1e-12 * float(np.abs(b.numpy()).max()))


def test_traces_are_positive_and_reproducible() -> None:
    net, split = load_model("digits-mlp"), digits_split()
    first = hessian_traces(net, split.x_train, split.y_train, seed=3, samples=4)
    assert first == hessian_traces(net, split.x_train, split.y_train, seed=3, samples=4)
    assert len(first) == len(net.matrices()) and all(t > 0 for t in first)
