"""The recipe genome: what the offline proposer may change in a competition's solution.

A recipe is a point of the task's `[space]`, written to the workspace's `params.json` and
read by `solution.py`, which renders it into a pipeline (see that file's docstring for
the steps). The genes:

- preprocessing: `scaler` (standard or quantile-normal, for linear, SVM and kNN models),
  `categorical` (one-hot, ordinal, target encoding cross-fitted inside each fold, or
  counts), `series` (a row of numbered columns as it is, with first differences,
  z-normalised with differences and summary statistics, or MiniRocket's convolution
  features), `date_parts` (month and weekday
  beside years-since and the annual cycle);
- the model: `family`, one of scikit-learn's gradient boosting, random forest, extra
  trees, linear, SVM (RBF) or kNN, or `ensemble`, which cross-validates every family
  (`folds`) and blends them by greedy selection on the out-of-fold predictions under the
  competition's metric; each family's hyper-parameters are active for it and for the
  ensemble, so the search tunes an ensemble's members too;
- for a forecast, `trend` (degree of the time trend) and `recent` (share of the history kept).

The starting recipe is the ensemble with default members: on small data a cross-validated
blend is the strongest single experiment, and a short run may only evaluate a few.
"""

from __future__ import annotations

from typing import Any

FAMILIES = ("ensemble", "hgb", "random_forest", "extra_trees", "linear", "svm", "knn")


def _active(*families: str) -> str:
    return f"family in {list(('ensemble', *families))}"


SPACE = f"""\
family = {{ type = "choice", choices = {list(FAMILIES)} }}
scaler = {{ type = "choice", choices = ["standard", "quantile"] }}
categorical = {{ type = "choice", choices = ["onehot", "target", "count", "ordinal"] }}
series = {{ type = "choice", choices = ["raw", "diffs", "znorm", "rocket"] }}
date_parts = {{ type = "choice", choices = ["off", "on"] }}
folds = {{ type = "int", low = 3, high = 8, when = "family == 'ensemble'" }}
cv_seconds = {{ type = "float", low = 5.0, high = 120.0, log = true, when = "family == 'ensemble'" }}
learning_rate = {{ type = "float", low = 0.02, high = 0.5, log = true, when = "{_active("hgb")}" }}
max_iter = {{ type = "int", low = 20, high = 300, when = "{_active("hgb")}" }}
max_leaf_nodes = {{ type = "int", low = 4, high = 63, when = "{_active("hgb")}" }}
l2 = {{ type = "float", low = 0.0, high = 10.0, when = "{_active("hgb")}" }}
n_estimators = {{ type = "int", low = 50, high = 400, when = "{_active("random_forest", "extra_trees")}" }}
max_features = {{ type = "float", low = 0.1, high = 1.0, when = "{_active("random_forest", "extra_trees")}" }}
min_samples_leaf = {{ type = "int", low = 1, high = 10, when = "{_active("random_forest", "extra_trees")}" }}
C = {{ type = "float", low = 0.001, high = 100.0, log = true, when = "{_active("linear")}" }}
svm_C = {{ type = "float", low = 0.01, high = 1000.0, log = true, when = "{_active("svm")}" }}
gamma = {{ type = "float", low = 0.05, high = 20.0, log = true, when = "{_active("svm")}" }}
n_neighbors = {{ type = "int", low = 1, high = 50, when = "{_active("knn")}" }}
weights = {{ type = "choice", choices = ["distance", "uniform"], when = "{_active("knn")}" }}
"""

DATA_GENES = {"categorical": "categorical", "series": "series", "date_parts": "dates"}
"""Genes that change nothing unless the data has such columns: left out of a space without them."""


def space_for(columns: Any) -> str:
    """The `[space]` for features typed as `columns` (`solution.Columns`), without genes idle on them."""
    present = {
        "categorical": bool(columns.categorical),
        "series": bool(columns.series),
        "dates": bool(columns.dates),
    }
    lines = [
        line
        for line in SPACE.splitlines(keepends=True)
        if (name := line.split(" ", 1)[0]) not in DATA_GENES or present[DATA_GENES[name]]
    ]
    return "".join(lines)


FORECAST_SPACE = """trend = { type = "int", low = 1, high = 3 }
recent = { type = "float", low = 0.1, high = 1.0 }
"""

START_PARAMS = {
    "family": "ensemble",
    "scaler": "standard",
    "categorical": "onehot",
    "series": "raw",
    "date_parts": "off",
    "folds": 4,
    "cv_seconds": 8.0,
    "learning_rate": 0.1,
    "max_iter": 100,
    "max_leaf_nodes": 31,
    "l2": 0.0,
    "n_estimators": 150,
    "max_features": 0.5,
    "min_samples_leaf": 1,
    "C": 1.0,
    "svm_C": 3.0,
    "gamma": 1.0,
    "n_neighbors": 7,
    "weights": "distance",
}

FORECAST_START = {"family": "linear", "C": 100.0, "trend": 2, "recent": 1.0}
