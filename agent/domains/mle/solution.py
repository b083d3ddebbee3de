"""A competition solution: a recipe read from params.json, fitted on the public data, predictions written.

`strop mle run` copies this file (and `metrics.py`, the competition metrics by name) into
the task's workspace as the starting point; strop's offline proposer changes `params.json`
(the recipe: preprocessing, features, model family and hyper-parameters, see
`agent/domains/mle/recipe.py`), and a person or an LLM may change this file itself.
Stage `run` executes it as `python solution.py`:

    reads   $STROP_PUBLIC/fit.csv        training rows (features and targets)
            $STROP_PUBLIC/holdout.csv    held-out training rows, features only (for selection)
            $STROP_PUBLIC/test.csv       the competition's test rows
            $STROP_PUBLIC/mle.json       id column, target columns, classification or regression,
                                         metric, whether the rows are a forecast's (in time)
    writes  $STROP_OUTPUTS/holdout.csv      a prediction per held-out row
            $STROP_OUTPUTS/submission.csv   a prediction per test row, in sample_submission's format

The recipe, step by step:

1. Data typing: each column is numeric, categorical (text with few distinct values),
   free text (long strings, many distinct values), or a date (ISO dates). When every
   feature is numeric, the names differ only by a number (`t000`, `t001`, …) and
   neighbouring columns move together, a row is a series.
2. Row-wise features (no targets used, so no leak): a date becomes years since the first
   date (powers up to `trend`), the annual cycle as sines and cosines and, with
   `date_parts`, its month and weekday; a series gets its first differences (`series =
   "diffs"`), is z-normalised with differences and summary statistics (`"znorm"`), or
   becomes MiniRocket-style convolution features (`"rocket"`);
   categories get their counts over all rows (`categorical = "count"`).
3. Column encoding inside the model's pipeline, so cross-validation refits it per fold:
   numbers imputed (and scaled for linear, SVM and kNN models: `scaler`), categories
   one-hot, ordinal or target-encoded (scikit-learn's `TargetEncoder` cross-fits its own
   training rows), text as TF-IDF reduced to 64 dimensions.
4. A model: one family (`hgb`, `random_forest`, `extra_trees`, `linear`, `svm`, `knn`),
   or `ensemble`: every family of the pool is cross-validated on fit.csv (`folds`; in time
   order for a forecast), and a greedy forward selection (Caruana et al. 2004) on the
   out-of-fold predictions, scored with the competition's metric, weights the members;
   the chosen members are refitted on all of fit.csv and their predictions averaged.

For a forecast, `recent` keeps only the latest share of the training rows (old regimes
mislead a trend). The chosen experiment runs once more for its grade with every training
row in fit.csv (the held-out ones too, up to the last known date for a forecast): this
file does not need to know which run it is. A recipe that cannot plausibly finish in the
time stage `run` is given (`STROP_RUN_SECONDS`) stops before fitting (`time_check`).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.decomposition import TruncatedSVD

STARTED = time.monotonic()
POOL = ("linear", "svm", "knn", "random_forest", "extra_trees", "hgb")
ENSEMBLE_ROUNDS = 20
TEXT_DIMENSIONS = 64


def load_params() -> dict[str, Any]:
    return json.loads((Path(__file__).parent / "params.json").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- 1. data typing
@dataclass
class Columns:
    """What each feature column is."""

    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    dates: list[str] = field(default_factory=list)
    series: bool = False  # every feature numeric, named STEM + number: a row is a series


def column_types(frame: pd.DataFrame) -> Columns:
    columns = Columns()
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values):  # bools count as numbers
            columns.numeric.append(column)
            continue
        present = values.dropna().astype(str)
        if len(present) and pd.to_datetime(present, errors="coerce", format="ISO8601").notna().mean() > 0.95:
            columns.dates.append(column)
        elif len(present) and present.str.len().mean() > 20 and present.nunique() > 0.3 * len(present):
            columns.text.append(column)
        else:
            columns.categorical.append(column)
    stems = {re.sub(r"\d+$", "", column) for column in columns.numeric}
    columns.series = (
        len(columns.numeric) >= 10
        and len(columns.numeric) == len(frame.columns)
        and len(stems) == 1
        and all(re.search(r"\d+$", column) for column in columns.numeric)
        and _smooth(frame[columns.numeric])
    )
    return columns


def _smooth(frame: pd.DataFrame) -> bool:
    """Neighbouring columns move together, as the steps of a series do (median correlation > 0.5)."""
    values = frame.to_numpy(dtype=float)
    values = values[~np.isnan(values).any(axis=1)]
    if len(values) < 3:
        return False
    with np.errstate(invalid="ignore", divide="ignore"):
        pairs = [np.corrcoef(values[:, k], values[:, k + 1])[0, 1] for k in range(values.shape[1] - 1)]
    return bool(np.nanmedian(pairs) > 0.5) if not np.isnan(pairs).all() else False


def date_columns(frame: pd.DataFrame) -> list[str]:
    return column_types(frame).dates


# --------------------------------------------------------------------------- 2. row-wise features
def expand_dates(frame: pd.DataFrame, dates: list[str], trend: int, parts: bool) -> pd.DataFrame:
    """Each date column becomes years since its first date (powers 1..trend) and the annual cycle."""
    frame = frame.copy()
    for column in dates:
        moments = pd.to_datetime(frame.pop(column), errors="coerce", format="ISO8601")
        years = (moments - moments.min()).dt.days / 365.25
        for power in range(1, trend + 1):
            frame[f"{column}_t{power}"] = years**power
        phase = 2 * np.pi * (moments.dt.day_of_year - 1) / 365.25
        for k in range(1, 4):
            frame[f"{column}_sin{k}"], frame[f"{column}_cos{k}"] = np.sin(k * phase), np.cos(k * phase)
        if parts:
            frame[f"{column}_month"] = moments.dt.month
            frame[f"{column}_weekday"] = moments.dt.day_of_week
    return frame


def series_features(frame: pd.DataFrame, how: str) -> pd.DataFrame:
    """A row as a series: `raw` as it is, `diffs` plus first differences, `znorm` shape only,
    `rocket` the MiniRocket-style features of `rocket_features`."""
    values = frame.to_numpy(dtype=float)
    if how == "rocket":
        matrix = rocket_features(values)
        return pd.DataFrame(matrix, index=frame.index, columns=[f"r{i}" for i in range(matrix.shape[1])])
    if how == "znorm":
        scale = values.std(axis=1, keepdims=True)
        values = (values - values.mean(axis=1, keepdims=True)) / np.where(scale > 0, scale, 1.0)
    parts = [values]
    if how in ("diffs", "znorm"):
        parts.append(np.diff(values, axis=1))
    if how == "znorm":
        steps = np.arange(values.shape[1]) - (values.shape[1] - 1) / 2
        slope = values @ steps / (steps @ steps)
        stats = [values.min(1), values.max(1), values.argmin(1), values.argmax(1), slope]
        parts.append(np.column_stack(stats))
    matrix = np.hstack(parts)
    return pd.DataFrame(matrix, index=frame.index, columns=[f"s{i}" for i in range(matrix.shape[1])])


ROCKET_KERNELS = tuple(itertools.combinations(range(9), 3))  # where a length-9 kernel weighs 2, not -1
ROCKET_FEATURES = 2000  # about: 84 kernels x dilations x biases
ROCKET_VALUES = 2**21  # values convolved at once: bounds the memory (9 taps of float32: 75 MB)


def rocket_features(values: np.ndarray, count: int = ROCKET_FEATURES, seed: int = 0) -> np.ndarray:
    """MiniRocket's transform (Dempster et al. 2021): for each of its 84 fixed kernels and each
    dilation, the share of a series' convolution that lies above each of a few biases.

    Written here, not taken from sktime: it is 30 lines of NumPy, and sktime would be a heavy
    dependency of every candidate's sandbox for one transform. As in MiniRocket, the kernels weigh
    -1 with three taps at 2 (so a constant series convolves to 0), dilations are spaced
    exponentially up to the series' length, and the biases are quantiles (a low-discrepancy
    sequence) of one random row's convolution. Unlike it, every convolution is zero-padded (no
    alternation) and one random row per dilation, not per kernel, sets the biases. No targets are
    read, so it may see every row (fit, holdout and test alike).
    """
    values = np.nan_to_num(np.asarray(values, dtype=np.float32))
    rows, length = values.shape
    top = np.log2(max(1.0, (length - 1) / 8))
    dilations = sorted({int(2**exponent) for exponent in np.linspace(0, top, 6)})
    per = max(1, round(count / (len(ROCKET_KERNELS) * len(dilations))))
    quantiles = (np.arange(1, per + 1) * (np.sqrt(5) - 1) / 2) % 1
    rng = np.random.default_rng(seed)
    chunk = max(1, ROCKET_VALUES // length)
    blocks = []
    for dilation in dilations:
        example = values[rng.integers(rows)][None, :]
        biases = [np.quantile(conv[0], quantiles) for conv in _convolutions(example, dilation)]
        parts = []
        for start in range(0, rows, chunk):
            convolved = _convolutions(values[start : start + chunk], dilation)
            parts.append(
                np.hstack(
                    [
                        (conv[:, :, None] > bias).mean(axis=1)
                        for conv, bias in zip(convolved, biases, strict=True)
                    ]
                )
            )
        blocks.append(np.vstack(parts))
    return np.hstack(blocks)


def _convolutions(rows: np.ndarray, dilation: int) -> Any:
    """Each kernel's convolution of `rows` (zero-padded to their length), in ROCKET_KERNELS order."""
    length = rows.shape[1]
    padded = np.pad(rows, ((0, 0), (4 * dilation, 4 * dilation)))
    taps = np.stack([padded[:, tap * dilation : tap * dilation + length] for tap in range(9)])
    total = taps.sum(axis=0)
    for a, b, c in ROCKET_KERNELS:  # -1 on all nine taps, +3 back on three: weights -1 and 2
        yield 3 * (taps[a] + taps[b] + taps[c]) - total


def row_features(
    frame: pd.DataFrame, columns: Columns, params: dict[str, Any]
) -> tuple[pd.DataFrame, Columns]:
    """Features that need no target: dates, series shape, category counts (over all rows)."""
    if columns.series:
        expanded = series_features(frame[columns.numeric], params.get("series", "raw"))
        return expanded, Columns(numeric=list(expanded.columns), series=True)
    frame = expand_dates(
        frame, columns.dates, int(params.get("trend", 1)), params.get("date_parts", "off") == "on"
    )
    categorical = list(columns.categorical)
    if params.get("categorical") == "count":
        for column in categorical:
            frame[column] = frame[column].map(frame[column].value_counts(dropna=False)).astype(float)
        categorical = []
    for column in categorical:
        frame[column] = frame[column].astype(str)
    numeric = [c for c in frame.columns if c not in categorical and c not in columns.text]
    return frame, Columns(numeric=numeric, categorical=categorical, text=list(columns.text))


# --------------------------------------------------------------------------- 3. encoding and models
SCALED = ("linear", "svm", "knn")


class TextSVD(TruncatedSVD):
    """`TruncatedSVD` that keeps at most as many dimensions as the TF-IDF vocabulary has terms.

    Free text from a small vocabulary (fewer words and word pairs in a fold than
    `TEXT_DIMENSIONS`) makes TruncatedSVD refuse to fit, and every experiment, the starting one
    included, would fail the same way.
    """

    def fit_transform(self, X: Any, y: Any = None) -> Any:  # noqa: N803 (scikit-learn's name)
        wanted = self.n_components
        self.n_components = max(1, min(wanted, X.shape[1] - 1))
        try:
            return super().fit_transform(X, y)
        finally:
            self.n_components = wanted


def encoder(columns: Columns, family: str, params: dict[str, Any], classification: bool) -> Any:
    """The per-column encoding, fitted inside the model's pipeline (so per CV fold)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import (
        OneHotEncoder,
        OrdinalEncoder,
        QuantileTransformer,
        StandardScaler,
        TargetEncoder,
    )

    numeric: list[Any] = [SimpleImputer(strategy="median")]
    if family in SCALED:
        numeric.append(
            QuantileTransformer(output_distribution="normal", n_quantiles=200)
            if params.get("scaler") == "quantile"
            else StandardScaler()
        )
    parts: list[tuple[str, Any, Any]] = [("numbers", make_pipeline(*numeric), columns.numeric)]
    how = params.get("categorical", "onehot")
    if columns.categorical:
        if how == "target":
            target_type = "auto" if classification else "continuous"
            categories = make_pipeline(TargetEncoder(target_type=target_type), StandardScaler())
        elif how == "ordinal" and family not in SCALED:
            categories = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
        else:
            categories = OneHotEncoder(
                handle_unknown="infrequent_if_exist", min_frequency=3, sparse_output=False
            )
        parts.append(("categories", categories, columns.categorical))
    for column in columns.text:
        text = make_pipeline(
            TfidfVectorizer(max_features=20000, ngram_range=(1, 2), sublinear_tf=True),
            TextSVD(n_components=TEXT_DIMENSIONS, random_state=0),
        )
        parts.append((f"text_{column}", text, column))
    return ColumnTransformer(parts, sparse_threshold=0.0)


def estimator(family: str, params: dict[str, Any], classification: bool, features: int) -> Any:
    """The model family and hyper-parameters named in params.json."""
    from sklearn import ensemble, linear_model, neighbors, svm

    if family == "hgb":
        kind = (
            ensemble.HistGradientBoostingClassifier
            if classification
            else ensemble.HistGradientBoostingRegressor
        )
        return kind(
            learning_rate=params["learning_rate"],
            max_iter=int(params["max_iter"]),
            max_leaf_nodes=int(params["max_leaf_nodes"]),
            l2_regularization=params.get("l2", 0.0),
            random_state=0,
        )
    if family in ("random_forest", "extra_trees"):
        forests = {
            "random_forest": (ensemble.RandomForestClassifier, ensemble.RandomForestRegressor),
            "extra_trees": (ensemble.ExtraTreesClassifier, ensemble.ExtraTreesRegressor),
        }
        kind = forests[family][0 if classification else 1]
        return kind(
            n_estimators=int(params["n_estimators"]),
            max_features=params["max_features"],
            min_samples_leaf=int(params.get("min_samples_leaf", 1)),
            random_state=0,
        )
    if family == "linear":
        if classification:
            return linear_model.LogisticRegression(C=params["C"], max_iter=3000)
        return linear_model.Ridge(alpha=1.0 / params["C"])
    if family == "svm":  # gamma as a multiple of 1 / features (scikit-learn's "scale" on standard data)
        gamma = params["gamma"] / max(features, 1)
        if classification:
            from sklearn.calibration import CalibratedClassifierCV

            return CalibratedClassifierCV(svm.SVC(C=params["svm_C"], gamma=gamma), ensemble=False, cv=3)
        from sklearn.compose import TransformedTargetRegressor
        from sklearn.preprocessing import StandardScaler

        return TransformedTargetRegressor(
            svm.SVR(C=params["svm_C"], gamma=gamma), transformer=StandardScaler()
        )
    if family == "knn":
        kind = neighbors.KNeighborsClassifier if classification else neighbors.KNeighborsRegressor
        return kind(n_neighbors=int(params["n_neighbors"]), weights=params.get("weights", "distance"))
    raise ValueError(f"unknown model family {family!r}")


def build_model(
    family: str, params: dict[str, Any], columns: Columns, classification: bool, log_target: bool = False
) -> Any:
    """The encoding and the model in one pipeline; with `log_target`, fitted to log1p of the target
    (see `Task.log_target`)."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.pipeline import make_pipeline

    features = len(columns.numeric) + len(columns.categorical) + TEXT_DIMENSIONS * len(columns.text)
    model = make_pipeline(
        encoder(columns, family, params, classification), estimator(family, params, classification, features)
    )
    if log_target and not classification:
        return TransformedTargetRegressor(model, func=np.log1p, inverse_func=np.expm1, check_inverse=False)
    return model


# --------------------------------------------------------------------------- 4. fit, ensemble, predict
@dataclass
class Task:
    """One target to predict, and how it is judged."""

    classification: bool
    probabilities: bool
    metric: Any  # metrics.Metric, or None for a competition's own grader
    forecast: bool
    classes: list[str] = field(default_factory=list)  # the submission's probability column per class
    # RMSLE is RMSE on log1p of the values: a model fitted to log1p(y) minimises it, and expm1 of
    # any prediction is above -1, which RMSLE requires (a linear model on a skewed target
    # predicts below it, and the submission is refused).
    log_target: bool = False


def outputs(model: Any, frame: pd.DataFrame, task: Task, classes: np.ndarray) -> np.ndarray:
    """Class probabilities (columns in `classes` order) or values."""
    if not task.classification:
        return np.asarray(model.predict(frame), dtype=float)
    proba = np.zeros((len(frame), len(classes)))
    columns = np.searchsorted(classes, model.classes_)
    proba[:, columns] = model.predict_proba(frame)
    return proba


def final_predictions(blend: np.ndarray, task: Task, classes: np.ndarray) -> np.ndarray:
    """Labels, a positive-class probability, values, or a probability column per class in the
    submission's order (a class that fit.csv lacks gets 0), as the submission wants them."""
    if not task.classification:
        return blend
    if task.classes:
        matrix = np.zeros((len(blend), len(task.classes)))
        matrix[:, [task.classes.index(class_name(c)) for c in classes]] = blend
        return matrix
    if task.probabilities:
        return blend[:, -1]
    return classes[np.argmax(blend, axis=1)]


def class_name(value: Any) -> str:
    """A class as a column name spells it: `2.0` read from a CSV is class `2`."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def loss(truth: np.ndarray, blend: np.ndarray, task: Task, classes: np.ndarray) -> float:
    """Lower is better: the competition's metric when it is a known one, else error rate or RMSE."""
    predicted = final_predictions(blend, task, classes)
    metric = task.metric
    if metric is None or (metric.kind == "probabilities") != task.probabilities:
        if task.classification:
            return float(np.mean(classes[np.argmax(blend, axis=1)] != truth))
        return float(np.sqrt(np.mean((truth - predicted) ** 2)))
    if task.classes:  # a column per class: the truth as the index of its column, as the grader reads it
        truth = np.array([task.classes.index(class_name(c)) for c in truth])
    elif task.probabilities:  # the positive class (the last one) as 1, as the grader reads it
        truth = (truth == classes[-1]).astype(float)
    score = metric.score(truth, predicted)
    return score if metric.lower_is_better else -score


def folds(target: pd.Series, task: Task, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import KFold, StratifiedKFold, TimeSeriesSplit

    rows = np.arange(len(target))
    if task.forecast:
        return list(TimeSeriesSplit(n_splits=count).split(rows))
    if task.classification and target.value_counts().min() >= count:
        return list(StratifiedKFold(count, shuffle=True, random_state=0).split(rows, target))
    return list(KFold(count, shuffle=True, random_state=0).split(rows))


def cpu_seconds(family: str, params: dict[str, Any], rows: int, features: int, classes: int) -> float:
    """A rough single-core estimate of one fit and predict (measured on a 2-core machine)."""
    classes = classes if classes > 2 else 1  # a tree (or a coefficient vector) per class beyond two
    if family == "hgb":
        return max(
            0.007 * classes * int(params["max_iter"]) + 1e-7 * rows * features * classes,
            _hgb_histograms(int(params["max_iter"]), rows, features, classes),
        )
    if family in ("random_forest", "extra_trees"):
        share = 1.0 if family == "random_forest" else 0.5
        return share * 1.5e-6 * int(params["n_estimators"]) * rows * np.sqrt(features)
    if family == "svm":
        return 8e-9 * rows**2 * features
    if family == "knn":
        return 1e-9 * rows**2 * features
    return 3e-7 * rows * features * classes


def _hgb_histograms(iterations: int, rows: int, features: int, classes: int) -> float:
    """Gradient boosting's cost on wide data: every iteration builds a histogram per feature.

    Measured (CPU seconds, 100 iterations, one thread): 960 rows x 500 columns 3.6 s, 2000 x 500
    4.5 s, 10000 x 100 2.0 s, 84 x 2000 (3 classes) 3.5 s. The per-row estimate above said 0.75 s
    for 960 x 500: the starting ensemble chose gradient boosting on a 500-column table, took
    a minute on a shared machine and a one-minute run ended with no submission.
    """
    per_feature = min(0.007, 7e-6 * rows) + 7.5e-7 * rows
    return classes * iterations / 100 * (0.15 + features * per_feature)


def pool(params: dict[str, Any], rows: int, features: int, classes: int) -> list[str]:
    """The ensemble's families: the cheapest first, as many as `cv_seconds` of cross-validation allow."""
    fits = int(params.get("folds", 5)) + 1
    budget = float(params.get("cv_seconds", 8.0))
    costs = {family: fits * cpu_seconds(family, params, rows, features, classes) for family in POOL}
    chosen, spent = [], 0.0
    for family in sorted(POOL, key=lambda f: costs[f]):
        if spent + costs[family] <= budget or not chosen:
            chosen.append(family)
            spent += costs[family]
    return [family for family in POOL if family in chosen]


def recipe_seconds(params: dict[str, Any], rows: int, features: int, classes: int) -> float:
    """What the recipe's fits cost by `cpu_seconds`, for one target: each family's fits, the
    ensemble's cross-validation (`folds` + 1 fits of each member) included."""
    if params["family"] != "ensemble":
        return cpu_seconds(params["family"], params, rows, features, classes)
    fits = int(params.get("folds", 5)) + 1
    return sum(
        fits * cpu_seconds(family, params, rows, features, classes)
        for family in pool(params, rows, features, classes)
    )


PLAUSIBLE = 2.0
"""How far over the time left an estimate must be before the recipe declines (see `time_check`).

Measured against `cpu_seconds` (one thread, 20,000 x 20, 2026-12): a random forest took 1.3x its
estimate, extra trees 0.4x, gradient boosting 0.5-2x; an SVM on easily separated rows 0.04x (its
cost is the support vectors', which the data decides). Twice the time left declines a forest
estimated at 169 s with 55 s left (it ran past 60 s), and tries any recipe within reach."""


def time_check(
    params: dict[str, Any], rows: int, features: int, classes: int, targets: int, left: float
) -> str:
    """Why the recipe declines to fit (it cannot plausibly finish in `left` seconds), or "".

    strop's run loop starts an experiment when the time left is at least the median of the
    recent evaluations; it cannot know that this recipe is the first of a costly family (an
    SVM after linear models, boosting on 200,000 rows), which then runs until the deadline
    kills it, its time lost to the search. This file knows the rows, the columns and the
    family's relative cost (`cpu_seconds`, the cost model that already sizes the ensemble's
    pool), and stage `run` is told its time limit (`STROP_RUN_SECONDS`): a recipe estimated at
    over `PLAUSIBLE` times the time left stops before fitting, in seconds, with one line that
    says why. The margin is wide because the estimate is rough (see `PLAUSIBLE`): a recipe
    that might finish is tried.
    """
    needed = targets * recipe_seconds(params, rows, features, classes)
    if needed <= PLAUSIBLE * left:
        return ""
    return (
        f"solution.py: the {params['family']} recipe needs about {needed:.0f} s of CPU on {rows} rows x "
        f"{features} columns, and {left:.0f} s are left: not started (a cheaper recipe, or more time, fits)"
    )


def caruana(losses_of: Any, members: int, rounds: int) -> np.ndarray:
    """Greedy forward selection with replacement: member counts of the best blend found."""
    counts = np.zeros(members)
    best_counts, best_loss = counts, np.inf
    for _ in range(rounds):
        trials = []
        for member in range(members):
            trial = counts.copy()
            trial[member] += 1
            trials.append((losses_of(trial / trial.sum()), member))
        value, member = min(trials)
        counts = counts.copy()
        counts[member] += 1
        if value < best_loss - 1e-12:
            best_counts, best_loss = counts, value
    return best_counts


def fit_ensemble(
    params: dict[str, Any],
    columns: Columns,
    fit: pd.DataFrame,
    target: pd.Series,
    task: Task,
    classes: np.ndarray,
) -> tuple[list[str], np.ndarray]:
    """Cross-validate every family of the pool on `fit`; weights from the out-of-fold blend."""
    features = len(columns.numeric) + len(columns.categorical) + TEXT_DIMENSIONS * len(columns.text)
    families = pool(params, len(fit), features, len(classes))
    splits = folds(target, task, int(params.get("folds", 5)))
    truth = target.to_numpy()
    scored = np.concatenate([test for _, test in splits])  # a forecast's first block has no prediction
    oof = []
    for family in families:
        shape = (len(fit), len(classes)) if task.classification else (len(fit),)
        predicted = np.zeros(shape)
        for train_rows, test_rows in splits:
            model = build_model(family, params, columns, task.classification, task.log_target)
            model.fit(fit.iloc[train_rows], target.iloc[train_rows])
            predicted[test_rows] = outputs(model, fit.iloc[test_rows], task, classes)
        oof.append(predicted[scored])

    def losses_of(weights: np.ndarray) -> float:
        blend = sum(w * p for w, p in zip(weights, oof, strict=True) if w)
        return loss(truth[scored], blend, task, classes)

    counts = caruana(losses_of, len(families), ENSEMBLE_ROUNDS)
    return families, counts / counts.sum()


def predict_target(
    params: dict[str, Any],
    columns: Columns,
    frames: dict[str, pd.DataFrame],
    target: str,
    task: Task,
) -> tuple[np.ndarray, np.ndarray]:
    """Holdout and test predictions for one target column, fitted on the rows that have it."""
    fit = labelled_rows(frames["fit"], target)
    classes = np.unique(fit[target]) if task.classification else np.array([])
    features = [c for c in fit.columns if c not in frames["targets"]]
    if task.log_target and not (fit[target] > -1).all():  # log1p needs values above -1
        task = replace(task, log_target=False)
    if params["family"] == "ensemble":
        families, weights = fit_ensemble(params, columns, fit[features], fit[target], task, classes)
    else:
        families, weights = [params["family"]], np.ones(1)
    blends = {"holdout": 0.0, "test": 0.0}
    for family, weight in zip(families, weights, strict=True):
        if not weight:
            continue
        model = build_model(family, params, columns, task.classification, task.log_target)
        model.fit(fit[features], fit[target])
        blends["holdout"] = blends["holdout"] + weight * outputs(
            model, frames["holdout"][features], task, classes
        )
        blends["test"] = blends["test"] + weight * outputs(model, frames["test"][features], task, classes)
    return (
        final_predictions(np.asarray(blends["holdout"]), task, classes),
        final_predictions(np.asarray(blends["test"]), task, classes),
    )


def labelled_rows(frame: pd.DataFrame, target: str) -> pd.DataFrame:
    """The rows whose `target` is known: scikit-learn refuses a missing y, and such a row teaches nothing.

    Says on stderr (the experiment's log) how many were left out.
    """
    known = frame[target].notna()
    if not known.all():
        print(
            f"solution.py: {int((~known).sum())} training rows without {target!r} left out", file=sys.stderr
        )
    return frame[known]


def recent_rows(frame: pd.DataFrame, share: float) -> pd.DataFrame:
    """The latest `share` of the rows by date (all rows when there is no date column)."""
    dates = date_columns(frame)
    if not dates or share >= 1.0:
        return frame
    ordered = frame.sort_values(dates[0], key=lambda c: pd.to_datetime(c, format="ISO8601"))
    return ordered.iloc[-max(12, int(len(ordered) * share)) :]


def find_metric(name: str) -> Any:
    try:
        from metrics import find_metric as lookup  # the competition metrics, copied beside this file
    except ImportError:
        return None
    return lookup(name)


def main() -> None:
    public, outputs_folder = Path(os.environ["STROP_PUBLIC"]), Path(os.environ["STROP_OUTPUTS"])
    spec = json.loads((public / "mle.json").read_text(encoding="utf-8"))
    params = load_params()
    id_column, targets = spec["id_column"], spec["targets"]
    fit, holdout, test = (  # ids as text: `00240` must come back as `00240`, not 240
        pd.read_csv(public / name, dtype={id_column: str}) for name in ("fit.csv", "holdout.csv", "test.csv")
    )
    forecast = bool(spec.get("forecast", spec.get("refit")))  # "refit": folders written before 2026-12
    fit = recent_rows(fit, params.get("recent", 1.0))
    if forecast:  # rows in time order, so that cross-validation folds are too
        fit = fit.iloc[np.argsort(pd.to_datetime(fit[date_columns(fit)[0]], format="ISO8601"), kind="stable")]
    named = {"fit": fit, "holdout": holdout, "test": test}
    joined = pd.concat(
        [frame.drop(columns=[c for c in [id_column, *targets] if c in frame]) for frame in named.values()]
    )
    joined = joined.reset_index(drop=True)
    columns = column_types(joined)
    expanded, columns = row_features(joined, columns, params)
    bounds = np.cumsum([0] + [len(frame) for frame in named.values()])
    frames: dict[str, Any] = {}
    for (name, frame), start, end in zip(named.items(), bounds[:-1], bounds[1:], strict=True):
        part = expanded.iloc[start:end].reset_index(drop=True)
        for target in targets:
            if target in frame:
                part[target] = frame[target].to_numpy()
        frames[name] = part
    frames["targets"] = targets
    metric = find_metric(spec.get("metric", ""))
    log_target = not spec["classification"] and metric is not None and metric.name == "rmsle"
    task = Task(
        spec["classification"], spec["probabilities"], metric, forecast, spec.get("classes", []), log_target
    )
    if os.environ.get("STROP_RUN_SECONDS"):
        left = float(os.environ["STROP_RUN_SECONDS"]) - (time.monotonic() - STARTED)
        features = len(columns.numeric) + len(columns.categorical) + TEXT_DIMENSIONS * len(columns.text)
        classes = max(int(fit[target].nunique()) for target in targets) if task.classification else 1
        declined = time_check(params, len(fit), features, classes, len(targets), left)
        if declined:
            sys.exit(declined)
    predicted_holdout = pd.DataFrame({id_column: holdout[id_column]})
    predicted_test = pd.DataFrame({id_column: test[id_column]})
    for target in targets:
        on_holdout, on_test = predict_target(params, columns, frames, target, task)
        named_as = task.classes or [target]  # a column per class, or the target's own
        predicted_holdout[named_as] = on_holdout.reshape(len(holdout), -1)
        predicted_test[named_as] = on_test.reshape(len(test), -1)
    predicted_holdout.to_csv(outputs_folder / "holdout.csv", index=False)
    predicted_test.to_csv(outputs_folder / "submission.csv", index=False)


if __name__ == "__main__":
    main()
