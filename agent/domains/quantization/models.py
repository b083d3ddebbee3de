"""Where a model to quantize comes from: the bundled ones, an .npz, a scikit-learn MLP, a torch module.

Everything becomes a `Network` (network.py). The bundled models ship as .npz
under data/ with their sha256 in data/manifest.json (made by training.py, which
reproduces them); a file that fails to parse, has the wrong arrays, non-finite
weights or does not map 64 digits features to 10 classes is the user's error,
one clear line. torch and scikit-learn are imported only when such a file is given.

The .npz layout strop writes and reads: `spec` (JSON: name, input_shape, layers
as [{"type": "dense"|"conv"|"relu"|"maxpool"|"flatten", ...}]) plus `weight_<i>`,
`bias_<i>` for each dense/conv layer i (dense (out, in); conv (out, in_ch, kh, kw)).
A plain MLP may instead give `W0, b0, W1, b1, …` (W as (out, in)), ReLU in between.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from agent.domains.quantization.datasets import Split, digits_split
from agent.domains.quantization.network import Conv, Dense, Flatten, Layer, MaxPool, Network, Relu
from agent.errors import UserError

DATA_DIR = Path(__file__).parent / "data"
BUNDLED = ("digits-mlp", "digits-cnn")


class ModelError(UserError):
    """A model name or file strop cannot use."""


def _spec_of(network: Network) -> dict[str, Any]:
    layers: list[dict[str, Any]] = []
    for layer in network.layers:
        if isinstance(layer, Dense):
            layers.append({"type": "dense"})
        elif isinstance(layer, Conv):
            layers.append({"type": "conv", "padding": layer.padding})
        elif isinstance(layer, Relu):
            layers.append({"type": "relu"})
        elif isinstance(layer, MaxPool):
            layers.append({"type": "maxpool", "size": layer.size})
        elif isinstance(layer, Flatten):
            layers.append({"type": "flatten"})
    return {"name": network.name, "input_shape": list(network.input_shape), "layers": layers}


def save_npz(network: Network, path: Path) -> None:
    arrays: dict[str, np.ndarray] = {"spec": np.array(json.dumps(_spec_of(network)))}
    for i in network.quantizable:
        layer = network.layers[i]
        arrays[f"weight_{i}"] = np.asarray(layer.weight, np.float32)  # type: ignore[union-attr]
        arrays[f"bias_{i}"] = np.asarray(layer.bias, np.float32)  # type: ignore[union-attr]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def _from_spec(spec: dict[str, Any], arrays: dict[str, np.ndarray], name: str) -> Network:
    layers: list[Layer] = []
    for i, entry in enumerate(spec["layers"]):
        kind = entry["type"]
        if kind in ("dense", "conv"):
            w, b = arrays[f"weight_{i}"], arrays[f"bias_{i}"]
            layers.append(Dense(w, b) if kind == "dense" else Conv(w, b, int(entry.get("padding", 1))))
        elif kind == "relu":
            layers.append(Relu())
        elif kind == "maxpool":
            layers.append(MaxPool(int(entry.get("size", 2))))
        elif kind == "flatten":
            layers.append(Flatten())
        else:
            raise ValueError(f"unknown layer type {kind!r}")
    return Network(spec.get("name", name), tuple(layers), tuple(spec["input_shape"]))


def _plain_mlp(arrays: dict[str, np.ndarray], name: str) -> Network:
    count = sum(1 for k in arrays if k.startswith("W"))
    layers: list[Layer] = []
    for k in range(count):
        layers.append(Dense(arrays[f"W{k}"], arrays[f"b{k}"]))
        if k < count - 1:
            layers.append(Relu())
    return Network(name, tuple(layers), (int(arrays["W0"].shape[1]),))


def load_npz(path: Path) -> Network:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k]) for k in data.files}
        if "spec" in arrays:
            network = _from_spec(json.loads(str(arrays.pop("spec"))), arrays, path.stem)
        elif "W0" in arrays:
            network = _plain_mlp(arrays, path.stem)
        else:
            raise ValueError("no 'spec' and no 'W0' array")
    except (
        OSError,
        ValueError,
        KeyError,
        EOFError,
        TypeError,
        zipfile.BadZipFile,
        json.JSONDecodeError,
    ) as exc:
        raise ModelError(f"cannot read weights file {path}: {type(exc).__name__}: {exc}") from None
    return _as_float32(network, str(path))


def _as_float32(network: Network, where: str) -> Network:
    layers = []
    for layer in network.layers:
        if isinstance(layer, Dense | Conv):
            w, b = np.asarray(layer.weight, np.float32), np.asarray(layer.bias, np.float32)
            if not (np.isfinite(w).all() and np.isfinite(b).all()):
                raise ModelError(f"weights file {where} holds non-finite weights")
            if w.shape[0] != b.shape[0]:
                raise ModelError(f"weights file {where}: weight {w.shape} and bias {b.shape} disagree")
            layer = Dense(w, b) if isinstance(layer, Dense) else Conv(w, b, layer.padding)
        layers.append(layer)
    return Network(network.name, tuple(layers), network.input_shape)


def from_sklearn(model: Any, name: str = "sklearn-mlp") -> Network:
    """A fitted `sklearn.neural_network.MLPClassifier` with ReLU (its coefs_ are (in, out))."""
    if getattr(model, "activation", "relu") != "relu" or not hasattr(model, "coefs_"):
        raise ModelError("only fitted scikit-learn MLPClassifier models with activation='relu' are supported")
    arrays = {f"W{k}": np.asarray(w).T for k, w in enumerate(model.coefs_)}
    arrays |= {f"b{k}": np.asarray(b) for k, b in enumerate(model.intercepts_)}
    return _as_float32(_plain_mlp(arrays, name), name)


def from_torch(module: Any, input_shape: tuple[int, ...] | None = None, name: str = "torch-model") -> Network:
    """A torch `nn.Sequential` of Linear, Conv2d (stride 1, symmetric padding), ReLU, MaxPool2d, Flatten.

    `input_shape` (channels, height, width) for a convolutional module; an MLP's is its first
    Linear's width.
    """
    import torch.nn as nn

    layers: list[Layer] = []
    for child in module.children() if isinstance(module, nn.Sequential) else [module]:
        if isinstance(child, nn.Linear):
            bias = child.bias.detach().numpy() if child.bias is not None else np.zeros(child.out_features)
            layers.append(Dense(child.weight.detach().numpy(), bias))
        elif isinstance(child, nn.Conv2d) and child.stride == (1, 1) and child.padding[0] == child.padding[1]:
            bias = child.bias.detach().numpy() if child.bias is not None else np.zeros(child.out_channels)
            layers.append(Conv(child.weight.detach().numpy(), bias, int(child.padding[0])))
        elif isinstance(child, nn.ReLU):
            layers.append(Relu())
        elif isinstance(child, nn.MaxPool2d):
            layers.append(
                MaxPool(
                    int(child.kernel_size if isinstance(child.kernel_size, int) else child.kernel_size[0])
                )
            )
        elif isinstance(child, nn.Flatten):
            layers.append(Flatten())
        else:
            raise ModelError(
                f"unsupported torch layer {type(child).__name__} (Linear, Conv2d, ReLU, MaxPool2d, Flatten)"
            )
    if input_shape is None:
        first = next((layer for layer in layers if isinstance(layer, Dense | Conv)), None)
        if not isinstance(first, Dense):
            raise ModelError("a convolutional torch module needs its input shape (channels, height, width)")
        input_shape = (int(first.weight.shape[1]),)
    return _as_float32(Network(name, tuple(layers), input_shape), name)


def _load_pickled(path: Path, image_shape: tuple[int, ...] | None) -> Network:
    suffix = path.suffix.lower()
    try:
        if suffix in (".pt", ".pth"):
            import torch

            obj = torch.load(path, map_location="cpu", weights_only=False)
            if isinstance(obj, dict):
                return _plain_mlp(_state_dict_to_arrays(obj), path.stem)
            convolutional = any(type(m).__name__ == "Conv2d" for m in obj.modules())
            return from_torch(obj, (image_shape or (1, 8, 8)) if convolutional else None, path.stem)
        import joblib

        return from_sklearn(joblib.load(path), path.stem)
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file
        raise ModelError(f"cannot read model file {path}: {type(exc).__name__}: {exc}") from None


def _state_dict_to_arrays(state: dict[str, Any]) -> dict[str, np.ndarray]:
    weights = [k for k in state if k.endswith(".weight")]
    arrays: dict[str, np.ndarray] = {}
    for k, key in enumerate(weights):
        arrays[f"W{k}"] = state[key].detach().numpy()
        arrays[f"b{k}"] = state[key[: -len("weight")] + "bias"].detach().numpy()
    return arrays


def _manifest() -> dict[str, str]:
    return json.loads((DATA_DIR / "manifest.json").read_text())


def load_model(name_or_path: str, data: Split | None = None) -> Network:
    """A bundled model by name, or a model file (.npz, .pt/.pth, .joblib/.pkl).

    Checked against `data` (the user's --data) or, without it, the digits: input size,
    one output per class, finite outputs on the validation inputs.
    """
    if name_or_path in BUNDLED:
        path = DATA_DIR / f"{name_or_path}.npz"
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != _manifest().get(path.name):
            raise ModelError(
                f"bundled weights {path} are corrupted (sha256 mismatch); "
                "regenerate them with: python -m agent.domains.quantization.training"
            )
        network = load_npz(path)
    else:
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise ModelError(
                f"unknown model {name_or_path!r}: give one of {', '.join(BUNDLED)} or a path to an "
                ".npz, .pt/.pth or .joblib/.pkl file"
            )
        image_shape = tuple(data.x_val.shape[1:]) if data is not None and data.x_val.ndim == 4 else None
        network = load_npz(path) if path.suffix.lower() == ".npz" else _load_pickled(path, image_shape)
    if data is None:
        _check_against(network, name_or_path, digits_split(), "the digits")
    else:
        _check_against(network, name_or_path, data, "--data")
    return network


def _check_against(network: Network, where: str, data: Split, what: str) -> None:
    """The model takes `data`'s inputs, gives one output per class, and stays finite on them."""
    if not network.quantizable:
        raise ModelError(f"model {where} has no dense or convolution layer to quantize")
    features = int(np.prod(data.x_val.shape[1:]))
    if int(np.prod(network.input_shape)) != features:
        raise ModelError(f"model {where} takes {network.input_shape} inputs, {what} have {features} features")
    classes = int(max(data.y_train.max(), data.y_val.max(), data.y_test.max())) + 1
    try:
        with np.errstate(all="ignore"):
            logits = network.forward(data.x_val[:1])[0]
    except (ValueError, IndexError) as exc:
        raise ModelError(f"model {where} does not take the {features} features of {what}: {exc}") from None
    if logits.shape[1] < classes:
        raise ModelError(
            f"model {where} gives {logits.shape[1]} outputs per input, {what} have {classes} classes"
        )
    with np.errstate(all="ignore"):  # finite weights can still overflow (scaled to 1e30, say)
        outputs = network.forward(data.x_val)[0]
    if not np.isfinite(outputs).all():
        raise ModelError(
            f"model {where}: its unquantized outputs overflow on {what} (non-finite logits), "
            "so every score of it would be noise"
        )
