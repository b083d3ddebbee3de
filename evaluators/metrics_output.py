"""Reading metrics from what an evaluator printed: the last JSON object line of stdout, or a file.

Pure functions: text in, metrics or a one-line reason out. No LLM ever reads a score.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass


class MetricsError(ValueError):
    """The evaluator's output holds no usable metric; the message says why, in one line."""


@dataclass(frozen=True)
class ParsedMetrics:
    metrics: dict[str, float]
    primary: float


def last_json_object(text: str) -> dict[str, object]:
    """The last line of `text` that parses as a JSON object."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if not (line.startswith("{") and line.endswith("}")):
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    raise MetricsError(
        'the evaluator printed no JSON object line on stdout (expected e.g. {"accuracy": 0.93})'
    )


def parse_json_object(text: str, source: str) -> dict[str, object]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise MetricsError(f"{source} is not valid JSON: {error.msg} at line {error.lineno}") from None
    if not isinstance(value, dict):
        raise MetricsError(f"{source} holds a JSON {type(value).__name__}, not an object of metrics")
    return value


def validate_metrics(raw: dict[str, object], primary: str) -> ParsedMetrics:
    """Keep the numeric metrics; the primary one must be present, a real number, and finite."""
    if primary not in raw:
        names = ", ".join(sorted(raw)) or "none"
        raise MetricsError(f"metric {primary!r} is absent from the evaluator's output (it gave: {names})")
    value = raw[primary]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MetricsError(f"metric {primary!r} is {type(value).__name__} {value!r}, not a number")
    if not math.isfinite(float(value)):
        raise MetricsError(f"metric {primary!r} is {value}, not a finite number")
    metrics = {
        name: float(v)
        for name, v in raw.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))
    }
    return ParsedMetrics(metrics=metrics, primary=float(value))
