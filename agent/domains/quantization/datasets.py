"""The offline data a model is selected and tested on: the bundled digits, or the user's (--data).

scikit-learn's bundled digits (1,797 8×8 images, no download), split once with
a fixed seed into train / validation / test (50 / 25 / 25, stratified). The
search selects on validation only; test is read once per chosen configuration.

The split ships as data/digits_split.npz (pixels as their original 0–16 integers,
30 KB) because importing scikit-learn costs 3–10 s on a shared 2-core machine, a
large slice of a `--time 30s` run; `sklearn_digits_split` rebuilds it from
scikit-learn and a test checks the two agree.
"""

from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.domains.quantization.npzfile import NpzRefused, read_npz
from agent.errors import UserError

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


class DataError(UserError):
    """A --data file strop cannot select and test on."""


MAX_LABEL = 2**20 - 1  # a class index a model's outputs could name; larger ones are not class indices
MIN_PER_PART = 10  # fewer samples than this in train, validation or test cannot rank anything
# squares of inputs summed over the 2^28 values an array may hold (GPTQ's and HAWQ's Hessians) stay
# below float32's 3.4e38: the bound models.MAX_WEIGHT puts on weights
MAX_FEATURE = 1e15


def load_split(path: Path) -> Split:
    """A user's classification data (.npz): its own split, or `x`, `y` that strop splits.

    Either `x_train, y_train, x_val, y_val, x_test, y_test`, or `x` and `y`, split here
    50 / 25 / 25 per class with a fixed seed as the bundled digits are. `x` is (n, features)
    or (n, channels, height, width) for a convolutional model; `y` holds class indices 0…K−1.
    """
    arrays = _read(path)
    named = [f"{axis}_{part}" for part in PARTS for axis in ("x", "y")]
    if all(k in arrays for k in named):
        parts = [
            (_features(arrays[f"x_{p}"], f"x_{p}", path), _labels(arrays[f"y_{p}"], f"y_{p}", path))
            for p in PARTS
        ]
        _classes(np.concatenate([y for _, y in parts]), "y_train, y_val and y_test hold", path)
    elif "x" in arrays and "y" in arrays:
        x, y = _features(arrays["x"], "x", path), _labels(arrays["y"], "y", path)
        if len(x) != len(y):  # one label per row, or the split pairs rows with the wrong labels
            raise DataError(f"data file {path}: x has {len(x)} rows, y {len(y)}: one label per row")
        if not len(y):
            raise DataError(f"data file {path}: x and y hold no samples")
        _classes(y, "y holds", path)
        parts = _stratified(x, y)
    else:
        raise DataError(
            f"data file {path} needs arrays x and y, or x_train, y_train, x_val, y_val, x_test, y_test "
            f"(it has: {', '.join(sorted(arrays)) or 'none'})"
        )
    for part, (x, y) in zip(PARTS, parts, strict=True):
        if len(x) != len(y):
            raise DataError(f"data file {path}: {part} has {len(x)} inputs but {len(y)} labels")
        if len(y) < MIN_PER_PART:
            raise DataError(f"data file {path}: {part} has {len(y)} samples, fewer than {MIN_PER_PART}")
        _classes(y, f"the {part} part holds", path)
    if len({x.shape[1:] for x, _ in parts}) != 1:
        raise DataError(f"data file {path}: train, validation and test inputs differ in shape")
    return Split(*(array for pair in parts for array in pair))


def _read(path: Path) -> dict[str, np.ndarray]:
    """The file's arrays, size-checked from their headers before loading (npzfile.py)."""
    try:
        return read_npz(path)
    except NpzRefused as exc:
        raise DataError(f"cannot read data file {path}: {exc}") from None
    except (
        OSError,
        ValueError,
        EOFError,
        RuntimeError,
        NotImplementedError,
        zlib.error,
        zipfile.BadZipFile,
    ) as exc:
        message = " ".join(str(exc).split())[:300]
        raise DataError(f"cannot read data file {path}: {type(exc).__name__}: {message}") from None


def _features(x: np.ndarray, name: str, path: Path) -> np.ndarray:
    if x.dtype.kind not in "biuf" or x.ndim not in (2, 4):
        raise DataError(
            f"data file {path}: inputs {name} must be numbers shaped (n, features) or (n, channels, h, w), "
            f"got {x.dtype} {x.shape}"
        )
    with np.errstate(all="ignore"):
        values = x.astype(np.float32)
        finite = np.isfinite(values)
        if not finite.all():
            where = _position(~finite)
            raise DataError(
                f"data file {path}: inputs {name} hold non-finite values (NaN, infinity, or beyond float32), "
                f"first at {where}"
            )
        large = np.abs(values) > MAX_FEATURE
    if large.any():
        where = _position(large)
        raise DataError(
            f"data file {path}: inputs {name} hold values beyond ±{MAX_FEATURE:g} ({values[large][0]:g} at {where}): "
            "quantizing them overflows float32; scale the features"
        )
    return values


def _position(mask: np.ndarray) -> str:
    """Where `mask` first holds, in words: row and feature, or row, channel and pixel."""
    index = [int(i) for i in np.unravel_index(int(np.argmax(mask)), mask.shape)]
    if len(index) == 2:
        return f"row {index[0]}, feature {index[1]}"
    return f"row {index[0]}, channel {index[1]}, pixel ({index[2]}, {index[3]})"


def _labels(y: np.ndarray, name: str, path: Path) -> np.ndarray:
    if y.ndim != 1 or y.dtype.kind not in "biuf":
        raise DataError(
            f"data file {path}: labels {name} must be one class index per sample, got {y.dtype} {y.shape}"
        )
    if y.dtype.kind == "f" and not (np.isfinite(y).all() and (y == np.round(y)).all()):
        raise DataError(f"data file {path}: labels {name} must be whole class indices 0, 1, 2, …")
    if len(y) and (y.min() < 0 or y.max() > MAX_LABEL):  # compared before any cast can wrap or overflow
        found = y.min() if y.min() < 0 else y.max()
        shown = f"{found:g}" if y.dtype.kind == "f" else str(int(found))
        raise DataError(
            f"data file {path}: labels {name} must be integer class indices 0 to {MAX_LABEL:,}, found {shown}"
        )
    return y.astype(np.int64)


def _classes(y: np.ndarray, where: str, path: Path) -> None:
    """At least two classes: accuracy on a single class scores no classifier (predict it always: 100%)."""
    labels = np.unique(y)
    if len(labels) == 1:
        raise DataError(
            f"data file {path}: {where} a single class ({int(labels[0])}): "
            "a classifier needs at least 2 classes to be scored on"
        )


def _stratified(x: np.ndarray, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """50 / 25 / 25 of every class, shuffled with `SPLIT_SEED` (NumPy: scikit-learn costs seconds to import)."""
    rng = np.random.default_rng(SPLIT_SEED)
    chosen: list[list[np.ndarray]] = [[], [], []]
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        first, second = round(len(members) * 0.5), round(len(members) * 0.75)
        for k, piece in enumerate(np.split(members, [first, second])):
            chosen[k].append(piece)
    parts = []
    for pieces in chosen:
        order = rng.permutation(np.concatenate(pieces))
        parts.append((x[order], y[order]))
    return parts
