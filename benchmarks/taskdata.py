"""Prepared data for the bundled tasks: public and private files, not trivially matchable.

The bundled tasks use data sets that ship inside Python packages (scikit-learn's
digits and diabetes). A candidate can import the same package, so a hidden split
written as "rows 1347–1796 of load_digits()" is no secret: a 1-nearest-neighbour
lookup into the package's copy reads the answers. The prepared files are therefore
a seeded transformation of the package's data — rows shuffled, columns permuted,
each column scaled and shifted, small noise added — whose key (the seed) lives only
in the task's private folder. Tree models and standardised linear models are
unaffected (each column is transformed monotonically); matching rows back to the
package's copy now takes solving for the permutation and the affine maps first.
That is a speed bump, not a proof: a determined candidate with enough compute
could still undo it, and each task's comment says so.

Public files are .npz (X, and y for the training split); private files are JSON
(the labels a scorer needs, in row order), so that scorers need only the standard
library and start fast.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Split:
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray


def key_of(private_root: Path) -> int:
    """The task's transformation key, kept in its private folder (made on first use)."""
    path = private_root / "key.json"
    if path.exists():
        return int(json.loads(path.read_text())["seed"])
    seed = secrets.randbelow(2**31)
    path.write_text(json.dumps({"seed": seed}) + "\n")
    return seed


def obfuscate(X: np.ndarray, seed: int, noise: float) -> np.ndarray:
    """Permute columns, scale and shift each one, add Gaussian noise of `noise` × the column's spread."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(X.shape[1])
    scale = rng.uniform(0.5, 2.0, X.shape[1])
    shift = rng.uniform(-3.0, 3.0, X.shape[1])
    spread = X.std(axis=0) + 1e-9
    noisy = X + rng.normal(0.0, 1.0, X.shape) * spread * noise
    return (noisy * scale + shift)[:, order].round(4).astype(np.float32)


def split_rows(n: int, seed: int, test: float, validation: float) -> Split:
    rng = np.random.default_rng(seed + 1)
    rows = rng.permutation(n)
    n_test = round(n * test)
    n_val = round((n - n_test) * validation)
    return Split(train=rows[n_test + n_val :], validation=rows[n_test : n_test + n_val], test=rows[:n_test])


def write(task_dir: Path, X: np.ndarray, y: np.ndarray, split: Split, cast: type) -> None:
    """public/{train,validation,test}.npz and private/{validate,final}/labels.json."""
    public = task_dir / "public"
    public.mkdir(exist_ok=True)
    np.savez_compressed(public / "train.npz", X=X[split.train], y=y[split.train])
    np.savez_compressed(public / "validation.npz", X=X[split.validation])
    np.savez_compressed(public / "test.npz", X=X[split.test])
    for phase, rows, name in (("validate", split.validation, "validation"), ("final", split.test, "test")):
        folder = task_dir / "private" / phase
        folder.mkdir(parents=True, exist_ok=True)
        labels = {"split": name, "labels": [cast(v) for v in y[rows]]}
        (folder / "labels.json").write_text(json.dumps(labels) + "\n")
