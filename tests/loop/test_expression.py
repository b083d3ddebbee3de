"""The rule language: implications desugared, only whitelisted syntax accepted, evaluation."""

from __future__ import annotations

import pytest

from agent.expression import ExpressionError, MissingValue, parse


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("max_iter * max_depth <= 1200", {"max_iter": 100, "max_depth": 12}, True),
        ("max_iter * max_depth <= 1200", {"max_iter": 101, "max_depth": 12}, False),
        ("batch % 8 == 0", {"batch": 24}, True),
        ("model == 'knn' -> k <= 5", {"model": "ridge", "k": 50}, True),
        ("model == 'knn' -> k <= 5", {"model": "knn", "k": 50}, False),
        ("a implies b", {"a": True, "b": False}, False),
        ("implies(a, b)", {"a": False, "b": False}, True),
        ("(a -> b) and c", {"a": True, "b": True, "c": False}, False),
        ("a -> b -> c", {"a": True, "b": True, "c": False}, False),
        ("not (d == 1 and p > 10)", {"d": 1, "p": 11}, False),
        ("x in (1, 2, 3) and y not in ('u',)", {"x": 2, "y": "v"}, True),
        ("abs(a - b) < 3 or min(a, b) >= 2", {"a": 0, "b": 5}, False),
        ("s == 'a->b'", {"s": "a->b"}, True),
    ],
)
def test_evaluates_rules(text: str, values: dict, expected: bool) -> None:
    assert parse(text).evaluate(values) is expected


def test_names_are_the_parameters_read() -> None:
    assert parse("model == 'knn' -> k % 2 == 1").names == {"model", "k"}


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('x')",
        "a.b > 1",
        "x ** y",
        "-> a",
        "lambda: 1",
        "[i for i in x]",
        "f(x)",
        "x[0]",
    ],
)
def test_refuses_anything_outside_the_language(text: str) -> None:
    with pytest.raises(ExpressionError):
        parse(text)


def test_missing_value_is_reported() -> None:
    with pytest.raises(MissingValue):
        parse("k > 1").evaluate({})
