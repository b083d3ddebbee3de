"""Reading scikit-learn and torch model files without running code hidden in them.

A pickle names any importable callable and the unpickler calls it: `os.system` in a
`.joblib` runs when the file is loaded, before strop could look at the result. So
torch files go through torch's own restricted unpickler (`weights_only=True`), and
scikit-learn files through `RestrictedUnpickler`, whose `find_class` admits only the
exact (module, name) pairs a fitted `MLPClassifier` needs. The list was recorded by
dumping fitted MLPs (adam, sgd, lbfgs; early stopping on and off; int, float, str and
bool labels; an int or a `RandomState` seed) with `pickle.dump` (protocols 2–5) and
`joblib.dump` (raw and compressed) under scikit-learn 1.9 / NumPy 2.4 / joblib 1.6 and
logging every `find_class` call; NumPy 1.x spells three of them under `numpy.core`.
Whole modules are never admitted: `numpy.testing`, say, holds exec-like helpers.
`--allow-pickle` (the file's own code runs) bypasses all of this for files the user made.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from agent.errors import UserError

# exact globals a fitted MLPClassifier's pickle asks for; nothing else is ever imported
SKLEARN_ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {
        ("sklearn.neural_network._multilayer_perceptron", "MLPClassifier"),
        ("sklearn.neural_network._stochastic_optimizers", "AdamOptimizer"),
        ("sklearn.neural_network._stochastic_optimizers", "SGDOptimizer"),
        ("sklearn.preprocessing._label", "LabelBinarizer"),
        ("numpy", "dtype"),
        ("numpy", "ndarray"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy.random._mt19937", "MT19937"),
        ("numpy.random._pickle", "__bit_generator_ctor"),
        ("numpy.random._pickle", "__randomstate_ctor"),
        ("joblib.numpy_pickle", "NumpyArrayWrapper"),
        ("_codecs", "encode"),  # protocol 2 writes bytes as encode(text, "latin1")
    }
)
# NumPy 1.x wrote these under numpy.core; read them as the NumPy 2 objects they are
NUMPY1_ALIASES: dict[tuple[str, str], tuple[str, str]] = {
    ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"): ("numpy._core.numeric", "_frombuffer"),
}
MAX_PICKLED_ELEMENTS = 2**28  # one array in a pickled model; the .npz cap (models.py) is the same


class PickleRefused(UserError):
    """A model file that asks for code strop will not run without --allow-pickle."""


def _allowed_global(module: str, name: str) -> tuple[str, str]:
    key = NUMPY1_ALIASES.get((module, name), (module, name))
    if key not in SKLEARN_ALLOWED:
        raise PickleRefused(
            f"refused to load: it asks for {module}.{name}, which is not part of a fitted "
            "scikit-learn MLPClassifier (pass --allow-pickle only for a file you made yourself)"
        )
    return key


def _restricted_unpickler_class() -> type:
    """joblib's unpickler (it reads joblib's out-of-band arrays) with `find_class` narrowed.

    joblib routes the nested pickle of object arrays through this same `find_class`, and
    `load_build` checks an array's declared size before joblib allocates it.
    """
    from joblib.numpy_pickle import NumpyArrayWrapper, NumpyUnpickler

    class RestrictedUnpickler(NumpyUnpickler):  # type: ignore[misc]
        dispatch = NumpyUnpickler.dispatch.copy()

        def find_class(self, module: str, name: str) -> Any:
            return super().find_class(*_allowed_global(module, name))

        def load_build(self) -> None:
            state = self.stack[-1]
            target = self.stack[-2] if len(self.stack) > 1 else None
            if isinstance(target, NumpyArrayWrapper) and isinstance(state, dict):
                _check_wrapped_shape(state.get("shape"))
            super().load_build()

        dispatch[b"b"[0]] = load_build

    return RestrictedUnpickler


def _check_wrapped_shape(shape: Any) -> None:
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise PickleRefused(f"refused to load: an array declares the shape {shape!r}")
    if int(np.prod([float(n) for n in shape])) > MAX_PICKLED_ELEMENTS:
        raise PickleRefused(
            f"refused to load: an array declares {shape} elements, over the {MAX_PICKLED_ELEMENTS:,} cap"
        )


def load_sklearn(path: Path, allow_pickle: bool) -> Any:
    """The object in a .joblib/.pkl file (joblib or plain pickle), unpickled under the allowlist."""
    import joblib
    from joblib.numpy_pickle import _validate_fileobject_and_memmap

    if allow_pickle:
        return joblib.load(path)
    unpickler = _restricted_unpickler_class()
    with open(path, "rb") as handle, _validate_fileobject_and_memmap(handle, str(path), None) as (fobj, _):
        if isinstance(fobj, str):  # joblib < 0.10's multi-file format: its own unrestricted loader
            raise PickleRefused("refused to load: joblib < 0.10 format (re-save it with joblib.dump)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scikit-learn's version-mismatch warning is noise here
            return unpickler(str(path), fobj, ensure_native_byte_order=True).load()


def load_torch(path: Path, allow_pickle: bool) -> Any:
    """A torch checkpoint: weights only (tensors, dicts) unless `allow_pickle` says the file is trusted."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Detected pickle protocol 4" and the like
        if allow_pickle:
            return torch.load(path, map_location="cpu", weights_only=False)
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except torch.serialization.pickle.UnpicklingError as exc:
            raise PickleRefused(_torch_refusal(path, exc)) from None


def _torch_refusal(path: Path, exc: Exception) -> str:
    """One line: a whole pickled nn.Module gets the way to save it; anything else names what it asked for."""
    wanted = _unsafe_globals(path, exc)
    if wanted and all(name.startswith("torch.nn.") for name in wanted):
        return (
            f"it is a whole pickled torch module ({', '.join(wanted)}), and loading one "
            "runs code from the file: save torch.save(model.state_dict(), path) or an .npz instead, "
            "or pass --allow-pickle if you made the file yourself"
        )
    if wanted:
        return f"refused to load: it asks for {', '.join(wanted)}, which is not model weights"
    reason = next((line.strip() for line in str(exc).splitlines() if "Unsupported" in line), "")
    return "refused to load: not a torch.save checkpoint of weights" + (f" ({reason})" if reason else "")


def _unsafe_globals(path: Path, exc: Exception) -> list[str]:
    from torch.serialization import get_unsafe_globals_in_checkpoint

    try:
        return list(get_unsafe_globals_in_checkpoint(path))
    except Exception:  # noqa: BLE001 - a legacy or broken file: read the error's own words instead
        return re.findall(r"GLOBAL ([\w.]+)", str(exc))
