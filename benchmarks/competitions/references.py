"""The leaderboards' teams: real runs, each fitted on the public train split and graded on the hidden test rows.

Every entry is one pipeline fitted on `prepared/public/train.csv` alone, predicting
`prepared/public/test.csv`, scored by the competition's metric against
`prepared/private/test.csv` (the exact hidden split). The teams are diverse on purpose:
scikit-learn defaults, hand-picked settings, searches tuned by cross-validation on train,
statsmodels forecasters for the series, and FLAML at several time budgets and seeds.
`provenance.json` records each entry: name, tool, versions, seconds, score.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agent.domains.mle.metrics import find_metric, grade_frames
from benchmarks.competitions.sources import Source

ID, TARGET = "id", "target"
Predictor = Callable[[pd.DataFrame, pd.DataFrame], np.ndarray]  # (train, test) -> predictions


@dataclass(frozen=True)
class Entry:
    """One leaderboard row and where it came from."""

    team: str
    tool: str
    tuned: bool
    seconds: float
    score: float


def _xy(train: pd.DataFrame, test: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    features = [c for c in train.columns if c not in (ID, TARGET)]
    return train[features].to_numpy(float), train[TARGET].to_numpy(), test[features].to_numpy(float)


def _fitted(make: Callable[[], Any], probabilities: bool) -> Predictor:
    def predict(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
        x, y, x_test = _xy(train, test)
        model = make().fit(x, y)
        return model.predict_proba(x_test)[:, -1] if probabilities else model.predict(x_test)

    return predict


def _scaled(model: Any) -> Any:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), model)


def _search(model: Any, grid: dict[str, list[Any]], scoring: str, iterations: int = 12) -> Any:
    from sklearn.model_selection import RandomizedSearchCV

    return RandomizedSearchCV(model, grid, n_iter=iterations, cv=5, scoring=scoring, random_state=0)


LIGHT_CELLS = 50_000  # train rows × features above which the tuned searches are made lighter


def lighten(model: Any) -> Any:
    """A CV search cut down for a larger table (3 folds, half the draws, no 400-tree or all-feature
    settings): on a shared 2-core machine the full searches on digits took most of an hour."""
    from sklearn.model_selection import RandomizedSearchCV

    if not isinstance(model, RandomizedSearchCV):
        return model
    grid = {
        key: [v for v in values if not (key in ("n_estimators", "max_iter") and v > 200)]
        for key, values in model.param_distributions.items()
    }
    if "max_features" in grid:
        grid["max_features"] = [v for v in grid["max_features"] if v != 1.0]
    model.set_params(cv=3, n_iter=max(4, model.n_iter // 2), param_distributions=grid)
    return model


def classification_zoo(auc: bool) -> list[tuple[str, bool, Callable[[], Any]]]:
    """(team, tuned, factory): ~32 classifiers, defaults, hand settings and CV-tuned searches."""
    from sklearn import discriminant_analysis as da
    from sklearn import ensemble as en
    from sklearn import linear_model as lm
    from sklearn import naive_bayes as nb
    from sklearn import neighbors as nn
    from sklearn import neural_network as mlp
    from sklearn import svm, tree

    scoring = "roc_auc" if auc else "accuracy"
    return [
        ("logreg C=0.01", False, lambda: _scaled(lm.LogisticRegression(C=0.01, max_iter=3000))),
        ("logreg C=1", False, lambda: _scaled(lm.LogisticRegression(max_iter=3000))),
        ("logreg C=100", False, lambda: _scaled(lm.LogisticRegression(C=100, max_iter=3000))),
        (
            "logreg tuned",
            True,
            lambda: _search(
                _scaled(lm.LogisticRegression(max_iter=3000)),
                {"logisticregression__C": list(np.logspace(-3, 3, 13))},
                scoring,
            ),
        ),
        ("gaussian NB", False, nb.GaussianNB),
        ("LDA", False, da.LinearDiscriminantAnalysis),
        ("QDA reg=0.5", False, lambda: da.QuadraticDiscriminantAnalysis(reg_param=0.5)),
        ("kNN k=1", False, lambda: _scaled(nn.KNeighborsClassifier(1))),
        ("kNN k=5", False, lambda: _scaled(nn.KNeighborsClassifier(5))),
        ("kNN k=25", False, lambda: _scaled(nn.KNeighborsClassifier(25))),
        (
            "kNN tuned",
            True,
            lambda: _search(
                _scaled(nn.KNeighborsClassifier()),
                {
                    "kneighborsclassifier__n_neighbors": list(range(1, 60, 3)),
                    "kneighborsclassifier__weights": ["uniform", "distance"],
                },
                scoring,
            ),
        ),
        ("tree depth 3", False, lambda: tree.DecisionTreeClassifier(max_depth=3, random_state=0)),
        ("tree default", False, lambda: tree.DecisionTreeClassifier(random_state=0)),
        (
            "tree tuned",
            True,
            lambda: _search(
                tree.DecisionTreeClassifier(random_state=0),
                {"max_depth": list(range(2, 20)), "min_samples_leaf": [1, 2, 5, 10, 20]},
                scoring,
            ),
        ),
        ("random forest 50", False, lambda: en.RandomForestClassifier(50, random_state=0)),
        ("random forest default", False, lambda: en.RandomForestClassifier(random_state=0)),
        ("random forest depth 6", False, lambda: en.RandomForestClassifier(max_depth=6, random_state=0)),
        (
            "random forest tuned",
            True,
            lambda: _search(
                en.RandomForestClassifier(random_state=0),
                {
                    "n_estimators": [100, 200, 400],
                    "max_features": ["sqrt", 0.5, 1.0],
                    "min_samples_leaf": [1, 2, 5, 10],
                },
                scoring,
                8,
            ),
        ),
        ("extra trees default", False, lambda: en.ExtraTreesClassifier(random_state=0)),
        ("extra trees 400", False, lambda: en.ExtraTreesClassifier(400, random_state=0)),
        ("AdaBoost", False, lambda: en.AdaBoostClassifier(random_state=0)),
        ("gradient boosting default", False, lambda: en.GradientBoostingClassifier(random_state=0)),
        ("HGB default", False, lambda: en.HistGradientBoostingClassifier(random_state=0)),
        (
            "HGB lr=0.03 500",
            False,
            lambda: en.HistGradientBoostingClassifier(learning_rate=0.03, max_iter=500, random_state=0),
        ),
        (
            "HGB tuned",
            True,
            lambda: _search(
                en.HistGradientBoostingClassifier(random_state=0),
                {
                    "learning_rate": [0.02, 0.05, 0.1, 0.2],
                    "max_iter": [100, 200, 400],
                    "max_leaf_nodes": [7, 15, 31, 63],
                    "l2_regularization": [0.0, 0.1, 1.0],
                },
                scoring,
                10,
            ),
        ),
        ("SVC rbf C=1", False, lambda: _scaled(svm.SVC(probability=auc))),
        ("SVC rbf C=10", False, lambda: _scaled(svm.SVC(C=10, probability=auc))),
        ("SVC linear", False, lambda: _scaled(svm.SVC(kernel="linear", probability=auc))),
        (
            "SVC tuned",
            True,
            lambda: _search(
                _scaled(svm.SVC(probability=auc)),
                {"svc__C": list(np.logspace(-1, 3, 9)), "svc__gamma": ["scale", 0.001, 0.01, 0.1]},
                scoring,
                10,
            ),
        ),
        ("MLP default", False, lambda: _scaled(mlp.MLPClassifier(max_iter=1000, random_state=0))),
        (
            "MLP 64 alpha=1",
            False,
            lambda: _scaled(
                mlp.MLPClassifier(hidden_layer_sizes=(64,), alpha=1.0, max_iter=1000, random_state=0)
            ),
        ),
        ("majority class", False, lambda: __import__("sklearn.dummy").dummy.DummyClassifier()),
    ]


def regression_zoo() -> list[tuple[str, bool, Callable[[], Any]]]:
    """(team, tuned, factory): ~32 regressors, defaults, hand settings and CV-tuned searches."""
    from sklearn import dummy, svm, tree
    from sklearn import ensemble as en
    from sklearn import linear_model as lm
    from sklearn import neighbors as nn
    from sklearn import neural_network as mlp
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.cross_decomposition import PLSRegression
    from sklearn.kernel_ridge import KernelRidge

    scoring = "neg_root_mean_squared_error"

    def standardised_target(model: Any) -> Any:
        from sklearn.preprocessing import StandardScaler

        return TransformedTargetRegressor(_scaled(model), transformer=StandardScaler())

    return [
        ("mean only", False, dummy.DummyRegressor),
        ("least squares", False, lm.LinearRegression),
        ("ridge a=0.1", False, lambda: _scaled(lm.Ridge(0.1))),
        ("ridge a=10", False, lambda: _scaled(lm.Ridge(10.0))),
        ("ridge a=100", False, lambda: _scaled(lm.Ridge(100.0))),
        ("ridge tuned (RidgeCV)", True, lambda: _scaled(lm.RidgeCV(np.logspace(-3, 3, 25)))),
        ("lasso a=0.1", False, lambda: _scaled(lm.Lasso(0.1, max_iter=10000))),
        ("lasso tuned (LassoCV)", True, lambda: _scaled(lm.LassoCV(cv=5, max_iter=10000))),
        ("elastic net tuned", True, lambda: _scaled(lm.ElasticNetCV(cv=5, max_iter=10000))),
        ("huber", False, lambda: _scaled(lm.HuberRegressor(max_iter=1000))),
        ("bayesian ridge", False, lambda: _scaled(lm.BayesianRidge())),
        ("PLS 2 components", False, lambda: _scaled(PLSRegression(2))),
        ("kNN k=5", False, lambda: _scaled(nn.KNeighborsRegressor(5))),
        ("kNN k=20", False, lambda: _scaled(nn.KNeighborsRegressor(20))),
        (
            "kNN tuned",
            True,
            lambda: _search(
                _scaled(nn.KNeighborsRegressor()),
                {
                    "kneighborsregressor__n_neighbors": list(range(1, 60, 3)),
                    "kneighborsregressor__weights": ["uniform", "distance"],
                },
                scoring,
            ),
        ),
        ("tree depth 3", False, lambda: tree.DecisionTreeRegressor(max_depth=3, random_state=0)),
        ("tree default", False, lambda: tree.DecisionTreeRegressor(random_state=0)),
        ("random forest default", False, lambda: en.RandomForestRegressor(random_state=0)),
        ("random forest leaf 5", False, lambda: en.RandomForestRegressor(min_samples_leaf=5, random_state=0)),
        (
            "random forest tuned",
            True,
            lambda: _search(
                en.RandomForestRegressor(random_state=0),
                {
                    "n_estimators": [100, 200, 400],
                    "max_features": [0.33, 0.5, 1.0],
                    "min_samples_leaf": [1, 2, 5, 10],
                },
                scoring,
                8,
            ),
        ),
        ("extra trees default", False, lambda: en.ExtraTreesRegressor(random_state=0)),
        ("AdaBoost", False, lambda: en.AdaBoostRegressor(random_state=0)),
        ("gradient boosting default", False, lambda: en.GradientBoostingRegressor(random_state=0)),
        ("HGB default", False, lambda: en.HistGradientBoostingRegressor(random_state=0)),
        (
            "HGB lr=0.03 300 leaf 20",
            False,
            lambda: en.HistGradientBoostingRegressor(
                learning_rate=0.03, max_iter=300, min_samples_leaf=20, random_state=0
            ),
        ),
        (
            "HGB tuned",
            True,
            lambda: _search(
                en.HistGradientBoostingRegressor(random_state=0),
                {
                    "learning_rate": [0.02, 0.05, 0.1, 0.2],
                    "max_iter": [50, 100, 200, 400],
                    "max_leaf_nodes": [4, 7, 15, 31],
                    "l2_regularization": [0.0, 0.1, 1.0],
                },
                scoring,
                10,
            ),
        ),
        ("SVR rbf", False, lambda: standardised_target(svm.SVR())),
        (
            "SVR tuned",
            True,
            lambda: _search(
                standardised_target(svm.SVR()),
                {
                    "regressor__svr__C": list(np.logspace(-2, 2, 9)),
                    "regressor__svr__gamma": ["scale", 0.001, 0.01, 0.1],
                },
                scoring,
                10,
            ),
        ),
        ("kernel ridge rbf", False, lambda: standardised_target(KernelRidge(kernel="rbf", gamma=0.01))),
        ("MLP default", False, lambda: standardised_target(mlp.MLPRegressor(max_iter=2000, random_state=0))),
        (
            "MLP 32 alpha=1",
            False,
            lambda: standardised_target(
                mlp.MLPRegressor(hidden_layer_sizes=(32,), alpha=1.0, max_iter=2000, random_state=0)
            ),
        ),
    ]


def date_features(dates: pd.Series, origin: pd.Timestamp, trend: int, harmonics: int) -> np.ndarray:
    """Years since `origin` (to the power 1..trend) and the annual cycle (sin/cos, 1..harmonics)."""
    moments = pd.to_datetime(dates)
    years = ((moments - origin).dt.days / 365.25).to_numpy()
    phase = 2 * np.pi * moments.dt.month.to_numpy() / 12
    columns = [years**p for p in range(1, trend + 1)]
    for k in range(1, harmonics + 1):
        columns += [np.sin(k * phase), np.cos(k * phase)]
    return np.column_stack(columns)


def _regression_on_dates(
    make: Callable[[], Any], trend: int, harmonics: int, window: int | None
) -> Predictor:
    def predict(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
        recent = train.iloc[-window:] if window else train
        origin = pd.Timestamp(recent["date"].iloc[0])
        x = date_features(recent["date"], origin, trend, harmonics)
        model = make().fit(x, recent[TARGET].to_numpy())
        return model.predict(date_features(test["date"], origin, trend, harmonics))

    return predict


def _seasonal_naive(drift_years: int | None) -> Predictor:
    def predict(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
        y = train[TARGET].to_numpy()
        horizon = np.arange(len(test))
        last_year = y[-12:][horizon % 12]
        if drift_years is None:
            return last_year
        slope = (y[-12:].mean() - y[-12 * (drift_years + 1) : -12 * drift_years].mean()) / (12 * drift_years)
        return last_year + slope * (12 + 12 * (horizon // 12))

    return predict


def _holt_winters(trend: str | None, damped: bool, seasonal: str, window: int | None) -> Predictor:
    def predict(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        y = train[TARGET].to_numpy()[-window:] if window else train[TARGET].to_numpy()
        model = ExponentialSmoothing(
            y, trend=trend, damped_trend=damped, seasonal=seasonal, seasonal_periods=12
        ).fit()
        return model.forecast(len(test))

    return predict


def _sarimax(order: tuple[int, int, int], seasonal: tuple[int, int, int], window: int | None) -> Predictor:
    def predict(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
        from statsmodels.tsa.statespace.sarimax import SARIMAX

        y = train[TARGET].to_numpy()[-window:] if window else train[TARGET].to_numpy()
        fitted = SARIMAX(y, order=order, seasonal_order=(*seasonal, 12)).fit(disp=False)
        return fitted.forecast(len(test))

    return predict


def forecast_zoo() -> list[tuple[str, str, bool, Predictor]]:
    """(team, tool, tuned, predictor): seasonal naive, regression on dates, Holt-Winters, SARIMA."""
    from sklearn import ensemble as en
    from sklearn import linear_model as lm
    from sklearn import neighbors as nn

    sk, sm = "scikit-learn", "statsmodels"
    teams: list[tuple[str, str, bool, Predictor]] = [
        ("seasonal naive", "numpy", False, _seasonal_naive(None)),
        ("seasonal naive + 1y drift", "numpy", False, _seasonal_naive(1)),
        ("seasonal naive + 3y drift", "numpy", False, _seasonal_naive(3)),
        (
            "last 12 months mean",
            "numpy",
            False,
            lambda train, test: np.full(len(test), train[TARGET].to_numpy()[-12:].mean()),
        ),
    ]
    for trend, harmonics, window in (
        (1, 1, None),
        (1, 2, None),
        (2, 2, None),
        (3, 2, None),
        (1, 2, 120),
        (2, 3, 240),
        (1, 3, 60),
    ):
        teams.append(
            (
                f"OLS trend^{trend} + {harmonics} harmonics, last {window or 'all'}",
                sk,
                False,
                _regression_on_dates(lm.LinearRegression, trend, harmonics, window),
            )
        )
    teams.append(
        (
            "ridge tuned, trend^2 + 3 harmonics",
            sk,
            True,
            _regression_on_dates(lambda: lm.RidgeCV(np.logspace(-4, 2, 13)), 2, 3, None),
        )
    )
    for name, make in (
        ("random forest", lambda: en.RandomForestRegressor(random_state=0)),
        ("HGB", lambda: en.HistGradientBoostingRegressor(random_state=0)),
        ("kNN k=5", lambda: nn.KNeighborsRegressor(5)),
        ("gradient boosting", lambda: en.GradientBoostingRegressor(random_state=0)),
    ):
        teams.append((f"{name} on date features", sk, False, _regression_on_dates(make, 1, 1, None)))
    for trend, damped, seasonal, window in (
        ("add", False, "add", None),
        ("add", True, "add", None),
        ("add", False, "mul", None),
        ("add", False, "add", 120),
        (None, False, "add", None),
        ("add", True, "mul", 240),
    ):
        label = f"Holt-Winters trend={trend}{' damped' if damped else ''} season={seasonal}, last {window or 'all'}"
        teams.append((label, sm, False, _holt_winters(trend, damped, seasonal, window)))
    for order, seasonal, window in (
        ((0, 1, 1), (0, 1, 1), None),
        ((1, 1, 1), (0, 1, 1), None),
        ((1, 1, 0), (1, 1, 0), None),
        ((0, 1, 1), (0, 1, 1), 120),
        ((2, 1, 0), (0, 1, 1), 240),
        ((1, 0, 0), (0, 1, 1), None),
        ((0, 1, 0), (0, 1, 0), None),
    ):
        teams.append(
            (
                f"SARIMA{order}x{seasonal}12, last {window or 'all'}",
                sm,
                False,
                _sarimax(order, seasonal, window),
            )
        )
    return teams


def flaml_predictor(source_kind: str, metric: str, budget: float, seed: int, n_jobs: int = 1) -> Predictor:
    """FLAML's AutoML at a time budget: classification/regression on the features, ts_forecast on dates."""

    def predict(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
        import warnings

        from flaml import AutoML

        warnings.filterwarnings("ignore")
        automl = AutoML()
        settings = {"time_budget": budget, "seed": seed, "n_jobs": n_jobs, "verbose": 0}
        if source_kind == "forecast":
            frame = pd.DataFrame({"ds": pd.to_datetime(train["date"]), "y": train[TARGET]})
            automl.fit(
                dataframe=frame,
                label="y",
                task="ts_forecast",
                period=len(test),
                metric="mae",
                eval_method="holdout",
                **settings,
            )
            return np.asarray(automl.predict(pd.DataFrame({"ds": pd.to_datetime(test["date"])})), dtype=float)
        x, y, x_test = _xy(train, test)
        task = "classification" if source_kind == "classification" else "regression"
        automl.fit(x, y, task=task, metric={"auc": "roc_auc"}.get(metric, metric), **settings)
        if metric == "auc":
            return automl.predict_proba(x_test)[:, -1]
        return automl.predict(x_test)

    return predict


def score_predictions(folder: Path, metric: str, test: pd.DataFrame, predicted: np.ndarray) -> float:
    """Grade predictions on the hidden test rows with the competition's metric (the build reads its answers)."""
    found = find_metric(metric)
    assert found is not None
    answers = pd.read_csv(folder / "prepared" / "private" / "test.csv")
    submission = pd.DataFrame({ID: test[ID], TARGET: predicted})
    return round(grade_frames(found, submission, answers, ID), 5)


def teams_for(source: Source, budgets: list[float]) -> list[tuple[str, str, bool, Predictor]]:
    """Every team of a competition: the zoo of its kind, then FLAML at each budget (two seeds)."""
    light = _is_light(source)
    if source.kind == "forecast":
        teams = forecast_zoo()
    elif source.kind == "classification":
        zoo = classification_zoo(source.metric == "auc")
        teams = [
            (n, "scikit-learn", t, _fitted(_lightened(m, light), source.metric == "auc")) for n, t, m in zoo
        ]
    else:
        teams = [(n, "scikit-learn", t, _fitted(_lightened(m, light), False)) for n, t, m in regression_zoo()]
    for budget in budgets:
        for seed in (0, 1):
            teams.append(
                (
                    f"FLAML {budget:g}s seed {seed}",
                    "flaml",
                    True,
                    flaml_predictor(source.kind, source.metric, budget, seed),
                )
            )
    return teams


def _is_light(source: Source) -> bool:
    features = source.frame.shape[1] - 1
    return (
        source.kind != "forecast"
        and round(len(source.frame) * (1 - source.test_fraction)) * features > LIGHT_CELLS
    )


def _lightened(make: Callable[[], Any], light: bool) -> Callable[[], Any]:
    return (lambda: lighten(make())) if light else make


def write_leaderboard(folder: Path, source: Source, budgets: list[float]) -> int:
    """Run every team on the hidden split; write leaderboard.csv (best first) and provenance.json."""
    import warnings

    from threadpoolctl import threadpool_limits

    warnings.filterwarnings("ignore")
    public = folder / "prepared" / "public"
    train, test = pd.read_csv(public / "train.csv"), pd.read_csv(public / "test.csv")
    entries: list[Entry] = []
    for team, tool, tuned, predictor in teams_for(source, budgets):
        started = time.perf_counter()
        try:
            with threadpool_limits(1):  # OpenMP teams spin on a busy machine; one thread, as strop's lanes
                predicted = predictor(train, test)
            score = score_predictions(folder, source.metric, test, predicted)
        except Exception as error:  # a team that fails is left off the board, and said so
            print(f"  {team}: failed ({type(error).__name__}: {error})", flush=True)
            continue
        entries.append(Entry(team, tool, tuned, round(time.perf_counter() - started, 2), score))
        print(f"  {team}: {score}", flush=True)
    lower = source.metric in ("rmse", "mae")
    entries.sort(key=lambda e: e.score if lower else -e.score)
    pd.DataFrame({"teamName": [e.team for e in entries], "score": [e.score for e in entries]}).to_csv(
        folder / "leaderboard.csv", index=False
    )
    (folder / "provenance.json").write_text(json.dumps(_provenance(source, entries), indent=2) + "\n")
    return len(entries)


def _provenance(source: Source, entries: list[Entry]) -> dict[str, Any]:
    from importlib.metadata import version

    packages = {}
    for name in ("scikit-learn", "statsmodels", "flaml", "lightgbm", "xgboost", "numpy", "pandas"):
        try:
            packages[name] = version(name)
        except Exception:
            packages[name] = None
    return {
        "competition_id": source.id,
        "data": source.package,
        "metric": source.metric,
        "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}",
        "packages": packages,
        "how": "each team fitted on prepared/public/train.csv only, graded on prepared/private/test.csv",
        "tuned_searches": "3-fold, lighter grids (references.lighten)" if _is_light(source) else "5-fold",
        "rebuild": f"nice -n 15 python -m benchmarks.competitions.build --only {source.id}",
        "teams": [asdict(e) for e in entries],
    }
