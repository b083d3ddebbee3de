"""Reading metrics from what an evaluator printed: the last JSON object line of stdout, or a file.

Pure functions: text in, metrics or a one-line reason out. No LLM ever reads a score.
The text is hostile (a candidate may print it): a 5,000-digit integer, a number too large for a
float or arrays nested 100,000 deep are a reason, never an exception that stops the run.

Windows tools open text with a byte-order mark: one before a stdout line's JSON, or at the start
of a metrics file (in UTF-8, or UTF-16/32 as PowerShell writes them), is read as absent. A line
that still cannot be read is quoted with its invisible characters spelled out (`\\ufeff`), since
a reason that quotes valid-looking JSON as "no JSON" tells a user nothing.
"""

from __future__ import annotations

import json
import math
import unicodedata
from dataclasses import dataclass

BOM = "\ufeff"


class MetricsError(ValueError):
    """The evaluator's output holds no usable metric; the message says why, in one line."""


@dataclass(frozen=True)
class ParsedMetrics:
    """The numeric metrics kept, the primary one's value, and what was left out and why."""

    metrics: dict[str, float]
    primary: float
    dropped: tuple[str, ...] = ()
    """Each other metric left out as not a finite number, in words: `cpu (null)`, `aux (NaN)`."""
    past_limits: int = 0
    """Numeric metrics left out past `MAX_METRICS`, or for a key over `MAX_KEY_CHARS`."""

    @property
    def note(self) -> str:
        """One line on the metrics left out, for the verdict's reason ("" when none were).

        A scorer's `"cpu": null` or `"aux": NaN` vanished from the record with no word: its
        author looked for a metric that was never there and could not tell why.
        """
        said = []
        if self.dropped:
            shown = ", ".join(self.dropped[:SHOWN_DROPPED])
            more = len(self.dropped) - SHOWN_DROPPED
            said.append(
                "other metrics left out, not finite numbers: "
                + shown
                + (f" and {more} more" if more > 0 else "")
            )
        if self.past_limits:
            said.append(
                f"{self.past_limits} numeric metric(s) left out past the {MAX_METRICS} kept "
                f"(or for a key over {MAX_KEY_CHARS} characters)"
            )
        return "; ".join(said)


def last_json_object(text: str, metric: str = "accuracy") -> dict[str, object]:
    """The last line of `text` that parses as a JSON object (a byte-order mark before it aside);
    the error names the task's `metric`, and quotes the line that came closest."""
    rejected: tuple[str, str] | None = None  # the last line shaped like an object that is not JSON, and why
    for line in reversed(text.strip().splitlines()):
        line = line.strip().removeprefix(BOM).strip()
        if not (line.startswith("{") and line.endswith("}")):
            continue
        try:
            value = _once(json.loads(line, object_pairs_hook=_each_key_once), "the evaluator's metrics line")
        except MetricsError:
            raise  # a ValueError too, and no "not JSON"
        except json.JSONDecodeError as error:
            rejected = rejected or (line, f"{error.msg} at column {error.colno}")
            continue
        except (ValueError, RecursionError):  # an integer over Python's digit limit, too deep
            rejected = rejected or (line, "a number or nesting past what strop reads")
            continue
        if isinstance(value, dict):
            return value
    example = json.dumps({metric[:40]: 0.93})
    if not text.strip():
        raise MetricsError(
            f"the evaluator printed nothing on stdout (expected a JSON line such as {example})"
        )
    if rejected is not None:
        said = f"its last line shaped like one, {quoted(rejected[0])}, is not JSON: {rejected[1]}"
    else:
        said = f"its last line: {quoted(text.strip().splitlines()[-1].strip())}"
    raise MetricsError(
        f"the evaluator printed no JSON object line such as {example} on stdout ({said}); "
        "print the metrics as one JSON line last, e.g. `print(json.dumps(metrics))`, or name a file "
        "holding them with `metrics_file`"
    )


def quoted(line: str, limit: int = 80) -> str:
    """`line` for a reason: at most `limit` characters, in quotes, what does not print spelled out
    as Python writes it (`\\ufeff`, `\\x1b`, `\\xa0`): an invisible character is often why it failed."""
    return repr(line if len(line) <= limit else line[: limit - 1] + "…")


def decoded(data: bytes) -> str:
    """A metrics file's bytes as text: UTF-8, or UTF-16/32, with or without a byte-order mark
    (JSON's own rules, `json.detect_encoding`); bytes that do not decode become U+FFFD."""
    return data.decode(json.detect_encoding(data), errors="replace")


class _Pairs(dict):  # type: ignore[type-arg]
    """A parsed JSON object that remembers a key it was given twice with two values (`twice`)."""

    twice: str = ""


def _each_key_once(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """A JSON object's pairs as a dict, noting a key given two values: JSON keeps the last, so
    `{"loss": 0.1, "loss": 9}` scored 9 where a reader of the line sees 0.1 first. Only the
    metrics' own object is judged by it (`_once`): a nested object is no metric."""
    seen = _Pairs()
    for key, value in pairs:
        if key in seen and not seen.twice and _differ(seen[key], value):
            seen.twice = (
                f"names {_key_in_reason(key)!r} twice ({_brief(seen[key])}, then {_brief(value)}): "
                "which one counts is not clear; print each metric once"
            )
        seen[key] = value
    return seen


def _differ(one: object, other: object) -> bool:
    """Whether two values of one key say different things (`1` and `true` do; NaN and NaN do not)."""
    return (type(one), repr(one)) != (type(other), repr(other))


def _once(value: object, source: str) -> object:
    """`value`, unless it is an object that named a metric twice: then the error says which."""
    if isinstance(value, _Pairs) and value.twice:
        raise MetricsError(f"{source} {value.twice}")
    return value


def _brief(value: object) -> str:
    """A value for a reason: a finite number as printed (to 20 characters), else what it is."""
    if finite_number(value) is not None:
        text = repr(value)
        return text if len(text) <= 20 else text[:19] + "…"
    return _what(value)


def parse_json_object(text: str, source: str) -> dict[str, object]:
    try:
        value = _once(json.loads(text, object_pairs_hook=_each_key_once), source)
    except MetricsError:
        raise
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
        keys = sorted(raw)
        names = ", ".join(_key_in_reason(name) for name in keys[:SHOWN_NAMES]) or "none"
        names += f" and {len(keys) - SHOWN_NAMES} more" if len(keys) > SHOWN_NAMES else ""
        raise MetricsError(f"metric {primary!r} is absent from the evaluator's output (it gave: {names})")
    value = raw[primary]
    if isinstance(value, bool) or not isinstance(value, int | float):
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise MetricsError(f"metric {primary!r} is {type(value).__name__} {shown}, not a number")
    primary_value = finite_number(value)
    if primary_value is None:
        shown = "an integer too large for a float" if isinstance(value, int) else str(value)
        raise MetricsError(f"metric {primary!r} is {shown}, not a finite number")
    return _kept(raw, primary)


MAX_METRICS = 64
"""Numeric metrics kept from one output (the primary one always among them)."""
MAX_KEY_CHARS = 100
SHOWN_DROPPED = 3
"""Metrics left out that a verdict's note names; the rest are counted."""


def _kept(raw: dict[str, object], primary: str) -> ParsedMetrics:
    """The finite numbers of `raw`, in the order printed: the primary metric, and up to
    `MAX_METRICS` in all of the others whose keys are at most `MAX_KEY_CHARS` long; the others
    are said (`ParsedMetrics.note`).

    Every experiment's record keeps its metrics (in a git note, in each prompt and report);
    a scorer that prints 50,000 of them, or one 200 KB key, within the 1 MiB output limit
    made that record too big to write, and the run stopped with an internal error.
    """
    metrics: dict[str, float] = {}
    dropped: list[str] = []
    others = past = 0
    for name, value in raw.items():
        number = finite_number(value)
        if number is None:
            if name != primary:
                dropped.append(f"{_key(name)} ({_what(value)})")
            continue
        if name == primary:
            metrics[name] = number
        elif len(name) <= MAX_KEY_CHARS and others < MAX_METRICS - 1:
            metrics[name] = number
            others += 1
        else:
            past += 1
    return ParsedMetrics(metrics, metrics[primary], tuple(dropped), past)


def _key(name: str) -> str:
    """A metric's key in a note: itself when short and printable, else quoted and cut."""
    return name if len(name) <= 40 and name.isprintable() else quoted(name, 40)


SHOWN_NAMES = 20
"""Metric names a reason quotes when the task's metric is absent; the rest are counted."""


def _key_in_reason(name: str) -> str:
    """A metric's key the scorer printed, for a one-line reason: control characters (C0, DEL, C1)
    dropped, tab, newline and carriage return as spaces, invisible and format characters (a
    right-to-left override, a zero-width space, U+2028) as their escape, at most 40 characters.

    The reason is kept in the record, and `strop show --json`, memory lessons and prompts quote
    it: an ESC or a newline in a key reached them all. An invisible character dropped would make
    `metric 'score' is absent (it gave: score)` read as a contradiction; written `sc\\u200bore`, not.
    """
    shown = []
    for char in name:
        category = unicodedata.category(char)
        if char in "\t\n\r":
            shown.append(" ")
        elif category in ("Cf", "Zl", "Zp", "Cs"):
            shown.append(f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}")
        elif category != "Cc":
            shown.append(char)
    text = "".join(shown)
    return text if len(text) <= 40 else text[:39] + "…"


def _what(value: object) -> str:
    """What a value that is not a finite number is, in JSON's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, int):
        return "an integer too large for a float"
    return {str: "a string", list: "an array", dict: "an object"}.get(type(value), type(value).__name__)


def finite_number(value: object) -> float | None:
    """`value` as a finite float, or None (not a number, a bool, inf/nan, or an int past 1e308)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None
