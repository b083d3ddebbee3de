"""Built-in metrics: names and aliases, directions, and scores checked against scikit-learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, log_loss, mean_absolute_error, roc_auc_score

from agent.domains.mle.metrics import InvalidSubmission, find_metric, grade_frames


@pytest.mark.parametrize(
    ("alias", "name", "lower"),
    [
        ("accuracy", "accuracy", False),
        ("AUC-ROC", "auc", False),
        ("roc auc", "auc", False),
        ("log-loss", "logloss", True),
        ("RMSE", "rmse", True),
        ("mean_absolute_error", "mae", True),
        ("quadratic-weighted-kappa", "qwk", False),
    ],
)
def test_aliases_find_one_metric_with_its_direction(alias: str, name: str, lower: bool) -> None:
    metric = find_metric(alias)
    assert metric is not None and metric.name == name and metric.lower_is_better is lower


def test_an_unknown_name_finds_nothing() -> None:
    assert find_metric("mean-average-precision-at-7") is None


def frames(column: str, predicted: list[object], truth: list[object]) -> tuple[pd.DataFrame, pd.DataFrame]:
    ids = [f"r{n}" for n in range(len(truth))]
    submission = pd.DataFrame({"id": ids, column: predicted}).iloc[::-1]  # order must not matter
    return submission, pd.DataFrame({"id": ids, column: truth})


def test_accuracy_joins_on_ids_and_compares_labels() -> None:
    truth, predicted = ["cat", "dog", "cat", "bird"], ["cat", "cat", "cat", "bird"]
    score = grade_frames(find_metric("accuracy"), *frames("label", predicted, truth), "id")
    assert score == pytest.approx(accuracy_score(truth, predicted)) == 0.75


def test_numeric_labels_compare_as_numbers() -> None:
    assert grade_frames(find_metric("accuracy"), *frames("y", [1.0, 2.0], [1, 2]), "id") == 1.0


def test_text_guesses_of_numeric_labels_are_scored_not_refused() -> None:
    assert grade_frames(find_metric("accuracy"), *frames("y", ["cat", 2], [1, 2]), "id") == 0.5
    assert grade_frames(find_metric("f1_macro"), *frames("y", ["cat", "dog"], [1, 2]), "id") == 0.0


def test_f1_and_mae_match_scikit_learn() -> None:
    truth, predicted = [0, 1, 1, 0, 1], [0, 1, 0, 0, 1]
    assert grade_frames(find_metric("f1"), *frames("y", predicted, truth), "id") == pytest.approx(
        f1_score(truth, predicted)
    )
    values, guesses = [1.0, 2.5, 4.0], [1.5, 2.0, 5.0]
    assert grade_frames(find_metric("mae"), *frames("y", guesses, values), "id") == pytest.approx(
        mean_absolute_error(values, guesses)
    )


def test_binary_auc_reads_one_probability_column() -> None:
    truth, probability = [0, 1, 1, 0], [0.2, 0.7, 0.4, 0.5]
    assert grade_frames(find_metric("auc"), *frames("y", probability, truth), "id") == pytest.approx(
        roc_auc_score(truth, probability)
    )


def test_multiclass_logloss_reads_one_column_per_class() -> None:
    truth = ["a", "b", "c", "a"]
    matrix = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.5, 0.25, 0.25]])
    ids = ["r0", "r1", "r2", "r3"]
    submission = pd.DataFrame({"id": ids, "a": matrix[:, 0], "b": matrix[:, 1], "c": matrix[:, 2]})
    answers = pd.DataFrame({"id": ids, "label": truth})
    expected = log_loss(truth, matrix, labels=["a", "b", "c"])
    assert grade_frames(find_metric("logloss"), submission, answers, "id") == pytest.approx(expected)


def test_one_hot_answers_are_one_multiclass_problem_and_numeric_classes_name_their_columns() -> None:
    matrix = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.5, 0.25, 0.25]])
    ids = ["r0", "r1", "r2", "r3"]
    submission = pd.DataFrame({"id": ids, "1": matrix[:, 0], "2": matrix[:, 1], "3": matrix[:, 2]})
    expected = log_loss([1, 2, 3, 1], matrix, labels=[1, 2, 3])  # not the mean of three binary losses
    one_hot = pd.DataFrame({"id": ids, "1": [1, 0, 0, 1], "2": [0, 1, 0, 0], "3": [0, 0, 1, 0]})
    assert grade_frames(find_metric("logloss"), submission, one_hot, "id") == pytest.approx(expected)
    labels = pd.DataFrame({"id": ids, "label": [1.0, 2.0, 3.0, 1.0]})  # classes read back as floats
    assert grade_frames(find_metric("logloss"), submission, labels, "id") == pytest.approx(expected)


def test_several_target_columns_are_averaged() -> None:
    ids = ["r0", "r1", "r2", "r3"]
    answers = pd.DataFrame({"id": ids, "x": [0, 1, 0, 1], "y": [1, 0, 0, 1]})
    submission = pd.DataFrame({"id": ids, "x": [0.1, 0.9, 0.2, 0.8], "y": [0.3, 0.6, 0.2, 0.9]})
    expected = (roc_auc_score(answers.x, submission.x) + roc_auc_score(answers.y, submission.y)) / 2
    assert grade_frames(find_metric("auc"), submission, answers, "id") == pytest.approx(expected)


@pytest.mark.parametrize(
    ("metric", "predicted", "says"),
    [
        ("rmse", ["1.0", "oops"], "not a finite number"),
        ("auc", [0.5, 1.5], "outside [0, 1]"),
    ],
)
def test_bad_values_are_an_invalid_submission(metric: str, predicted: list[object], says: str) -> None:
    with pytest.raises(InvalidSubmission, match=said(says)):
        grade_frames(find_metric(metric), *frames("y", predicted, [0, 1]), "id")


def test_ids_that_are_not_the_answers_are_an_invalid_submission() -> None:
    submission = pd.DataFrame({"id": ["r0", "zz"], "y": [0, 1]})
    answers = pd.DataFrame({"id": ["r0", "r1"], "y": [0, 1]})
    with pytest.raises(InvalidSubmission, match="ids"):
        grade_frames(find_metric("accuracy"), submission, answers, "id")


def said(text: str) -> str:
    import re

    return re.escape(text)


def test_one_hot_answers_under_auc_are_the_mean_of_the_columns_auc() -> None:
    ids = ["r0", "r1", "r2", "r3", "r4", "r5"]
    one_hot = pd.DataFrame(
        {"id": ids, "a": [1, 0, 0, 1, 0, 0], "b": [0, 1, 0, 0, 1, 0], "c": [0, 0, 1, 0, 0, 1]}
    )
    scores = {
        "a": [0.9, 0.2, 0.4, 0.3, 0.1, 0.5],
        "b": [0.1, 0.7, 0.2, 0.6, 0.9, 0.3],
        "c": [0.2, 0.1, 0.8, 0.1, 0.3, 0.4],
    }
    submission = pd.DataFrame({"id": ids, **scores})  # scores, not probabilities: rows need not sum to 1
    expected = np.mean([roc_auc_score(one_hot[c], scores[c]) for c in "abc"])
    assert grade_frames(find_metric("auc"), submission, one_hot, "id") == pytest.approx(expected)
