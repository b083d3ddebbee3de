"""Rebuild this task's public and private data from scikit-learn's diabetes (see benchmarks/taskdata.py).

    .venv/bin/python benchmarks/tasks/diabetes-pca/prepare.py

The key lives in private/key.json; the same key gives the same files.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from sklearn.datasets import load_diabetes  # noqa: E402

from benchmarks.taskdata import key_of, obfuscate, split_rows, write  # noqa: E402

if __name__ == "__main__":
    X, y = load_diabetes(return_X_y=True)
    (HERE / "private").mkdir(exist_ok=True)
    seed = key_of(HERE / "private")
    write(HERE, obfuscate(X, seed, noise=0.01), y, split_rows(len(y), seed, test=0.25, validation=0.3), float)
