"""A small feed-forward network held as NumPy arrays: the thing being quantized.

Quantization search evaluates hundreds of configurations a minute, so inference
is plain NumPy (a matmul per layer, im2col for convolutions) and runs in the
worker processes without torch. The same layers also build a torch graph
(`torch_forward`, imported lazily) for training and for Hessian-vector products
(HAWQ sensitivity). Every quantizable layer is seen as a matrix (out, in): a
dense layer's weight, or a convolution's kernel flattened over (kh, kw, in_ch), so
a group of in_ch weights is one tap across all input channels.

A network whose last layer has a single output is a binary classifier's logit z (sigmoid,
class 1 when z > 0): `forward` returns it as the two logits [0, z], whose softmax is
(1 − σ(z), σ(z)), so accuracy, cross-entropy and the KL from fp32 read it as they read two
outputs. A layer without a bias (`has_bias` False) runs with zeros and stores nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Dense:
    weight: np.ndarray  # (out, in)
    bias: np.ndarray  # (out,); zeros when the model has none
    has_bias: bool = True  # False: the model stores no bias here (none counted in its size, none written)


@dataclass(frozen=True)
class Conv:
    weight: np.ndarray  # (out, in_ch, kh, kw)
    bias: np.ndarray  # (out,); zeros when the model has none
    padding: int = 1
    has_bias: bool = True


@dataclass(frozen=True)
class Relu:
    pass


@dataclass(frozen=True)
class MaxPool:
    size: int = 2


@dataclass(frozen=True)
class Flatten:
    pass


Layer = Dense | Conv | Relu | MaxPool | Flatten
QUANTIZABLE = (Dense, Conv)


def _im2col(x: np.ndarray, kh: int, kw: int, pad: int) -> tuple[np.ndarray, int, int]:
    """Patches of a channel-last batch (n, H, W, c) as rows ordered (kh, kw, c): contiguous slices, fast."""
    n, h, w, c = x.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    h_out, w_out = h + 2 * pad - kh + 1, w + 2 * pad - kw + 1
    parts = [xp[:, i : i + h_out, j : j + w_out, :] for i in range(kh) for j in range(kw)]
    cols = np.concatenate(parts, axis=-1).reshape(n * h_out * w_out, kh * kw * c)
    return cols, h_out, w_out


def _maxpool(x: np.ndarray, k: int) -> np.ndarray:
    n, h, w, c = x.shape
    return x[:, : h - h % k, : w - w % k, :].reshape(n, h // k, k, w // k, k, c).max(axis=(2, 4))


@dataclass(frozen=True)
class Network:
    """Layers in order; the input shape excludes the batch dimension."""

    name: str
    layers: tuple[Layer, ...]
    input_shape: tuple[int, ...]
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def quantizable(self) -> list[int]:
        return [i for i, layer in enumerate(self.layers) if isinstance(layer, QUANTIZABLE)]

    def matrices(self) -> list[np.ndarray]:
        """The (out, in) view of every quantizable layer's weight."""
        return [_matrix(self.layers[i]) for i in self.quantizable]  # type: ignore[arg-type]

    def shapes(self) -> list[tuple[int, int]]:
        return [m.shape for m in self.matrices()]  # type: ignore[misc]

    def bias_count(self) -> int:
        """The fp32 biases the model stores (a bias-free layer's zeros are not stored)."""
        return sum(
            self.layers[i].bias.size  # type: ignore[union-attr]
            for i in self.quantizable
            if self.layers[i].has_bias  # type: ignore[union-attr]
        )

    def layer_names(self) -> list[str]:
        names = []
        for k, i in enumerate(self.quantizable):
            kind = "conv" if isinstance(self.layers[i], Conv) else "dense"
            o, n = _matrix(self.layers[i]).shape  # type: ignore[arg-type]
            names.append(f"{k}:{kind}{n}x{o}")
        return names

    def forward(
        self, x: np.ndarray, matrices: Sequence[np.ndarray] | None = None, capture: bool = False
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Logits for inputs `x`, with quantizable weights replaced by `matrices` (same order).

        With `capture`, also returns each quantizable layer's input as a matrix (rows = samples or
        image patches): the calibration data GPTQ and the accumulator analysis need.
        """
        h = np.asarray(x, dtype=np.float32).reshape((-1, *self.input_shape))
        if h.ndim == 4:
            h = h.transpose(0, 2, 3, 1)  # images run channel-last inside
        seen: list[np.ndarray] = []
        k = 0
        for layer in self.layers:
            if isinstance(layer, Dense):
                w = _matrix(layer) if matrices is None else matrices[k]
                k += 1
                if capture:
                    seen.append(h)
                h = h @ w.T.astype(np.float32) + layer.bias
            elif isinstance(layer, Conv):
                w = _matrix(layer) if matrices is None else matrices[k]
                k += 1
                out_ch, _, kh, kw = layer.weight.shape
                cols, ho, wo = _im2col(h, kh, kw, layer.padding)
                if capture:
                    seen.append(cols)
                h = (cols @ w.T.astype(np.float32) + layer.bias).reshape(len(h), ho, wo, out_ch)
            elif isinstance(layer, Relu):
                h = np.maximum(h, 0)
            elif isinstance(layer, MaxPool):
                h = _maxpool(h, layer.size)
            elif isinstance(layer, Flatten):
                h = (h.transpose(0, 3, 1, 2) if h.ndim == 4 else h).reshape(len(h), -1)  # torch's order
        return two_logits(h), seen

    def predict(self, x: np.ndarray, matrices: Sequence[np.ndarray] | None = None) -> np.ndarray:
        return self.forward(x, matrices)[0].argmax(axis=1)

    def with_matrices(self, matrices: Sequence[np.ndarray]) -> Network:
        """A copy whose quantizable weights are `matrices` (e.g. the dequantized ones)."""
        layers = list(self.layers)
        for i, m in zip(self.quantizable, matrices, strict=True):
            old = layers[i]
            if isinstance(old, Dense):
                layers[i] = replace(old, weight=np.asarray(m, np.float32))
            elif isinstance(old, Conv):
                out, in_ch, kh, kw = old.weight.shape
                kernel = np.asarray(m, np.float32).reshape(out, kh, kw, in_ch).transpose(0, 3, 1, 2)
                layers[i] = replace(old, weight=np.ascontiguousarray(kernel))
        return Network(self.name, tuple(layers), self.input_shape, self.meta)


def two_logits(logits: np.ndarray) -> np.ndarray:
    """A single-logit binary output z as the logits [0, z] (module docstring); others unchanged."""
    if logits.ndim == 2 and logits.shape[1] == 1:
        return np.concatenate([np.zeros_like(logits), logits], axis=1)
    return logits


def _matrix(layer: Dense | Conv) -> np.ndarray:
    """(out, in); a kernel (out, in_ch, kh, kw) is flattened over (kh, kw, in_ch), the im2col order."""
    if isinstance(layer, Conv):
        return layer.weight.transpose(0, 2, 3, 1).reshape(layer.weight.shape[0], -1)
    return layer.weight


def torch_forward(network: Network, x: torch.Tensor, params: Sequence[torch.Tensor]) -> torch.Tensor:
    """The same network as a differentiable torch function of its parameters (weight, bias per layer)."""
    import torch
    import torch.nn.functional as F

    h = x.reshape((-1, *network.input_shape))
    k = 0
    for layer in network.layers:
        if isinstance(layer, Dense):
            h = F.linear(h, params[k], params[k + 1])
            k += 2
        elif isinstance(layer, Conv):
            h = F.conv2d(h, params[k], params[k + 1], padding=layer.padding)
            k += 2
        elif isinstance(layer, Relu):
            h = F.relu(h)
        elif isinstance(layer, MaxPool):
            h = F.max_pool2d(h, layer.size)
        elif isinstance(layer, Flatten):
            h = h.flatten(1)
    if h.ndim == 2 and h.shape[1] == 1:  # a binary logit, as `two_logits`
        h = torch.cat([torch.zeros_like(h), h], dim=1)
    return h


def torch_params(network: Network) -> list[torch.Tensor]:
    import torch

    out = []
    for i in network.quantizable:
        layer = network.layers[i]
        out += [
            torch.tensor(layer.weight, dtype=torch.float32),
            torch.tensor(layer.bias, dtype=torch.float32),
        ]  # type: ignore[union-attr]
    return out
