"""--data: a user's own classifier and data, split, checked, searched and tested on."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from agent.domains.quantization.datasets import DataError, load_split
from agent.domains.quantization.models import ModelError, load_model
from tests.quantization.test_cli import strop


def _blobs(
    n: int = 600, features: int = 20, classes: int = 3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping Gaussian classes: an MLP gets most of them, not all, so quantization can cost."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1.2, (classes, features))
    y = rng.integers(0, classes, n)
    return (centres[y] + rng.normal(0, 1.5, (n, features))).astype(np.float32), y


def test_x_and_y_are_split_half_quarter_quarter_per_class(tmp_path: Path) -> None:
    x, y = _blobs()
    np.savez(tmp_path / "d.npz", x=x, y=y)
    split = load_split(tmp_path / "d.npz")
    parts = [(split.x_train, split.y_train), (split.x_val, split.y_val), (split.x_test, split.y_test)]
    for label in range(3):
        members = int((y == label).sum())
        counts = [int((part_y == label).sum()) for _, part_y in parts]
        assert (
            sum(counts) == members and abs(counts[0] - members / 2) <= 1 and abs(counts[1] - members / 4) <= 1
        )
    rows = {tuple(row) for part_x, _ in parts for row in part_x}
    assert len(rows) == len(x)  # every sample once: train, validation and test are disjoint
    again = load_split(tmp_path / "d.npz")
    assert np.array_equal(again.x_test, split.x_test)  # a fixed seed: the same split every run


def test_a_given_split_is_kept(tmp_path: Path) -> None:
    x, y = _blobs(300)
    np.savez(tmp_path / "d.npz", x_train=x[:100], y_train=y[:100], x_val=x[100:200], y_val=y[100:200],
             x_test=x[200:], y_test=y[200:])  # fmt: skip
    split = load_split(tmp_path / "d.npz")
    assert np.array_equal(split.x_val, x[100:200]) and np.array_equal(split.y_test, y[200:])


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"inputs": np.zeros((40, 3))}, "needs arrays x and y"),
        ({"x": np.full((40, 3), np.nan), "y": np.zeros(40, int)}, "non-finite"),
        ({"x": np.zeros((40, 3)), "y": -np.ones(40, int)}, "class indices"),
        ({"x": np.zeros((40, 3)), "y": np.full(40, 0.5)}, "whole class indices"),
        ({"x": np.zeros((12, 3)), "y": np.arange(12) % 2}, "fewer than 10"),
        ({"x": np.zeros((40, 3, 2)), "y": np.zeros(40, int)}, "shaped \\(n, features\\)"),
        ({"x": np.array(["a"] * 40), "y": np.zeros(40, int)}, "must be numbers"),
        ({"x": np.zeros((40, 3)), "y": np.full(40, 3)}, "y holds a single class \\(3\\)"),
        (
            {"x": np.full((40, 3), 1e30), "y": np.arange(40) % 2},
            "beyond ±1e\\+15 \\(1e\\+30 at row 0, feature 0\\)",
        ),
        (
            {"x": np.full((40, 1, 2, 2), -1e16), "y": np.arange(40) % 2},
            "at row 0, channel 0, pixel \\(0, 0\\)",
        ),
        ({"x": np.full((40, 3), np.inf), "y": np.arange(40) % 2}, "non-finite .* first at row 0, feature 0"),
    ],
)
def test_bad_data_is_one_clear_error(tmp_path: Path, arrays: dict, message: str) -> None:
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(DataError, match=message):
        load_split(tmp_path / "d.npz")


def test_a_given_split_needs_two_classes_in_every_part(tmp_path: Path) -> None:
    x, y = _blobs(300)
    np.savez(tmp_path / "d.npz", x_train=x[:100], y_train=y[:100], x_val=x[100:200], y_val=np.zeros(100, int),
             x_test=x[200:], y_test=y[200:])  # fmt: skip
    with pytest.raises(DataError, match="the val part holds a single class \\(0\\)"):
        load_split(tmp_path / "d.npz")
    np.savez(tmp_path / "d.npz", x_train=x[:100], y_train=np.ones(100, int), x_val=x[100:200],
             y_val=np.ones(100, int), x_test=x[200:], y_test=np.ones(100, int))  # fmt: skip
    with pytest.raises(DataError, match="y_train, y_val and y_test hold a single class \\(1\\)"):
        load_split(tmp_path / "d.npz")


def test_data_no_score_can_be_trusted_on_is_refused_by_the_command(tmp_path: Path) -> None:
    """One class, or features that overflow float32 once squared, stop `strop evolve quant` in one line."""
    from agent.domains.quantization.datasets import digits_split

    digits = digits_split()
    x, y = np.concatenate([digits.x_train, digits.x_val]), np.concatenate([digits.y_train, digits.y_val])
    huge = x.copy()
    huge[5, 7] = 1e30
    cases = {
        "one.npz": ({"x": x, "y": np.full_like(y, 3)}, "y holds a single class (3)"),
        "huge.npz": ({"x": huge, "y": y}, "inputs x hold values beyond ±1e+15 (1e+30 at row 5, feature 7)"),
    }
    for name, (arrays, message) in cases.items():
        np.savez(tmp_path / name, **arrays)
        done = strop(
            "--model", "digits-mlp", "--data", str(tmp_path / name), "--budget-bits", "4",
            "--generations", "0", "--baselines", "none", "--json",
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and lines[0].startswith(f"error: data file {tmp_path / name}: "), done.stderr
        assert message in lines[0] and "Traceback" not in done.stderr and not done.stdout


def test_a_pickle_or_a_broken_file_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x=np.array([{"payload": 1}] * 40, dtype=object), y=np.zeros(40, int))
    with pytest.raises(DataError, match="cannot read data file"):  # allow_pickle=False: never unpickled
        load_split(path)
    path.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataError, match="cannot read data file"):
        load_split(path)
    (tmp_path / "p.npz").write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(DataError, match="cannot read data file"):
        load_split(tmp_path / "p.npz")


def test_the_model_must_fit_the_data(tmp_path: Path) -> None:
    x, y = _blobs(features=20, classes=5)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    split = load_split(tmp_path / "d.npz")
    with pytest.raises(ModelError, match="takes \\(64,\\) inputs, --data have 20 features"):
        load_model("digits-mlp", split)
    np.savez(tmp_path / "three.npz", W0=np.ones((3, 20)), b0=np.zeros(3))
    with pytest.raises(ModelError, match="gives 3 outputs per input, --data have 5 classes"):
        load_model(str(tmp_path / "three.npz"), split)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_scikit_learn_model_is_searched_and_tested_on_the_users_data(tmp_path: Path) -> None:
    import joblib
    from sklearn.neural_network import MLPClassifier

    x, y = _blobs()
    np.savez(tmp_path / "d.npz", x=x, y=y)
    split = load_split(tmp_path / "d.npz")
    model = MLPClassifier((32,), max_iter=300, random_state=0).fit(split.x_train, split.y_train)
    joblib.dump(model, tmp_path / "m.joblib")
    done = strop(
        "--model", str(tmp_path / "m.joblib"), "--data", str(tmp_path / "d.npz"), "--budget-bits", "4",
        "--generations", "1", "--population", "6", "--workers", "0", "--baselines", "fast",
        "--groups", "4,10", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    # fp32's scores are the model's own accuracy on this split's validation and test parts
    assert report["fp32"]["val_acc"] == pytest.approx(
        float((model.predict(split.x_val) == split.y_val).mean())
    )
    assert report["fp32"]["test_acc"] == pytest.approx(
        float((model.predict(split.x_test) == split.y_test).mean())
    )
    assert report["chosen"]["avg_bits"] <= 4.0 and 0.5 < report["chosen"]["test_acc"] <= 1.0
    mismatch = strop("--model", "digits-mlp", "--data", str(tmp_path / "d.npz"), "--generations", "0")
    assert mismatch.returncode == 2 and "--data have 20 features" in mismatch.stderr
    assert "Traceback" not in mismatch.stderr
    minilm = strop("--model", "minilm", "--data", str(tmp_path / "d.npz"), "--generations", "0")
    assert minilm.returncode == 2 and "--data is for classification models" in minilm.stderr
