"""Model files are read without running code hidden in them; --allow-pickle is the explicit way out."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from agent.domains.quantization.datasets import digits_split
from agent.domains.quantization.models import ModelError, load_model
from tests.quantization.test_cli import strop


class Payload:
    """Unpickling this creates `marker`: a stand-in for any code a hostile file would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def _torch_module():  # noqa: ANN202 - torch is imported lazily
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(64, 20), torch.nn.ReLU(), torch.nn.Linear(20, 10))


def _write_hostile(kind: str, path: Path, marker: Path) -> None:
    import joblib
    import torch

    if kind == "torch":
        torch.save(Payload(marker), path)
    elif kind == "torch-dict":
        torch.save({"0.weight": torch.zeros(10, 64), "0.bias": torch.zeros(10), "x": Payload(marker)}, path)
    elif kind == "joblib":
        joblib.dump(Payload(marker), path)
    elif kind == "joblib-object-array":  # joblib unpickles object arrays from a nested stream
        joblib.dump({"coefs_": np.array([Payload(marker)], dtype=object)}, path)
    else:
        path.write_bytes(pickle.dumps(Payload(marker)))


@pytest.mark.parametrize(
    "kind, name",
    [
        ("torch", "evil.pt"),
        ("torch-dict", "evil_dict.pt"),
        ("pickle", "evil.pth"),
        ("pickle", "evil.pkl"),
        ("joblib", "evil.joblib"),
        ("joblib-object-array", "evil_array.joblib"),
    ],
)
def test_hostile_model_files_are_refused_and_never_run(tmp_path: Path, kind: str, name: str) -> None:
    marker = tmp_path / "PWNED"
    _write_hostile(kind, tmp_path / name, marker)
    with pytest.raises(ModelError, match="refused to load") as caught:
        load_model(str(tmp_path / name))
    assert not marker.exists()
    assert "\n" not in str(caught.value)
    if kind != "pickle" or name.endswith(".pkl"):
        assert "open" in str(caught.value)  # names the global it asked for (io.open / builtins.open)


@pytest.fixture(scope="module")
def fitted_mlp():  # noqa: ANN201 - scikit-learn is imported lazily
    import warnings

    from sklearn.neural_network import MLPClassifier

    split = digits_split()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MLPClassifier((16,), max_iter=20, random_state=0).fit(split.x_train, split.y_train)


@pytest.mark.parametrize("how", ["joblib", "joblib-compressed", "pickle"])
def test_a_fitted_scikit_learn_mlp_still_loads(tmp_path: Path, fitted_mlp, how: str) -> None:
    import joblib

    path = tmp_path / ("m.pkl" if how == "pickle" else "m.joblib")
    if how == "pickle":
        path.write_bytes(pickle.dumps(fitted_mlp))
    else:
        joblib.dump(fitted_mlp, path, compress=3 if how == "joblib-compressed" else 0)
    split = digits_split()
    assert np.array_equal(load_model(str(path)).predict(split.x_val), fitted_mlp.predict(split.x_val))


def test_a_payload_hidden_in_a_real_mlp_is_refused(tmp_path: Path, fitted_mlp) -> None:
    import copy

    import joblib

    marker = tmp_path / "PWNED"
    tainted = copy.copy(fitted_mlp)
    tainted.extra_ = Payload(marker)
    joblib.dump(tainted, tmp_path / "m.joblib")
    with pytest.raises(ModelError, match="refused to load: it asks for .*open"):
        load_model(str(tmp_path / "m.joblib"))
    assert not marker.exists()


def test_a_torch_state_dict_loads_and_a_whole_module_needs_allow_pickle(tmp_path: Path) -> None:
    import torch

    module = _torch_module()
    torch.save(module.state_dict(), tmp_path / "sd.pt")
    assert load_model(str(tmp_path / "sd.pt")).shapes() == [(20, 64), (10, 20)]
    torch.save(module, tmp_path / "whole.pt")
    with pytest.raises(ModelError, match="whole pickled torch module .*state_dict\\(\\).*--allow-pickle"):
        load_model(str(tmp_path / "whole.pt"))
    assert load_model(str(tmp_path / "whole.pt"), allow_pickle=True).shapes() == [(20, 64), (10, 20)]


def test_the_cli_refuses_a_hostile_file_and_allow_pickle_loads_a_whole_module(tmp_path: Path) -> None:
    import torch

    marker = tmp_path / "PWNED"
    _write_hostile("joblib", tmp_path / "evil.joblib", marker)
    done = strop("--model", str(tmp_path / "evil.joblib"), "--generations", "0")
    assert done.returncode == 2 and "refused to load" in done.stderr and "Traceback" not in done.stderr
    assert not marker.exists()
    torch.save(_torch_module(), tmp_path / "whole.pt")
    args = ("--model", str(tmp_path / "whole.pt"), "--budget-bits", "32", "--generations", "0",
            "--population", "2", "--workers", "0", "--baselines", "none", "--out", str(tmp_path / "o"))  # fmt: skip
    refused = strop(*args)
    assert refused.returncode == 2 and "state_dict()" in refused.stderr
    done = strop(*args, "--allow-pickle")
    assert done.returncode == 0, done.stderr
