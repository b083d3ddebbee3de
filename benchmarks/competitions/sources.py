"""The data behind the bundled competitions: data sets that ship inside pip packages, made unrecognisable.

Each `Source` is one competition's raw table (features, a target, a kind) read from a package
that is installed, or installable from PyPI by name: scikit-learn (digits, diabetes),
statsmodels (fair, star98, co2) and the UCR series that the sktime wheel carries
(ItalyPowerDemand, ArrowHead). sktime pins pandas below what strop uses, so it is not
installed: its wheel is fetched with `pip download sktime==1.2.0 --no-deps` and the `.ts`
files are read straight from the zip.

A candidate can import the same packages, so the prepared files are a seeded transformation
of the package's copy (the trust issue's speed bump, as in `benchmarks/taskdata.py`): rows
shuffled, tabular columns permuted and each scaled, shifted and lightly noised, series
scaled and noised as a whole (their order is the signal), regression targets mapped by an
affine map, class labels renamed, forecast dates moved by whole years. The key lives in
the competition's `prepared/private/key.json`.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from benchmarks.taskdata import obfuscate

Kind = Literal["classification", "regression", "forecast"]
SKTIME_WHEEL = "sktime==1.2.0"
WHEEL_CACHE = Path.home() / ".cache" / "strop" / "wheels"
FEATURE_NOISE = 0.02  # × each column's spread: enough to break exact matching, little else


@dataclass(frozen=True)
class Source:
    """One competition before it is split: the table, its target, what kind of task, how to grade."""

    id: str
    title: str
    package: str  # provenance: where the rows come from
    kind: Kind
    metric: str
    frame: pd.DataFrame  # features and `target`; a `date` column for forecasts
    description: str
    test_fraction: float = 0.3


def _tabular(x: np.ndarray, y: np.ndarray, key: int) -> pd.DataFrame:
    features = significant(obfuscate(x.astype(float), key, FEATURE_NOISE).astype(float))
    frame = pd.DataFrame(features, columns=[f"f{i:02d}" for i in range(features.shape[1])])
    frame["target"] = y
    return frame


def significant(values: np.ndarray, digits: int = 4) -> np.ndarray:
    """Values to `digits` significant digits: the noise is coarser, and the CSV files stay small."""
    flat = [float(f"{v:.{digits}g}") for v in np.asarray(values, dtype=float).ravel()]
    return np.array(flat).reshape(np.shape(values))


def _affine_target(y: np.ndarray, key: int, digits: int = 3) -> np.ndarray:
    rng = np.random.default_rng(key + 7)
    return (y * rng.uniform(0.5, 2.0) + rng.uniform(-50.0, 50.0)).round(digits)


def _renamed_labels(y: np.ndarray, key: int) -> np.ndarray:
    classes = np.unique(y)
    names = np.random.default_rng(key + 11).permutation(len(classes))
    mapping = {label: int(name) for label, name in zip(classes, names, strict=True)}
    return np.array([mapping[label] for label in y])


def digits(key: int) -> Source:
    from sklearn.datasets import load_digits

    data = load_digits()
    return Source(
        "strop-digits",
        "Handwritten digits",
        "scikit-learn load_digits",
        "classification",
        "accuracy",
        _tabular(data.data, _renamed_labels(data.target, key), key),
        "8×8 handwritten digit images, pixels scrambled and rescaled; predict the class (10 classes).",
    )


def diabetes(key: int) -> Source:
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    return Source(
        "strop-diabetes",
        "Diabetes progression",
        "scikit-learn load_diabetes",
        "regression",
        "rmse",
        _tabular(data.data, _affine_target(data.target, key), key),
        "Ten baseline measurements of diabetes patients; predict a (rescaled) progression score.",
    )


def fair(key: int) -> Source:
    import statsmodels.api as sm

    data = sm.datasets.fair.load_pandas().data
    rows = np.random.default_rng(key + 3).permutation(len(data))[:3000]
    table = data.iloc[rows]
    x = table.drop(columns=["affairs"]).to_numpy(dtype=float)
    y = (table["affairs"].to_numpy() > 0).astype(int)
    return Source(
        "strop-fair",
        "Survey answers, binary outcome",
        "statsmodels datasets.fair (3,000 rows)",
        "classification",
        "auc",
        _tabular(x, y, key),
        "Answers to a 1974 magazine survey (scrambled); predict the probability that target is 1.",
    )


def star98(key: int) -> Source:
    import statsmodels.api as sm

    data = sm.datasets.star98.load_pandas().data
    share = data["NABOVE"] / (data["NABOVE"] + data["NBELOW"])
    x = data.drop(columns=["NABOVE", "NBELOW"]).to_numpy(dtype=float)
    y = np.random.default_rng(key + 5).uniform(50.0, 150.0) * share.to_numpy()
    return Source(
        "strop-star98",
        "School test results",
        "statsmodels datasets.star98",
        "regression",
        "rmse",
        _tabular(x, y.round(4), key),
        "California school districts (scrambled covariates); predict a rescaled share of pupils above "
        "the national median in maths.",
    )


def co2(key: int) -> Source:
    import statsmodels.api as sm

    weekly = sm.datasets.co2.load_pandas().data["co2"]
    monthly = weekly.resample("MS").mean().interpolate()
    rng = np.random.default_rng(key + 13)
    years = int(rng.integers(20, 60))
    dates = monthly.index + pd.DateOffset(years=years)
    scale, shift = rng.uniform(0.5, 2.0), rng.uniform(-100.0, 100.0)
    frame = pd.DataFrame(
        {"date": dates.strftime("%Y-%m-%d"), "target": (monthly.to_numpy() * scale + shift).round(3)}
    )
    return Source(
        "strop-co2",
        "Monthly concentration forecast",
        "statsmodels datasets.co2 (monthly means)",
        "forecast",
        "mae",
        frame,
        "A monthly series (rescaled, dates moved); forecast the last 36 months from the rest.",
        test_fraction=36 / len(frame),
    )


def _ucr(name: str, key: int, identifier: str, title: str, metric: str) -> Source:
    series, labels = read_ucr(name)
    rng = np.random.default_rng(key + 17)
    scaled = series * rng.uniform(0.5, 2.0) + rng.uniform(-3.0, 3.0)
    scaled = scaled + rng.normal(0.0, 0.01 * series.std(), series.shape)
    frame = pd.DataFrame(significant(scaled), columns=[f"t{i:03d}" for i in range(series.shape[1])])
    frame["target"] = _renamed_labels(labels, key)
    return Source(
        identifier,
        title,
        f"UCR {name} (sktime wheel, official train+test pooled)",
        "classification",
        metric,
        frame,
        f"Each row is one time series of {series.shape[1]} points, in order (t000 first; rescaled); "
        "predict its class.",
        test_fraction=0.5,
    )


def italy_power(key: int) -> Source:
    return _ucr("ItalyPowerDemand", key, "strop-italy-power", "Daily power demand profiles", "accuracy")


def arrowhead(key: int) -> Source:
    return _ucr("ArrowHead", key, "strop-arrowhead", "Arrowhead outlines as series", "accuracy")


SOURCES: dict[str, Callable[[int], Source]] = {
    "strop-digits": digits,
    "strop-diabetes": diabetes,
    "strop-fair": fair,
    "strop-star98": star98,
    "strop-co2": co2,
    "strop-italy-power": italy_power,
    "strop-arrowhead": arrowhead,
}


def read_ucr(name: str) -> tuple[np.ndarray, np.ndarray]:
    """A UCR data set's series and labels (TRAIN then TEST) from the sktime wheel's `.ts` files."""
    wheel = _sktime_wheel()
    rows: list[list[float]] = []
    labels: list[str] = []
    with zipfile.ZipFile(wheel) as archive:
        for part in ("TRAIN", "TEST"):
            text = archive.read(f"sktime/datasets/data/{name}/{name}_{part}.ts").decode()
            for values, label in _ts_rows(text):
                rows.append(values)
                labels.append(label)
    return np.array(rows, dtype=float), np.array(labels)


def _ts_rows(text: str) -> list[tuple[list[float], str]]:
    """The data lines of a univariate `.ts` file: `v1,v2,…:label`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().lower() == "@data") + 1
    found = []
    for line in lines[start:]:
        if line.strip():
            values, label = line.rsplit(":", 1)
            found.append(([float(v) for v in values.split(",")], label.strip()))
    return found


def _sktime_wheel() -> Path:
    """The sktime wheel, downloaded once into a cache (no install: it would downgrade pandas)."""
    found = sorted(WHEEL_CACHE.glob("sktime-1.2.0-*.whl"))
    if found:
        return found[0]
    WHEEL_CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", SKTIME_WHEEL, "--no-deps", "-q", "-d", str(WHEEL_CACHE)],
        check=True,
    )
    return sorted(WHEEL_CACHE.glob("sktime-1.2.0-*.whl"))[0]
