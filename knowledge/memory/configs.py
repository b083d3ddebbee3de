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

An idea whose whole content is its values (`values_only`: what the offline proposer writes,
`sample: lr=0.0005723, width=52, …`, `model: …`, `mutate of 3: …`, `crossover of 3: …`) says
nothing but where it went: its masked key is its proposer's label, so every random point of a
run is "the same idea" by it, and one lesson averaged the deltas of unrelated points (+0.14,
+1.10, +3.03 from three random samples) into "+1.424 on average over 3 runs", its confidence
rising with each. Such an outcome merges only within one region (`same_region`: every number
within `REGION_FACTOR` of the others, every word the same), where the deltas are of one
neighbourhood and do average into a finding; and there whatever its label (a `mutate of 3:`
next to its parent's `sample:`), since the label is no part of the idea. Lowering the confidence by the spread of the deltas
instead would keep the merge, and its ranges would still claim a class ("lr=0.00057–0.0080
improved the score") that nothing showed. An idea in words (`use a wider hidden layer of 256
units`) merges by meaning, as before.

A failure lesson keeps them too: a failure merges by its error signature, and its text says
where the failure was seen (`failure_values`), a single config's values or the ranges of several;
masked, `lr=<n>` would not say that `lr=0.55` diverged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from knowledge.entry import content_hash
from knowledge.memory.lesson import visible

MAX_CONFIGS = 64
"""The most config keys a lesson keeps; past it the count is a lower bound ("at least 64")."""
MAX_CHOICES = 6
"""The most distinct words kept for one named value."""
REGION_FACTOR = 2.0
"""A values-only outcome merges with a lesson while each of its numbers stays within this factor of the
lesson's (the highest magnitude at most this many times the lowest, signs alike): one region."""
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_NAMED = re.compile(r"(?<![\w.])([A-Za-z_][\w.]*)\s*=\s*([^\s,;()\[\]{}]+)")
_IS_NUMBER = re.compile(rf"^{_NUMBER}$")
_PLACEHOLDER = "<n>"
_LABEL = re.compile(r"[A-Za-z]+(?:\s+(?:of|from)\s+(?:<n>|[\w.-]+)(?:\s+and\s+(?:<n>|[\w.-]+))?)?\s*:?")
"""What a values-only idea may say beside its values: a proposer's label and origin (`sample:`,
`mutate of <n>:`, `crossover of <n> and <n>:`)."""

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
            return _range_text(name, ranges[name])
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


def values_only(signature: str, clipped: bool = False) -> bool:
    """Whether a masked idea is nothing but named values after at most a label (`sample: lr=<n>, …`,
    `mutate of <n>: …`): its words say nothing its values do not. `clipped`: the idea was cut to a
    lesson key's length, and its last pair may be cut before its `=` (`…, dropo`)."""
    if clipped and "," in signature:
        signature = signature.rsplit(",", 1)[0]
    if not _NAMED.search(signature):
        return False
    rest = _NAMED.sub(" ", signature)
    rest = re.sub(r"[\s,;]+", " ", rest).strip()
    return not rest or _LABEL.fullmatch(rest) is not None


def same_region(
    ranges: Mapping[str, list[float]], choices: Mapping[str, list[str]], values: Mapping[str, Value]
) -> bool:
    """Whether `values` lie in the region a lesson's `ranges` and `choices` span: the same names,
    the same words, and each number, with the lesson's range, within `REGION_FACTOR` (see the module
    docstring). A lesson without recorded values (from before strop kept them) spans no region."""
    numbers = {n for n, v in values.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    if not values or numbers != set(ranges) or set(values) - numbers != set(choices):
        return False
    for name, value in values.items():
        if name not in numbers:
            if choices[name] != [_plain(value)]:
                return False
            continue
        low, high = min(ranges[name][0], float(value)), max(ranges[name][1], float(value))
        if low == high:
            continue
        if low <= 0 <= high:
            return False  # signs differ, or zero beside a non-zero value: no factor covers both
        small, large = sorted((abs(low), abs(high)))
        if large > small * REGION_FACTOR:
            return False
    return True


def failure_values(
    masked_idea: str,
    configs: list[str],
    ranges: Mapping[str, list[float]],
    choices: Mapping[str, list[str]],
    idea: str = "",
) -> str:
    """Where a failure was seen, for its text: one config's `idea` as written ("model: lr=0.5495,
    width=47, …"), or for several "3 distinct configs (model: lr=0.12–0.55, …)", the class of the
    lesson's `masked_idea`. Values the shown idea does not name (another idea's, or the proposer's
    `params` beside an idea in words) follow it, so none of what failed is left out."""
    if len(configs) <= 1 and idea.strip():
        masked_idea = " ".join(visible(idea).split())[:200]
    shown = class_text(masked_idea, ranges, choices) if masked_idea else ""
    named = {match.group(1) for match in _NAMED.finditer(masked_idea)}
    rest = [_seen(name, ranges, choices) for name in dict.fromkeys([*ranges, *choices]) if name not in named]
    if rest:
        shown = f"{shown}; {', '.join(rest)}" if shown else ", ".join(rest)
    if len(configs) <= 1:
        return shown
    count = f"at least {MAX_CONFIGS}" if len(configs) >= MAX_CONFIGS else str(len(configs))
    return f"{count} distinct configs ({shown})"


def _seen(name: str, ranges: Mapping[str, list[float]], choices: Mapping[str, list[str]]) -> str:
    return _range_text(name, ranges[name]) if name in ranges else f"{name}={'|'.join(choices[name])}"


def _range_text(name: str, seen: list[float]) -> str:
    low, high = seen
    return f"{name}={_number(low)}" if low == high else f"{name}={_number(low)}–{_number(high)}"
