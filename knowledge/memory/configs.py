"""The configs an outcome lesson merges: how many distinct ones, and the values they spanned.

An outcome lesson's key is its idea with the numbers masked (`strip_accidents`), and
similar ideas merge (cosine ≥ `SAME_IDEA`): eight random samples of a search space,
`sample: learning_rate=0.02098, max_iter=47, …` and seven others, are one lesson. Its
text quoted the first run's values, "… improved the score by +0.1628 on average over 8
runs", as if that one config had done it eight times (the scale pass of a digits task).

So a lesson keeps what it merged, as plain data on the lesson: a short key per distinct
config (`config_key`: the proposer's `params` when the trace has them, else the `name=value`
pairs of the idea, else the idea itself) and, per named value, the range of the numbers
(`ranges`) or the words (`choices`) seen. A lesson of one config still quotes that config;
one of several is shown as its class (`class_text`): the idea with each named number as
the range seen (`learning_rate=0.01423–0.4528`), each named word as the words seen
(`mode=a|b`), other numbers as `…`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from knowledge.entry import content_hash

MAX_CONFIGS = 64
"""The most config keys a lesson keeps; past it the count is a lower bound ("at least 64")."""
MAX_CHOICES = 6
"""The most distinct words kept for one named value."""
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_NAMED = re.compile(r"(?<![\w.])([A-Za-z_][\w.]*)\s*=\s*([^\s,;()\[\]{}]+)")
_IS_NUMBER = re.compile(rf"^{_NUMBER}$")
_PLACEHOLDER = "<n>"

Value = float | int | str | bool


def named_values(idea: str, params: Mapping[str, Value] | None = None) -> dict[str, Value]:
    """The concrete values of an idea: the proposer's `params`, else its `name=value` pairs."""
    if params:
        return dict(params)
    values: dict[str, Value] = {}
    for name, raw in _NAMED.findall(idea):
        raw = raw.strip("'\"")
        values[name] = float(raw) if _IS_NUMBER.match(raw) else raw
    return values


def config_key(idea: str, params: Mapping[str, Value] | None = None) -> str:
    """A short key that two runs of the same config share (whatever origin the idea names)."""
    values = named_values(idea, params)
    if values:
        text = ";".join(f"{name}={_plain(values[name])}" for name in sorted(values))
    else:
        text = " ".join(idea.split())
    return content_hash(text)[:12]


def widen(ranges: dict[str, list[float]], choices: dict[str, list[str]], values: Mapping[str, Value]) -> None:
    """Stretch `ranges` (numbers) and `choices` (words) to cover `values`, in place."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            seen = choices.setdefault(name, [])
            word = _plain(value)
            if word not in seen and len(seen) < MAX_CHOICES:
                seen.append(word)
            continue
        low, high = ranges.get(name, [float(value), float(value)])
        ranges[name] = [min(low, float(value)), max(high, float(value))]


def class_text(signature: str, ranges: Mapping[str, list[float]], choices: Mapping[str, list[str]]) -> str:
    """The masked idea with each named value as what was seen: a range, the words, or `…`."""

    def seen(match: re.Match[str]) -> str:
        name, token = match.group(1), match.group(2)
        if name in ranges and token == _PLACEHOLDER:
            low, high = ranges[name]
            return f"{name}={_number(low)}" if low == high else f"{name}={_number(low)}–{_number(high)}"
        if name in choices and token != _PLACEHOLDER:
            return f"{name}={'|'.join(choices[name])}"
        return match.group(0)

    return _NAMED.sub(seen, signature).replace(_PLACEHOLDER, "…")


def _number(value: float) -> str:
    return f"{value:.4g}"


def _plain(value: Value) -> str:
    if isinstance(value, float) and not isinstance(value, bool):
        return repr(value)
    return str(value)


def merged_ideas(
    signature: str,
    configs: list[str] | None,
    ranges: Mapping[str, list[float]],
    choices: Mapping[str, list[str]],
) -> str:
    """What a lesson merged, for its text: "8 distinct configs (sample: learning_rate=0.01423–0.4528, …)".

    `configs` None: not recorded (a lesson from before they were), so no values and no count.
    """
    if configs is None:
        return f"ideas of the form ({class_text(signature, {}, {})})"
    count = f"at least {MAX_CONFIGS}" if len(configs) >= MAX_CONFIGS else str(len(configs))
    return f"{count} distinct configs ({class_text(signature, ranges, choices)})"
