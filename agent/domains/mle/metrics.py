"""Built-in competition metrics, by name, each knowing its direction and what it compares.

A competition's `config.yaml` names its metric (`grader: {name: accuracy}`); when the
folder ships no `grade.py`, the metric here grades the submission against the answers.
MLE-bench spells names several ways (`auc-roc`, `log-loss`, `RMSE`), so names are
normalised (lower case, `-` and spaces as `_`) and aliases map to one `Metric`.

Grading joins the submission and the answers on the id column. Label metrics compare
the predicted column with the answer column; value metrics read both as numbers;
probability metrics read either one probability column (binary) or one column per
class, named by the class label (multi-class, Kaggle's usual form). Several target
columns are scored one by one and averaged (MLE-bench's "mean column-wise" metrics).

It imports nothing from strop (numpy, pandas and scikit-learn only): `strop mle run` copies
it beside its trusted scorer, which runs in a sandbox where strop's own code is absent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

Kind = Literal["labels", "values", "probabilities"]


class InvalidSubmission(Exception):
    """The submission cannot be scored (a wrong value, a missing class column): `valid_submission: false`."""


@dataclass(frozen=True)
class Metric:
    """A named metric: `score(y_true, y_pred)`, whether lower is better, and what it compares."""

    name: str
    lower_is_better: bool
    kind: Kind
    score: Callable[[np.ndarray, np.ndarray], float]


def _accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(y_true == y_pred))


def _f1_macro(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, average="macro"))


def _f1_binary(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    labels = np.unique(y_true)
    if len(labels) != 2:
        return _f1_macro(y_true, y_pred)
    return float(f1_score(y_true, y_pred, pos_label=labels[-1]))


def _qwk(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    from sklearn.metrics import cohen_kappa_score

    return float(cohen_kappa_score(y_true, y_pred, weights="quadratic"))


def _rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2)))


def _mse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean((y_true - y_pred) ** 2))


def _mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(np.abs(y_true - y_pred)))


def _rmsle(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    if (y_pred <= -1).any() or (y_true <= -1).any():
        raise InvalidSubmission("rmsle needs values above -1")
    return float(np.sqrt(np.mean((np.log1p(y_true) - np.log1p(y_pred)) ** 2)))


def _r2(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    from sklearn.metrics import r2_score

    return float(r2_score(y_true, y_pred))


def _auc(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if y_pred.ndim == 1:
        return float(roc_auc_score(y_true, y_pred))
    return float(roc_auc_score(y_true, y_pred, multi_class="ovr"))


def _logloss(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Log loss with Kaggle's clipping (1e-15) and rows renormalised to sum to one."""
    probabilities = np.clip(y_pred, 1e-15, 1 - 1e-15)
    if probabilities.ndim == 1:
        positive = y_true.astype(float)
        return float(-np.mean(positive * np.log(probabilities) + (1 - positive) * np.log(1 - probabilities)))
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)
    return float(-np.mean(np.log(probabilities[np.arange(len(y_true)), y_true.astype(int)])))


_METRICS = (
    (Metric("accuracy", False, "labels", _accuracy), ("accuracy", "categorization_accuracy")),
    (Metric("f1", False, "labels", _f1_binary), ("f1", "f1_score")),
    (Metric("f1_macro", False, "labels", _f1_macro), ("f1_macro", "macro_f1", "mean_f1")),
    (Metric("qwk", False, "labels", _qwk), ("qwk", "quadratic_weighted_kappa", "cohen_kappa")),
    (Metric("rmse", True, "values", _rmse), ("rmse", "root_mean_squared_error")),
    (Metric("mse", True, "values", _mse), ("mse", "mean_squared_error")),
    (Metric("mae", True, "values", _mae), ("mae", "mean_absolute_error")),
    (Metric("rmsle", True, "values", _rmsle), ("rmsle", "root_mean_squared_log_error")),
    (Metric("r2", False, "values", _r2), ("r2", "r_squared", "coefficient_of_determination")),
    (Metric("auc", False, "probabilities", _auc), ("auc", "roc_auc", "auc_roc", "area_under_roc_curve")),
    (Metric("logloss", True, "probabilities", _logloss), ("logloss", "log_loss", "multi_class_log_loss")),
)
_BY_NAME: dict[str, Metric] = {alias: metric for metric, aliases in _METRICS for alias in aliases}
KNOWN = tuple(metric.name for metric, _ in _METRICS)


def normalise(name: str) -> str:
    """`Auc-ROC` and `auc roc` are the same name: lower case, `-` and spaces as `_`."""
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def find_metric(name: str) -> Metric | None:
    """The built-in metric called `name` (any alias), or None when strop has none by that name."""
    return _BY_NAME.get(normalise(name))


def grade_frames(
    metric: Metric,
    submission: pd.DataFrame,
    answers: pd.DataFrame,
    id_column: str,
    predicted: Sequence[str] = (),
) -> float:
    """Score a submission against the answers, joined on `id_column`, averaged over target columns.

    The targets are `predicted` (the sample submission's non-id columns) when the answers have
    them all, so that an extra answer column (Kaggle's `Usage`) is not taken for a target; else
    (a label column whose classes are the submission's columns) every non-id answer column.
    Raises `InvalidSubmission` for what the submission got wrong (ids, values, columns), and
    for values that overflow the metric (1e308 squared): a non-finite score is theirs.
    """
    targets = _target_columns(answers, id_column, predicted)
    with np.errstate(over="ignore", invalid="ignore"):
        score = _grade(metric, submission, answers, id_column, targets)
    if not np.isfinite(score):
        raise InvalidSubmission(f"the submission's values give a non-finite {metric.name} ({score})")
    return score


def _target_columns(answers: pd.DataFrame, id_column: str, predicted: Sequence[str]) -> list[str]:
    wanted = [column for column in predicted if column != id_column]
    if wanted and all(column in answers.columns for column in wanted):
        return wanted
    return [column for column in answers.columns if column != id_column]


def _grade(
    metric: Metric, submission: pd.DataFrame, answers: pd.DataFrame, id_column: str, targets: list[str]
) -> float:
    if not targets:
        raise InvalidSubmission(f"the answers have no column besides the id column {id_column!r}")
    answers = answers.set_index(answers[id_column].astype(str))
    submission = submission.set_index(submission[id_column].astype(str))
    if set(submission.index) != set(answers.index) or len(submission) != len(answers):
        raise InvalidSubmission("the submission's ids are not the answers' ids")
    submission = submission.loc[answers.index]
    if metric.kind == "probabilities" and len(targets) == 1 and targets[0] not in submission.columns:
        return _score_class_columns(metric, submission, answers[targets[0]], id_column)
    missing = [column for column in targets if column not in submission.columns]
    if missing:
        raise InvalidSubmission(f"the submission has no column {missing[0]!r}")
    if metric.name == "logloss" and _one_hot(answers[targets]):  # (AUC: one-vs-rest is per column)
        truth = answers[targets].to_numpy(dtype=float).argmax(axis=1)
        matrix = np.column_stack([_numbers(submission[column]) for column in targets])
        if (matrix < 0).any():
            raise InvalidSubmission("the submission holds negative probabilities")
        return metric.score(truth, matrix)
    return float(np.mean([_score_column(metric, submission[t], answers[t]) for t in targets]))


def _one_hot(answers: pd.DataFrame) -> bool:
    """Answers that are one class per row, one column per class (a 1 in exactly one column).

    Kaggle writes multi-class answers so; their log loss is one multi-class loss over the rows,
    not the mean of each column's binary loss, as for multi-label answers. (AUC needs no such
    case: its one-vs-rest mean over classes is the mean of the columns' AUCs.)
    """
    if answers.shape[1] < 2:
        return False
    import pandas as pd

    values = answers.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    return bool(np.isin(values, (0.0, 1.0)).all() and (values.sum(axis=1) == 1).all())


def _score_column(metric: Metric, predicted: pd.Series, truth: pd.Series) -> float:
    if metric.kind == "labels":
        if (missing := int(predicted.isna().sum())) > 0:  # a NaN read as the text "nan": 0.0 for all
            raise InvalidSubmission(
                f"column {predicted.name!r} has {missing} empty label(s) (NaN, NA or blank): every id "
                "needs a prediction"
            )
        expected, guessed = _labels(truth), _labels(predicted)
        if expected.dtype.kind != guessed.dtype.kind:  # numbers on one side, text on the other
            expected, guessed = _as_text(expected), _as_text(guessed)
        return metric.score(expected, guessed)
    values = _numbers(predicted)
    if metric.kind == "probabilities" and ((values < 0) | (values > 1)).any():
        raise InvalidSubmission(f"column {predicted.name!r} holds probabilities outside [0, 1]")
    return metric.score(_numbers(truth) if metric.kind == "values" else _binary(truth), values)


def _score_class_columns(metric: Metric, submission: pd.DataFrame, truth: pd.Series, id_column: str) -> float:
    """Multi-class probabilities: one column per class label; the truth indexes the columns."""
    columns = [column for column in submission.columns if column != id_column]
    classes = {str(column): position for position, column in enumerate(columns)}
    labels = [str(value) for value in _as_text(_labels(truth))]  # class 2 has column `2`
    unknown = sorted({label for label in labels if label not in classes})
    if unknown:
        raise InvalidSubmission(f"the submission has no probability column for class {unknown[0]!r}")
    matrix = np.column_stack([_numbers(submission[column]) for column in columns])
    if (matrix < 0).any():
        raise InvalidSubmission("the submission holds negative probabilities")
    return metric.score(np.array([classes[label] for label in labels]), matrix)


def _labels(series: pd.Series) -> np.ndarray:
    """Labels compare as numbers when they are numbers (`3` equals `3.0`), else as text."""
    import pandas as pd

    numbers = pd.to_numeric(series, errors="coerce")
    if not numbers.isna().any():
        return numbers.to_numpy(dtype=float)
    return series.astype(str).str.strip().to_numpy()


def _as_text(labels: np.ndarray) -> np.ndarray:
    """Labels as text, whole numbers without a decimal point (`2.0` reads `2`, as it was written)."""
    if labels.dtype.kind != "f":
        return labels.astype(str)
    return np.array([str(int(v)) if float(v).is_integer() else str(v) for v in labels])


def _numbers(series: pd.Series) -> np.ndarray:
    import pandas as pd

    values = pd.to_numeric(series, errors="coerce")
    if values.isna().any() or not np.isfinite(values.to_numpy(dtype=float)).all():
        raise InvalidSubmission(f"column {series.name!r} holds a value that is not a finite number")
    return values.to_numpy(dtype=float)


def _binary(series: pd.Series) -> np.ndarray:
    """Binary truth as 0/1: numbers stay, two text labels map in sorted order (False < True)."""
    labels = _labels(series)
    if labels.dtype.kind == "f":
        return labels
    classes = sorted(set(labels))
    if len(classes) > 2:
        raise InvalidSubmission("one probability column needs a binary target")
    return np.array([classes.index(label) for label in labels], dtype=float)
