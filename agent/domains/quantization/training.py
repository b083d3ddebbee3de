"""Deterministic training of the bundled models (torch, CPU, one thread, fixed seed).

The shipped weights in data/*.npz were made by `python -m agent.domains.quantization.training`;
running it again on the same torch build reproduces them. Two architectures, so
that results are not tuned to one: a 6-layer MLP and a small CNN, both on digits.
"""

from __future__ import annotations

import numpy as np

from agent.domains.quantization.datasets import digits_split
from agent.domains.quantization.network import Conv, Dense, Flatten, MaxPool, Network, Relu

TRAIN_SEED = 7
MLP_WIDTHS = (64, 128, 128, 64, 64, 32, 10)


def init_mlp(rng: np.random.Generator) -> Network:
    layers: list = []
    for k, (a, b) in enumerate(zip(MLP_WIDTHS[:-1], MLP_WIDTHS[1:], strict=True)):
        layers.append(
            Dense(rng.normal(0, np.sqrt(2 / a), (b, a)).astype(np.float32), np.zeros(b, np.float32))
        )
        if k < len(MLP_WIDTHS) - 2:
            layers.append(Relu())
    return Network("digits-mlp", tuple(layers), (64,))


def init_cnn(rng: np.random.Generator) -> Network:
    def conv(o: int, i: int) -> Conv:
        return Conv(
            rng.normal(0, np.sqrt(2 / (9 * i)), (o, i, 3, 3)).astype(np.float32), np.zeros(o, np.float32)
        )

    def dense(o: int, i: int) -> Dense:
        return Dense(rng.normal(0, np.sqrt(2 / i), (o, i)).astype(np.float32), np.zeros(o, np.float32))

    layers = (
        conv(16, 1), Relu(),
        conv(32, 16), Relu(), MaxPool(2),
        conv(32, 32), Relu(), MaxPool(2),
        Flatten(), dense(64, 128), Relu(), dense(10, 64),
    )  # fmt: skip
    return Network("digits-cnn", layers, (1, 8, 8))


def train(network: Network, epochs: int = 150, lr: float = 2e-3, seed: int = TRAIN_SEED) -> Network:
    """Adam on the train split, minibatches of 64, weight decay 1e-4; returns the trained copy."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    split = digits_split()
    x = torch.tensor(split.x_train)
    y = torch.tensor(split.y_train)
    from agent.domains.quantization.network import torch_forward, torch_params

    params = [p.requires_grad_() for p in torch_params(network)]
    opt = torch.optim.Adam(params, lr=lr, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), 64):
            idx = order[start : start + 64]
            loss = torch.nn.functional.cross_entropy(torch_forward(network, x[idx], params), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    weights = [p.detach().numpy().astype(np.float32) for p in params]
    layers = list(network.layers)
    for k, i in enumerate(network.quantizable):
        old = layers[i]
        w, b = weights[2 * k], weights[2 * k + 1]
        layers[i] = Dense(w, b) if isinstance(old, Dense) else Conv(w, b, old.padding)  # type: ignore[union-attr]
    return Network(network.name, tuple(layers), network.input_shape)


def build(name: str) -> Network:
    rng = np.random.default_rng(TRAIN_SEED)
    if name == "digits-mlp":
        return train(init_mlp(rng))
    if name == "digits-cnn":
        return train(init_cnn(rng), epochs=60)
    raise KeyError(name)


def main() -> None:  # pragma: no cover - regenerates the shipped files
    import hashlib
    import json

    from agent.domains.quantization.models import BUNDLED, DATA_DIR, save_npz

    split = digits_split()
    manifest = {}
    for name in BUNDLED:
        net = build(name)
        path = DATA_DIR / f"{name}.npz"
        save_npz(net, path)
        manifest[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        acc = float((net.predict(split.x_val) == split.y_val).mean())
        test = float((net.predict(split.x_test) == split.y_test).mean())
        print(f"{name}: val {acc:.4f} test {test:.4f} -> {path} ({path.stat().st_size} bytes)")
    (DATA_DIR / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":  # pragma: no cover
    main()
