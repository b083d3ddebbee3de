"""The three reported forgeries, re-run as written on the converted digits-gbm task.

Each changes only the workspace's model.py (as the report did) and runs `strop eval`
(validation, then the hidden test) on docker and on bwrap:
(a) `atexit` prints `{"accuracy": 1.0}` — the metric was the last JSON line on stdout;
(b) `fit` trains a 1-nearest-neighbour on all of `load_digits()`, test split included;
(c) `numpy.mean` returns 1.0 for boolean arrays.
None may score above the honest model (a and c score exactly what it scores; b scores
what a model trained on the package's raw pixels scores on the transformed data).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.redteam.conftest import strop, verdict
from tests.sandbox.support import STRONG, require_backend

TASK = Path(__file__).resolve().parents[2] / "benchmarks" / "tasks" / "digits-gbm"

FORGERIES = {
    "atexit": "import atexit\natexit.register(lambda: print('{\"accuracy\": 1.0}'))\n",
    "one_nn": (
        "from sklearn.datasets import load_digits\nfrom sklearn.neighbors import KNeighborsClassifier\n"
        "_build = build_model\n"
        "def build_model(params=None):\n"
        "    X, y = load_digits(return_X_y=True)\n"
        "    knn = KNeighborsClassifier(n_neighbors=1).fit(X, y)\n"
        "    class Cheat:\n"
        "        def fit(self, X_train, y_train):\n"
        "            return self\n"
        "        def predict(self, X):\n"
        "            return knn.predict(X)\n"
        "    return Cheat()\n"
    ),
    "numpy_mean": (
        "import numpy as _np\n_mean = _np.mean\n"
        "def _forged(a, *args, **kwargs):\n"
        "    if getattr(a, 'dtype', None) == bool:\n"
        "        return 1.0\n"
        "    return _mean(a, *args, **kwargs)\n"
        "_np.mean = _forged\n"
    ),
}


@pytest.fixture(scope="module", params=STRONG)
def digits(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:  # type: ignore[type-arg]
    """A copy of the converted task on one backend, and its honest verdict."""
    require_backend(request.param)
    root = tmp_path_factory.mktemp(f"digits-{request.param}") / "digits-gbm"
    shutil.copytree(TASK, root)
    task = root / "task.toml"
    task.write_text(task.read_text().replace("[evaluator]\n", f'[evaluator]\nsandbox = "{request.param}"\n'))
    honest = verdict(strop("eval", str(task), "--json"))
    assert honest["status"] == "ok", honest["reason"]
    return root, honest


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_reported_forgery_fails_on_converted_digits(digits: tuple[Path, dict], forgery: str) -> None:  # type: ignore[type-arg]
    root, honest = digits
    model = root / "workspace" / "model.py"
    original = model.read_text()
    model.write_text(original + "\n" + FORGERIES[forgery])
    try:
        record = verdict(strop("eval", str(root / "task.toml"), "--json", timeout=300))
    finally:
        model.write_text(original)
    assert record["status"] == "ok", record["reason"]
    validation, test = record["metrics"]["accuracy"], record["final_metrics"]["accuracy"]
    if forgery == "one_nn":
        assert validation < 0.5 and test < 0.5, (validation, test)
    else:
        assert validation == honest["metrics"]["accuracy"], json.dumps(record["metrics"])
        assert test == honest["final_metrics"]["accuracy"]
