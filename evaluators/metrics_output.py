"""Reading metrics from what an evaluator printed: the last JSON object line of stdout, or a file.

Pure functions: text in, metrics or a one-line reason out. No LLM ever reads a score.
The text is hostile (a candidate may print it): a 5,000-digit integer, a number too large for a
float or arrays nested 100,000 deep are a reason, never an exception that stops the run.
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


def last_json_object(text: str, metric: str = "accuracy") -> dict[str, object]:
    """The last line of `text` that parses as a JSON object; the error names the task's `metric`."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if not (line.startswith("{") and line.endswith("}")):
            continue
        try:
            value = json.loads(line)
        except (ValueError, RecursionError):  # not JSON, an integer over Python's digit limit, too deep
            continue
        if isinstance(value, dict):
            return value
    example = json.dumps({metric[:40]: 0.93})
    if not text.strip():
        raise MetricsError(
            f"the evaluator printed nothing on stdout (expected a JSON line such as {example})"
        )
    last = " ".join(text.strip().splitlines()[-1].split())
    last = "".join(c for c in last if c.isprintable())
    shown = last if len(last) <= 80 else last[:79] + "…"
    raise MetricsError(
        f"the evaluator printed no JSON object line such as {example} on stdout (its last line: {shown!r}); "
        "print the metrics as one JSON line last, e.g. `print(json.dumps(metrics))`, or name a file "
        "holding them with `metrics_file`"
    )


def parse_json_object(text: str, source: str) -> dict[str, object]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise MetricsError(f"{source} is not valid JSON: {error.msg} at line {error.lineno}") from None
    except (ValueError, RecursionError) as error:
        reason = "nested too deeply" if isinstance(error, RecursionError) else str(error).split(";")[0]
        raise MetricsError(f"{source} cannot be read as JSON: {reason}") from None
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
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise MetricsError(f"metric {primary!r} is {type(value).__name__} {shown}, not a number")
    primary_value = finite_number(value)
    if primary_value is None:
        shown = "an integer too large for a float" if isinstance(value, int) else str(value)
        raise MetricsError(f"metric {primary!r} is {shown}, not a finite number")
    return ParsedMetrics(metrics=_kept(raw, primary), primary=primary_value)


MAX_METRICS = 64
"""Numeric metrics kept from one output (the primary one always among them)."""
MAX_KEY_CHARS = 100


def _kept(raw: dict[str, object], primary: str) -> dict[str, float]:
    """The finite numbers of `raw`, in the order printed: the primary metric, and up to
    `MAX_METRICS` in all of the others whose keys are at most `MAX_KEY_CHARS` long.

    Every experiment's record keeps its metrics (in a git note, in each prompt and report);
    a scorer that prints 50,000 of them, or one 200 KB key, within the 1 MiB output limit
    made that record too big to write, and the run stopped with an internal error.
    """
    metrics: dict[str, float] = {}
    others = 0
    for name, value in raw.items():
        number = finite_number(value)
        if number is None:
            continue
        if name == primary:
            metrics[name] = number
        elif len(name) <= MAX_KEY_CHARS and others < MAX_METRICS - 1:
            metrics[name] = number
            others += 1
    return metrics


def finite_number(value: object) -> float | None:
    """`value` as a finite float, or None (not a number, a bool, inf/nan, or an int past 1e308)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None
