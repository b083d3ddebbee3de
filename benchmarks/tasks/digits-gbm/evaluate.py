"""Evaluator (protected): fits model.build_model() on the training split.

Prints one JSON line: validation accuracy by default, test accuracy with --final.
`score(params)` is the same measurement as a function (the benchmarks call it in-process).
"""

import json
import sys
import time

import model
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def splits():
    X, y = load_digits(return_X_y=True)
    X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=0.25, random_state=7, stratify=y)
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=0.25, random_state=7, stratify=y_rest
    )
    return (X_train, y_train), (X_val, y_val), (X_test, y_test)


def score(params=None, final=False):
    (X_train, y_train), validation, test = splits()
    X_eval, y_eval = test if final else validation
    started = time.perf_counter()
    clf = model.build_model(params)
    clf.fit(X_train, y_train)
    seconds = time.perf_counter() - started
    accuracy = float(np.mean(clf.predict(X_eval) == y_eval))
    return {"accuracy": accuracy, "fit_seconds": round(seconds, 3)}


def main() -> None:
    print(json.dumps(score(final="--final" in sys.argv)))


if __name__ == "__main__":
    main()
