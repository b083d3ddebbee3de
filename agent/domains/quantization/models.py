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
A bias left out is a layer without one (torch's `bias=False`): zeros, stored nowhere.
"""

from __future__ import annotations

import hashlib
import json
import math
import zipfile
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from agent.domains.quantization.datasets import Split, digits_split
from agent.domains.quantization.network import Conv, Dense, Flatten, Layer, MaxPool, Network, Relu
from agent.domains.quantization.npzfile import NpzRefused, read_npz
from agent.domains.quantization.safe_pickle import PickleRefused, load_sklearn, load_torch
from agent.errors import UserError

DATA_DIR = Path(__file__).parent / "data"
BUNDLED = ("digits-mlp", "digits-cnn")
NAMED = (*BUNDLED, "minilm")  # every name --model takes (minilm is built in search.py, not loaded here)
MODEL_SUFFIXES = (".npz", ".pt", ".pth", ".joblib", ".pkl")
# the largest fp16 number: the int and power formats store a group's range (or step) in fp16 (size.py)
SCALE_MAX = float(np.finfo(np.float16).max)


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
        if layer.has_bias:  # type: ignore[union-attr]
            arrays[f"bias_{i}"] = np.asarray(layer.bias, np.float32)  # type: ignore[union-attr]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)


MAX_LAYERS = 1000  # far deeper than anything searchable here; a 200,000-layer spec is an attack
MAX_SAMPLE_ELEMENTS = 2**22  # one input's activations or im2col columns at any layer (16 MiB of float32)
# squares of weights summed over the 2^28 a layer may hold stay below float32's 3.4e38
MAX_WEIGHT = 1e15
WEIGHT_KINDS = "iuf"  # weights are real numbers: signed/unsigned integers or floats


def _spec_int(entry: dict[str, Any], key: str, default: int) -> int:
    value = entry.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"layer {key} must be an integer, got {value!r}")
    return value


def _array(arrays: dict[str, np.ndarray], key: str) -> np.ndarray:
    if key not in arrays:
        raise ValueError(f"missing array {key}")
    return arrays[key]


def _weight_and_bias(
    arrays: dict[str, np.ndarray], weight: str, bias: str
) -> tuple[np.ndarray, np.ndarray, bool]:
    """A layer's weight and bias, and whether the file holds the bias (without one: zeros)."""
    w = _array(arrays, weight)
    if bias in arrays:
        return w, arrays[bias], True
    return w, np.zeros(w.shape[0] if w.ndim else 0, np.float32), False


def _spec_layer(i: int, entry: Any, arrays: dict[str, np.ndarray]) -> Layer:
    if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
        raise ValueError(f"spec layer {i} must be an object with a string 'type', got {entry!r:.80}")
    kind = entry["type"]
    if kind in ("dense", "conv"):
        w, b, stored = _weight_and_bias(arrays, f"weight_{i}", f"bias_{i}")
        if kind == "dense":
            return Dense(w, b, stored)
        return Conv(w, b, _spec_int(entry, "padding", 1), stored)
    simple: dict[str, Layer] = {"relu": Relu(), "flatten": Flatten()}
    if kind in simple:
        return simple[kind]
    if kind == "maxpool":
        return MaxPool(_spec_int(entry, "size", 2))
    raise ValueError(f"unknown layer type {kind!r:.40} (dense, conv, relu, maxpool, flatten)")


def _input_shape(value: Any) -> tuple[int, ...]:
    ok = isinstance(value, list) and len(value) in (1, 3)
    ok = ok and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in value)
    if not ok:
        raise ValueError(
            f"spec input_shape must be [features] or [channels, height, width], got {value!r:.80}"
        )
    return tuple(value)


def _from_spec(spec: Any, arrays: dict[str, np.ndarray], name: str) -> Network:
    if not isinstance(spec, dict):
        raise ValueError(f"spec must be a JSON object, got {type(spec).__name__}")
    entries = spec.get("layers")
    if not isinstance(entries, list) or not 0 < len(entries) <= MAX_LAYERS:
        raise ValueError(f"spec layers must be a list of 1 to {MAX_LAYERS} layers")
    title = spec.get("name", name)
    if not isinstance(title, str):
        raise ValueError(f"spec name must be a string, got {type(title).__name__}")
    layers = tuple(_spec_layer(i, entry, arrays) for i, entry in enumerate(entries))
    return Network(title, layers, _input_shape(spec.get("input_shape")))


def _plain_mlp(arrays: dict[str, np.ndarray], name: str) -> Network:
    count = sum(1 for k in arrays if k.startswith("W"))
    if count > MAX_LAYERS:
        raise ValueError(f"{count} weight arrays, over the {MAX_LAYERS}-layer cap")
    layers: list[Layer] = []
    for k in range(count):
        layers.append(Dense(*_weight_and_bias(arrays, f"W{k}", f"b{k}")))
        if k < count - 1:
            layers.append(Relu())
    first = _array(arrays, "W0")
    if first.ndim != 2:
        raise ValueError(f"W0 must be a matrix (out, in), got shape {first.shape}")
    return Network(name, tuple(layers), (int(first.shape[1]),))


def load_npz(path: Path) -> Network:
    """An .npz model (module docstring); any malformed, hostile or oversized file is a one-line ModelError."""
    try:
        arrays = read_npz(path)
        if "spec" in arrays:
            spec = arrays.pop("spec")
            if spec.dtype.kind != "U" or spec.ndim != 0:
                raise ValueError(f"'spec' must be one JSON string, got {spec.dtype} {spec.shape}")
            network = _from_spec(json.loads(str(spec)), arrays, path.stem)
        elif "W0" in arrays:
            network = _plain_mlp(arrays, path.stem)
        else:
            raise ValueError("no 'spec' and no 'W0' array")
    except NpzRefused as exc:
        raise ModelError(f"cannot read weights file {path}: {exc}") from None
    except (
        OSError,
        ValueError,
        KeyError,
        EOFError,
        TypeError,
        RuntimeError,
        NotImplementedError,
        zlib.error,
        zipfile.BadZipFile,
    ) as exc:
        raise ModelError(f"cannot read weights file {path}: {type(exc).__name__}: {_one_line(exc)}") from None
    return _as_float32(network, str(path))


def _checked_arrays(layer: Dense | Conv, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Weight and bias as float32, refused unless they are finite real numbers of the layer's shape."""
    kind, rank = ("dense", 2) if isinstance(layer, Dense) else ("conv", 4)
    w, b = np.asarray(layer.weight), np.asarray(layer.bias)
    for what, array in (("weight", w), ("bias", b)):
        if array.dtype.kind not in WEIGHT_KINDS:
            raise ModelError(
                f"weights file {where}: a {kind} {what} must hold real numbers, not {array.dtype}"
            )
    if w.ndim != rank or b.ndim != 1 or w.size == 0:
        shape = "(out, in)" if rank == 2 else "(out, in_ch, kh, kw)"
        raise ModelError(
            f"weights file {where}: a {kind} weight must be {shape} with a bias (out,), got {w.shape} and {b.shape}"
        )
    with np.errstate(all="ignore"):
        w, b = w.astype(np.float32), b.astype(np.float32)
    if not (np.isfinite(w).all() and np.isfinite(b).all()):
        raise ModelError(f"weights file {where} holds non-finite weights (NaN, infinity, or beyond float32)")
    if max(float(np.abs(w).max()), float(np.abs(b).max(initial=0.0))) > MAX_WEIGHT:
        raise ModelError(
            f"weights file {where} holds weights beyond ±{MAX_WEIGHT:g}: quantizing them overflows float32"
        )
    if w.shape[0] != b.shape[0]:
        raise ModelError(f"weights file {where}: weight {w.shape} and bias {b.shape} disagree")
    return w, b


def _as_float32(network: Network, where: str) -> Network:
    layers = []
    for i, layer in enumerate(network.layers):
        if isinstance(layer, Dense | Conv):
            w, b = _checked_arrays(layer, where)
            _check_scalable(w, i, type(layer).__name__.lower(), where)
            layer = replace(layer, weight=w, bias=b)
        layers.append(layer)
    checked = Network(network.name, tuple(layers), network.input_shape)
    _check_shapes(checked, where)
    return checked


def _check_scalable(w: np.ndarray, index: int, kind: str, where: str) -> None:
    """Refuses a layer whose range the fp16 scales cannot hold, naming it and the limit.

    size.py counts the int and power formats' scales as fp16; a weight past 65504 would make that
    scale infinite and every dequantized weight NaN, so each score would be noise. Refused here
    rather than stored wider: counting a wider scale would make the bits of a config depend on
    the weights, and no trained network needs it (a ReLU network can move the factor to the next
    layer, which computes the same function).
    """
    largest = float(np.abs(w).max())
    if largest > SCALE_MAX:
        raise ModelError(
            f"model {where}: layer {index} ({kind}) holds weights up to {largest:.4g} in magnitude, past "
            f"{SCALE_MAX:g}, the largest range the fp16 scales of the int and power formats hold: scale "
            "that layer down (and, through a ReLU, the next one up by the same factor) to quantize it"
        )


def _check_shapes(network: Network, where: str) -> None:
    """Walks the input shape through the layers so a bad file fails here, not as a crash or a huge array."""
    if len(network.layers) > MAX_LAYERS:
        raise ModelError(f"model {where} has {len(network.layers)} layers, over the {MAX_LAYERS}-layer cap")
    shape = tuple(network.input_shape)
    for i, layer in enumerate(network.layers):
        try:
            shape = _next_shape(layer, shape)
        except ValueError as exc:
            raise ModelError(f"model {where}: layer {i} ({type(layer).__name__.lower()}): {exc}") from None
        if math.prod(shape) > MAX_SAMPLE_ELEMENTS:
            raise ModelError(
                f"model {where}: layer {i} makes {shape} values per input, over the {MAX_SAMPLE_ELEMENTS:,} cap"
            )


def _next_shape(layer: Layer, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The per-input output shape of `layer` on `shape`; ValueError says why it cannot take it."""
    if isinstance(layer, Dense):
        if len(shape) != 1 or shape[0] != layer.weight.shape[1]:
            raise ValueError(
                f"takes {layer.weight.shape[1]} inputs, gets shape {shape} (flatten images first)"
            )
        return (int(layer.weight.shape[0]),)
    if isinstance(layer, Relu):
        return shape
    if isinstance(layer, Flatten):
        return (math.prod(shape),)
    if len(shape) != 3:
        raise ValueError(f"needs (channels, height, width) inputs, gets shape {shape}")
    channels, height, width = shape
    if isinstance(layer, MaxPool):
        if not 1 <= layer.size <= min(height, width):
            raise ValueError(f"pool size {layer.size} must be 1 to {min(height, width)} for {shape} inputs")
        return (channels, height // layer.size, width // layer.size)
    assert isinstance(layer, Conv)
    out, in_ch, kh, kw = layer.weight.shape
    if in_ch != channels:
        raise ValueError(f"takes {in_ch} channels, gets {channels}")
    if (
        not 0 <= layer.padding < min(kh, kw)
        or height + 2 * layer.padding < kh
        or width + 2 * layer.padding < kw
    ):
        raise ValueError(
            f"padding {layer.padding} with a {kh}×{kw} kernel on {height}×{width} inputs "
            "(padding must be 0 to kernel size − 1, and the kernel fit the padded input)"
        )
    rows, cols = height + 2 * layer.padding - kh + 1, width + 2 * layer.padding - kw + 1
    if rows * cols * kh * kw * channels > MAX_SAMPLE_ELEMENTS:
        raise ValueError(f"its {kh}×{kw} patches over {shape} inputs exceed the {MAX_SAMPLE_ELEMENTS:,} cap")
    return (int(out), rows, cols)


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
            layers.append(Dense(child.weight.detach().numpy(), bias, child.bias is not None))
        elif isinstance(child, nn.Conv2d) and child.stride == (1, 1) and child.padding[0] == child.padding[1]:
            bias = child.bias.detach().numpy() if child.bias is not None else np.zeros(child.out_channels)
            layers.append(
                Conv(child.weight.detach().numpy(), bias, int(child.padding[0]), child.bias is not None)
            )
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


def _load_pickled(path: Path, image_shape: tuple[int, ...] | None, allow_pickle: bool = False) -> Network:
    """A torch or scikit-learn file, unpickled without running its code unless `allow_pickle` (safe_pickle.py)."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".pt", ".pth"):
            obj = load_torch(path, allow_pickle)
            if isinstance(obj, dict):
                return _as_float32(_plain_mlp(_state_dict_to_arrays(obj), path.stem), str(path))
            if not hasattr(obj, "modules"):
                raise ModelError(
                    f"model file {path} holds a {type(obj).__name__}, not a state dict or module"
                )
            convolutional = any(type(m).__name__ == "Conv2d" for m in obj.modules())
            return from_torch(obj, (image_shape or (1, 8, 8)) if convolutional else None, path.stem)
        return from_sklearn(load_sklearn(path, allow_pickle), path.stem)
    except ModelError:
        raise
    except PickleRefused as exc:
        raise ModelError(f"model file {path}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file
        raise ModelError(f"cannot read model file {path}: {type(exc).__name__}: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    """An exception's text on one line (library messages can span paragraphs)."""
    return " ".join(str(exc).split())[:300]


def _state_dict_to_arrays(state: dict[str, Any]) -> dict[str, np.ndarray]:
    weights = [k for k in state if k.endswith(".weight")]
    arrays: dict[str, np.ndarray] = {}
    for k, key in enumerate(weights):
        arrays[f"W{k}"] = state[key].detach().numpy()
        bias = key[: -len("weight")] + "bias"
        if bias in state:  # a Linear(bias=False) saves none
            arrays[f"b{k}"] = state[bias].detach().numpy()
    return arrays


def _check_file(name: str, path: Path) -> None:
    """A model file strop can read by its suffix; otherwise what is wrong, as the user would say it."""
    if path.is_file():
        if path.suffix.lower() not in MODEL_SUFFIXES:
            raise ModelError(
                f"model file {path}: strop reads .npz, .pt/.pth and .joblib/.pkl model files (by their "
                f"suffix), not {path.suffix or 'a file without one'}"
            )
        return
    if path.exists():
        raise ModelError(f"model {name!r} is not a file: give an .npz, .pt/.pth or .joblib/.pkl file")
    if "/" in name or "\\" in name or path.suffix.lower() in MODEL_SUFFIXES:
        raise ModelError(f"no such model file {path}")
    raise ModelError(
        f"unknown model {name!r}: give one of {', '.join(NAMED)} or a path to an "
        ".npz, .pt/.pth or .joblib/.pkl file"
    )


def _manifest() -> dict[str, str]:
    return json.loads((DATA_DIR / "manifest.json").read_text())


def load_model(name_or_path: str, data: Split | None = None, allow_pickle: bool = False) -> Network:
    """A bundled model by name, or a model file (.npz, .pt/.pth, .joblib/.pkl).

    `allow_pickle` (--allow-pickle) unpickles torch and scikit-learn files in full, running
    whatever code they name: only for files the user made.

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
        _check_file(name_or_path, path)
        image_shape = tuple(data.x_val.shape[1:]) if data is not None and data.x_val.ndim == 4 else None
        network = (
            load_npz(path)
            if path.suffix.lower() == ".npz"
            else _load_pickled(path, image_shape, allow_pickle)
        )
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
            f"model {where} {_outputs_text(network, logits.shape[1])}, {_labels_text(data, what)}"
        )
    with np.errstate(all="ignore"):  # finite weights can still overflow (scaled to 1e30, say)
        outputs = network.forward(data.x_val)[0]
    if not np.isfinite(outputs).all():
        raise ModelError(
            f"model {where}: its unquantized outputs overflow on {what} (non-finite logits), "
            "so every score of it would be noise"
        )


def _outputs_text(network: Network, scored: int) -> str:
    """How many outputs the model gives, saying when one output is read as a binary logit."""
    shape = tuple(network.input_shape)
    for layer in network.layers:
        shape = _next_shape(layer, shape)
    if math.prod(shape) == 1:
        return "gives 1 output per input (read as a binary classifier's logit: 2 classes)"
    return f"gives {scored} outputs per input"


def _labels_text(data: Split, what: str) -> str:
    """Which classes the labels name: a model needs an output for every index up to the largest."""
    labels = np.unique(np.concatenate([data.y_train, data.y_val, data.y_test]))
    top = int(labels[-1])
    if len(labels) == top + 1:
        return f"{what} have {top + 1} classes (labels 0 to {top})"
    shown = ", ".join(str(int(v)) for v in labels[:5]) + (", …" if len(labels) > 5 else "")
    return (
        f"{what}'s labels go up to {top} ({len(labels)} distinct: {shown}), so it needs {top + 1} outputs: "
        f"labels are output indices; map them to 0 to {len(labels) - 1}"
    )
