"""Evaluator (protected): fits model.build_model() on the training split of the diabetes data.

Prints one JSON line: validation RMSE by default, test RMSE with --final.
`score(params)` is the same measurement as a function (the benchmarks call it in-process).
"""

import json
import sys

import model
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split


def splits():
    X, y = load_diabetes(return_X_y=True)
    X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=0.25, random_state=3)
    X_train, X_val, y_train, y_val = train_test_split(X_rest, y_rest, test_size=0.3, random_state=3)
    return (X_train, y_train), (X_val, y_val), (X_test, y_test)


def score(params=None, final=False):
    (X_train, y_train), validation, test = splits()
    X_eval, y_eval = test if final else validation
    regressor = model.build_model(params)
    regressor.fit(X_train, y_train)
    return {"rmse": float(np.sqrt(np.mean((regressor.predict(X_eval) - y_eval) ** 2)))}


if __name__ == "__main__":
    print(json.dumps(score(final="--final" in sys.argv)))
