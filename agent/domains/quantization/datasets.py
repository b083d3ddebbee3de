"""The offline data a bundled model is trained, selected and tested on.

scikit-learn's bundled digits (1,797 8×8 images, no download), split once with
a fixed seed into train / validation / test (50 / 25 / 25, stratified). The
search selects on validation only; test is read once per chosen configuration.

The split ships as data/digits_split.npz (pixels as their original 0–16 integers,
30 KB) because importing scikit-learn costs 3–10 s on a shared 2-core machine, a
large slice of a `--time 30s` run; `sklearn_digits_split` rebuilds it from
scikit-learn and a test checks the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

SPLIT_SEED = 20240607


@dataclass(frozen=True)
class Split:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


CACHE = Path(__file__).parent / "data" / "digits_split.npz"
PARTS = ("train", "val", "test")


def digits_split() -> Split:
    """The split, from the shipped file (or from scikit-learn when the file is missing)."""
    if not CACHE.is_file():
        return sklearn_digits_split()
    with np.load(CACHE, allow_pickle=False) as data:
        arrays = {k: np.asarray(data[k]) for k in data.files}
    xs = [(arrays[f"x_{p}"].astype(np.float32) / 16.0).astype(np.float32) for p in PARTS]
    ys = [arrays[f"y_{p}"].astype(np.int64) for p in PARTS]
    return Split(xs[0], ys[0], xs[1], ys[1], xs[2], ys[2])


def write_cache(path: Path = CACHE) -> None:
    """Writes the shipped split file from scikit-learn (run once; the test checks it agrees)."""
    split = sklearn_digits_split()
    arrays = {}
    for part, (x, y) in zip(
        PARTS,
        ((split.x_train, split.y_train), (split.x_val, split.y_val), (split.x_test, split.y_test)),
        strict=True,
    ):
        arrays[f"x_{part}"] = np.round(x * 16).astype(np.uint8)
        arrays[f"y_{part}"] = y.astype(np.uint8)
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def sklearn_digits_split() -> Split:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    y = data.target.astype(np.int64)
    x_tr, x_rest, y_tr, y_rest = train_test_split(x, y, test_size=0.5, stratify=y, random_state=SPLIT_SEED)
    x_va, x_te, y_va, y_te = train_test_split(
        x_rest, y_rest, test_size=0.5, stratify=y_rest, random_state=SPLIT_SEED
    )
    return Split(x_tr, y_tr, x_va, y_va, x_te, y_te)
