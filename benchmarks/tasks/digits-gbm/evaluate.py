"""Evaluator (protected): fits model.build_model() on the training split.

Prints one JSON line: validation accuracy by default, test accuracy with --final.
"""

import json
import sys
import time

import model
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def main() -> None:
    X, y = load_digits(return_X_y=True)
    X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=0.25, random_state=7, stratify=y)
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=0.25, random_state=7, stratify=y_rest
    )
    started = time.perf_counter()
    clf = model.build_model()
    clf.fit(X_train, y_train)
    seconds = time.perf_counter() - started
    if "--final" in sys.argv:
        X_eval, y_eval = X_test, y_test
    else:
        X_eval, y_eval = X_val, y_val
    accuracy = float(np.mean(clf.predict(X_eval) == y_eval))
    print(json.dumps({"accuracy": accuracy, "fit_seconds": round(seconds, 3)}))


if __name__ == "__main__":
    main()
