"""A competition solution: fit a scikit-learn model on the public data, write the predictions.

`strop mle run` copies this file into the task's workspace as the starting point; strop's
offline proposer changes `params.json` (model family and hyper-parameters), and a person
or an LLM may change this file itself. Stage `run` executes it as `python solution.py`:

    reads   $STROP_PUBLIC/fit.csv        training rows (features and targets)
            $STROP_PUBLIC/holdout.csv    held-out training rows, features only (for selection)
            $STROP_PUBLIC/test.csv       the competition's test rows
            $STROP_PUBLIC/mle.json       id column, target columns, classification or regression
            $STROP_PUBLIC/refit.csv      forecasts only: every training row, to fit the test model
    writes  $STROP_OUTPUTS/holdout.csv      a prediction per held-out row
            $STROP_OUTPUTS/submission.csv   a prediction per test row, in sample_submission's format

Text columns are one-hot encoded (missing values as their own category), and missing
numbers imputed. A column of dates becomes numbers a model can extrapolate: years since the
first date (and its powers up to `trend`), and the annual cycle as sines and cosines. For a
forecast, `recent` keeps only the latest share of the training rows (old regimes mislead a
trend), and the test predictions come from a model refitted on every training row, up to the
last known date.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def load_params() -> dict[str, Any]:
    return json.loads((Path(__file__).parent / "params.json").read_text(encoding="utf-8"))


def date_columns(frame: pd.DataFrame) -> list[str]:
    """Text columns whose values are (almost all) ISO dates."""
    found = []
    for column in frame.columns:
        if pd.api.types.is_numeric_dtype(frame[column]):
            continue
        parsed = pd.to_datetime(frame[column], errors="coerce", format="ISO8601")
        if parsed.notna().mean() > 0.95:
            found.append(column)
    return found


def expand_dates(frame: pd.DataFrame, trend: int, harmonics: int = 3) -> pd.DataFrame:
    """Each date column becomes years since its first date (powers 1..trend) and the annual cycle."""
    frame = frame.copy()
    for column in date_columns(frame):
        moments = pd.to_datetime(frame.pop(column), errors="coerce", format="ISO8601")
        years = (moments - moments.min()).dt.days / 365.25
        for power in range(1, trend + 1):
            frame[f"{column}_t{power}"] = years**power
        phase = 2 * np.pi * (moments.dt.day_of_year - 1) / 365.25
        for k in range(1, harmonics + 1):
            frame[f"{column}_sin{k}"], frame[f"{column}_cos{k}"] = np.sin(k * phase), np.cos(k * phase)
    return frame


def recent_rows(frame: pd.DataFrame, share: float) -> pd.DataFrame:
    """The latest `share` of the rows by date (all rows when there is no date column)."""
    dates = date_columns(frame)
    if not dates or share >= 1.0:
        return frame
    ordered = frame.sort_values(dates[0], key=lambda c: pd.to_datetime(c, format="ISO8601"))
    return ordered.iloc[-max(12, int(len(ordered) * share)) :]


def features(frames: list[pd.DataFrame], drop: list[str], trend: int = 1) -> list[np.ndarray]:
    """One numeric matrix per frame, encoded together so the columns agree."""
    joined = pd.concat([frame.drop(columns=[c for c in drop if c in frame.columns]) for frame in frames])
    joined = expand_dates(joined, trend)
    numeric = pd.api.types.is_numeric_dtype
    text = [column for column in joined.columns if not numeric(joined[column])]  # bools count as numbers
    encoded = pd.get_dummies(joined, columns=text, dummy_na=True, dtype=float)
    matrix = encoded.to_numpy(dtype=float)
    bounds = np.cumsum([0] + [len(frame) for frame in frames])
    return [matrix[bounds[i] : bounds[i + 1]] for i in range(len(frames))]


def build_model(params: dict[str, Any], classification: bool) -> Any:
    """The model family and hyper-parameters named in params.json, behind an imputer."""
    from sklearn import ensemble, linear_model, neighbors
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    family = params["family"]
    if family == "hgb":
        kind = (
            ensemble.HistGradientBoostingClassifier
            if classification
            else ensemble.HistGradientBoostingRegressor
        )
        model = kind(
            learning_rate=params["learning_rate"],
            max_iter=int(params["max_iter"]),
            max_leaf_nodes=int(params["max_leaf_nodes"]),
            random_state=0,
        )
        return make_pipeline(SimpleImputer(), model)
    if family == "random_forest":
        kind = ensemble.RandomForestClassifier if classification else ensemble.RandomForestRegressor
        model = kind(
            n_estimators=int(params["n_estimators"]), max_depth=int(params["max_depth"]), random_state=0
        )
        return make_pipeline(SimpleImputer(), model)
    if family == "linear":
        model = (
            linear_model.LogisticRegression(C=params["C"], max_iter=2000)
            if classification
            else linear_model.Ridge(alpha=1.0 / params["C"])
        )
        return make_pipeline(SimpleImputer(), StandardScaler(), model)
    if family == "extra_trees":
        kind = ensemble.ExtraTreesClassifier if classification else ensemble.ExtraTreesRegressor
        model = kind(
            n_estimators=int(params["n_estimators"]),
            max_features=params["max_features"],
            random_state=0,
        )
        return make_pipeline(SimpleImputer(), model)
    if family == "svm":
        from sklearn import svm

        if classification:
            model = svm.SVC(C=params["svm_C"], gamma=params["gamma"], probability=True, random_state=0)
        else:  # on a standardised target: C then means the same for every scale of target
            from sklearn.compose import TransformedTargetRegressor

            model = TransformedTargetRegressor(
                svm.SVR(C=params["svm_C"], gamma=params["gamma"]), transformer=StandardScaler()
            )
        return make_pipeline(SimpleImputer(), StandardScaler(), model)
    if family == "knn":
        kind = neighbors.KNeighborsClassifier if classification else neighbors.KNeighborsRegressor
        return make_pipeline(SimpleImputer(), StandardScaler(), kind(n_neighbors=int(params["n_neighbors"])))
    raise ValueError(f"unknown model family {family!r}")


def predict(model: Any, matrix: np.ndarray, probabilities: bool) -> np.ndarray:
    """Labels or values; for a probability metric, the probability of the last (positive) class."""
    if not probabilities:
        return model.predict(matrix)
    return model.predict_proba(matrix)[:, -1]


def main() -> None:
    public, outputs = Path(os.environ["STROP_PUBLIC"]), Path(os.environ["STROP_OUTPUTS"])
    spec = json.loads((public / "mle.json").read_text(encoding="utf-8"))
    params = load_params()
    fit, holdout, test = (pd.read_csv(public / name) for name in ("fit.csv", "holdout.csv", "test.csv"))
    refits = bool(spec.get("refit"))
    refit = recent_rows(pd.read_csv(public / spec["refit"]), params.get("recent", 1.0)) if refits else fit
    fit = recent_rows(fit, params.get("recent", 1.0))
    id_column, targets = spec["id_column"], spec["targets"]
    trend = int(params.get("trend", 1))
    x_fit, x_holdout, x_refit, x_test = features([fit, holdout, refit, test], [id_column, *targets], trend)
    predicted_holdout = pd.DataFrame({id_column: holdout[id_column]})
    predicted_test = pd.DataFrame({id_column: test[id_column]})
    for target in targets:
        model = build_model(params, spec["classification"])
        model.fit(x_fit, fit[target])
        predicted_holdout[target] = predict(model, x_holdout, spec["probabilities"])
        if refits:
            model = build_model(params, spec["classification"]).fit(x_refit, refit[target])
        predicted_test[target] = predict(model, x_test, spec["probabilities"])
    predicted_holdout.to_csv(outputs / "holdout.csv", index=False)
    predicted_test.to_csv(outputs / "submission.csv", index=False)


if __name__ == "__main__":
    main()
