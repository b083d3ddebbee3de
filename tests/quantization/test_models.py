"""Models: bundled weights, file formats, conversions from scikit-learn and torch, NumPy vs torch forward."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from agent.domains.quantization.datasets import digits_split
from agent.domains.quantization.models import (
    ModelError,
    from_sklearn,
    from_torch,
    load_model,
    load_npz,
    save_npz,
)
from agent.domains.quantization.network import torch_forward, torch_params


@pytest.fixture(scope="module")
def split():
    return digits_split()


def test_bundled_models_are_accurate_and_shaped(split) -> None:
    mlp, cnn = load_model("digits-mlp"), load_model("digits-cnn")
    assert len(mlp.quantizable) >= 6 and len(cnn.quantizable) >= 4
    for net in (mlp, cnn):
        assert (net.predict(split.x_test) == split.y_test).mean() > 0.96


def test_numpy_forward_matches_torch(split) -> None:
    import torch

    for name in ("digits-mlp", "digits-cnn"):
        net = load_model(name)
        ours = net.forward(split.x_val[:64])[0]
        with torch.no_grad():
            theirs = torch_forward(net, torch.tensor(split.x_val[:64]), torch_params(net)).numpy()
        assert np.allclose(ours, theirs, atol=1e-4), name


def test_matrix_view_round_trips_through_with_matrices() -> None:
    cnn = load_model("digits-cnn")
    again = cnn.with_matrices(cnn.matrices())
    for a, b in zip(cnn.layers, again.layers, strict=True):
        if hasattr(a, "weight"):
            assert np.array_equal(a.weight, b.weight)


def test_npz_round_trip(tmp_path: Path, split) -> None:
    cnn = load_model("digits-cnn")
    path = tmp_path / "m.npz"
    save_npz(cnn, path)
    assert np.array_equal(load_model(str(path)).predict(split.x_val), cnn.predict(split.x_val))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_sklearn_and_torch_conversions_agree_with_their_library(split) -> None:
    import torch
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier((32, 16), max_iter=30, random_state=0).fit(split.x_train, split.y_train)
    net = from_sklearn(clf)
    assert np.array_equal(net.predict(split.x_val), clf.predict(split.x_val))
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(64, 20), torch.nn.ReLU(), torch.nn.Linear(20, 10))
    with torch.no_grad():
        expected = module(torch.tensor(split.x_val)).numpy()
    assert np.allclose(from_torch(module).forward(split.x_val)[0], expected, atol=1e-5)


def test_model_files_from_libraries(tmp_path: Path) -> None:
    import torch

    module = torch.nn.Sequential(torch.nn.Linear(64, 20), torch.nn.ReLU(), torch.nn.Linear(20, 10))
    torch.save(module, tmp_path / "m.pt")  # a whole pickled module: its code would run (test_safe_pickle.py)
    assert load_model(str(tmp_path / "m.pt"), allow_pickle=True).shapes() == [(20, 64), (10, 20)]
    torch.save(module.state_dict(), tmp_path / "sd.pt")
    assert load_model(str(tmp_path / "sd.pt")).shapes() == [(20, 64), (10, 20)]
    np.savez(
        tmp_path / "plain.npz", W0=np.ones((8, 64)), b0=np.zeros(8), W1=np.ones((10, 8)), b1=np.zeros(10)
    )
    assert load_model(str(tmp_path / "plain.npz")).shapes() == [(8, 64), (10, 8)]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"not a zip file at all", "cannot read weights file"),
        (None, "non-finite"),
        (b"", "cannot read weights file"),
    ],
)
def test_bad_weight_files_are_user_errors(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "bad.npz"
    if content is None:
        np.savez(path, W0=np.full((10, 64), np.nan), b0=np.zeros(10))
    else:
        path.write_bytes(content)
    with pytest.raises(ModelError, match=message):
        load_model(str(path))


def test_wrong_shapes_and_unknown_names(tmp_path: Path) -> None:
    np.savez(tmp_path / "wide.npz", W0=np.ones((10, 32)), b0=np.zeros(10))
    with pytest.raises(ModelError, match="the digits have 64 features"):
        load_model(str(tmp_path / "wide.npz"))
    with pytest.raises(ModelError, match="unknown model"):
        load_model("resnet-50")
    (tmp_path / "junk.pkl").write_bytes(pickle.dumps({"not": "a model"}))
    with pytest.raises(ModelError):
        load_model(str(tmp_path / "junk.pkl"))


def test_truncated_npz_is_a_user_error(tmp_path: Path) -> None:
    source = Path(load_npz.__code__.co_filename).parent / "data" / "digits-mlp.npz"
    path = tmp_path / "cut.npz"
    path.write_bytes(source.read_bytes()[:5000])
    with pytest.raises(ModelError, match="cannot read weights file"):
        load_model(str(path))


def test_a_missing_path_an_unknown_name_and_a_non_model_file_each_say_what_is_wrong(tmp_path: Path) -> None:
    """A path that is not there is "no such file", not an "unknown model"; a name lists minilm too;
    a file of no model type (/etc/passwd) is refused by its suffix, not read as a pickle (IndexError)."""
    with pytest.raises(ModelError, match="no such model file"):
        load_model(str(tmp_path / "nonexistent.npz"))
    with pytest.raises(ModelError, match="no such model file"):
        load_model(str(tmp_path / "sub" / "model"))
    with pytest.raises(
        ModelError, match="unknown model 'resnet-50': give one of digits-mlp, digits-cnn, minilm"
    ):
        load_model("resnet-50")
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/bash\n")
    with pytest.raises(
        ModelError, match=r"strop reads \.npz, \.pt/\.pth and \.joblib/\.pkl model files"
    ) as caught:
        load_model(str(passwd))
    assert "IndexError" not in str(caught.value)
    with pytest.raises(ModelError, match="is not a file"):
        load_model(str(tmp_path))


def _rescaled_mlp(path: Path, up: float) -> Path:
    """The bundled MLP with layer 0 (and its bias) times `up` and layer 2 divided by it: through the
    ReLU between them, the same function, with weights past what an fp16 scale holds."""
    shipped = Path(load_npz.__code__.co_filename).parent / "data" / "digits-mlp.npz"
    with np.load(shipped, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    arrays["weight_0"] = arrays["weight_0"] * np.float32(up)
    arrays["bias_0"] = arrays["bias_0"] * np.float32(up)
    arrays["weight_2"] = arrays["weight_2"] / np.float32(up)
    np.savez(path, **arrays)
    return path


def test_weights_past_what_fp16_scales_hold_are_refused_naming_the_layer(tmp_path: Path, split) -> None:
    """int/power scales are fp16 (size.py): 1e6 made them inf, every weight NaN, and HAWQ's ILP crashed.
    The model is refused at load time, in one line naming the layer and the limit."""
    with pytest.raises(ModelError, match=r"layer 0 \(dense\) holds weights up to 5\.886e\+05 .* past 65504"):
        load_model(str(_rescaled_mlp(tmp_path / "big.npz", 1e6)))
    # just under the limit the model loads, computes what the bundled one does, and quantizes finitely
    from agent.domains.quantization.formats import Format, LayerGene
    from agent.domains.quantization.quantizers import quantize_rtn

    near = load_model(str(_rescaled_mlp(tmp_path / "near.npz", 1e5)))
    assert (near.predict(split.x_test) == load_model("digits-mlp").predict(split.x_test)).mean() > 0.99
    weight = np.asarray(near.layers[0].weight, np.float64)
    for gene in (
        LayerGene.make(Format.INT_SYM, 3),
        LayerGene.make(Format.INT_ASYM, 2),
        LayerGene.make(Format.FP8),
    ):
        assert np.isfinite(quantize_rtn(weight, gene)).all(), gene.label()
