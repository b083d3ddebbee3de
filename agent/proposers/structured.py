"""Structured answers: JSON schemas generated from the task, and lenient readers for what comes back.

Two shapes, both generated from the task so that an endpoint with constrained decoding
(see `agent.llm.endpoint`) can only produce answers strop can use:

- **edits** — `{"idea": str, "edits": [{"path", "search", "replace"}]}`, `path` one of
  the files that may be edited; an empty `search` means `replace` is the file's whole
  new text. Read into the same `SearchReplace` / `WholeFile` edits as the text format,
  so they go through the same path guard and matching.
- **params** — `{"params": {name: value}, "reason": str}`, one property per `[space]`
  parameter with its type, bounds or choices; `params` first, so an answer cut at
  `max_tokens` still holds the values. Then `settle_point` makes the values a legal,
  new point: coerced into bounds, completed from the parent, checked against the task's
  constraints (Z3) and repaired to the nearest feasible point, as the evolve proposer's
  points are; a point already tried is moved by a small seeded step (said so).

The readers are lenient on purpose: small models and endpoints without constrained
decoding wrap JSON in prose or fences, cut it short, or write `name = value` lines.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.constraints import Constraints
from agent.edits import Edit, ParsedAnswer, SearchReplace, WholeFile
from agent.space import Param, Point, Space

IDEA_CHARS = 300


def edits_schema(paths: list[str], max_edits: int = 4) -> dict[str, Any]:
    """The schema of a structured edits answer for these editable `paths`."""
    path: dict[str, Any] = {"type": "string", "enum": list(paths)} if paths else {"type": "string"}
    return {
        "type": "object",
        "properties": {
            "idea": {"type": "string", "maxLength": IDEA_CHARS},
            "edits": {
                "type": "array",
                "minItems": 1,
                "maxItems": max_edits,
                "items": {
                    "type": "object",
                    "properties": {
                        "path": path,
                        "search": {"type": "string"},
                        "replace": {"type": "string"},
                    },
                    "required": ["path", "search", "replace"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["idea", "edits"],
        "additionalProperties": False,
    }


def _param_schema(param: Param) -> dict[str, Any]:
    spec = param.spec
    if spec.type == "int":
        return {"type": "integer", "minimum": int(spec.low), "maximum": int(spec.high)}  # type: ignore[arg-type]
    if spec.type == "float":
        return {"type": "number", "minimum": spec.low, "maximum": spec.high}
    if spec.type == "bool":
        return {"type": "boolean"}
    return {"enum": list(param.choices)}


def params_schema(space: Space) -> dict[str, Any]:
    """The schema of a params answer: every `[space]` parameter, typed and bounded; `params` first."""
    required = [p.name for p in space if p.when is None]
    return {
        "type": "object",
        "properties": {
            "params": {
                "type": "object",
                "properties": {p.name: _param_schema(p) for p in space},
                "required": required,
                "additionalProperties": False,
            },
            "reason": {"type": "string", "maxLength": 200},
        },
        "required": ["params", "reason"],
        "additionalProperties": False,
    }


def describe_space(space: Space) -> list[str]:
    """One line per parameter, for the prompt: name, type, bounds or choices, condition."""
    lines = []
    for param in space:
        spec = param.spec
        if param.numeric:
            scale = ", log scale" if spec.log else ""
            kind = f"{spec.type} from {_plain(spec.low)} to {_plain(spec.high)}{scale}"
        elif spec.type == "bool":
            kind = "true or false"
        else:
            kind = "one of " + ", ".join(json.dumps(c) for c in param.choices)
        when = f" (only when {spec.when})" if spec.when else ""
        lines.append(f"{param.name}: {kind}{when}")
    return lines


def _plain(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# ------------------------------------------------------------------------------ reading JSON
MAX_JSON_STARTS = 2000


def _json_objects(text: str) -> list[Any]:
    """Every JSON value that parses from a `{` in `text`, outermost first (fences and prose around it ignored)."""
    decoder = json.JSONDecoder()
    found = []
    for attempt, match in enumerate(re.finditer(r"\{", text)):
        if attempt >= MAX_JSON_STARTS:  # a reply of 100,000 braces would cost 100,000 parses
            break
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except (ValueError, RecursionError):  # not JSON, or nested deeper than Python's stack
            continue
        found.append(value)
    return found


def parse_edits(text: str, paths: Collection[str]) -> ParsedAnswer:
    """A structured edits answer as edits; `notes` say what was wrong, phrased for the model."""
    objects = [o for o in _json_objects(text) if isinstance(o, dict) and "edits" in o]
    if not objects:
        return ParsedAnswer(
            plan="",
            edits=(),
            notes=("the answer was not a JSON object with an `edits` list (was it cut short?)",),
        )
    data = objects[0]
    idea = str(data.get("idea") or "").strip()[:IDEA_CHARS]
    raw = data.get("edits") if isinstance(data.get("edits"), list) else []
    edits: list[Edit] = []
    notes: list[str] = []
    for number, item in enumerate(raw, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            notes.append(f"edit {number} has no `path`")
            continue
        path, search, replace = item["path"].strip(), item.get("search"), item.get("replace")
        if not isinstance(replace, str):
            notes.append(f"edit {number} ({path}) has no `replace` text")
            continue
        if paths and path not in paths:
            notes.append(f"edit {number}: {path!r} is not a file you may edit ({', '.join(sorted(paths))})")
            continue
        if isinstance(search, str) and search.strip():
            edits.append(SearchReplace(number, path, search.strip("\n"), replace.strip("\n")))
        else:
            edits.append(WholeFile(number, path, replace if replace.endswith("\n") else replace + "\n"))
    if not raw:
        notes.append("the `edits` list was empty")
    return ParsedAnswer(plan=idea, edits=tuple(edits), notes=tuple(notes))


@dataclass(frozen=True)
class ParamsAnswer:
    """The values a params answer proposed (as written) and its one-line reason."""

    values: dict[str, Any]
    reason: str
    how: str  # "json", "partial json" or "lines": how the values were found


def parse_params(text: str, space: Space) -> ParamsAnswer:
    """The `[space]` values in an answer: a JSON object, a cut-off one, or `name = value` lines."""
    names = set(space.names)
    for obj in _json_objects(text):
        if not isinstance(obj, dict):
            continue
        inner = obj.get("params") if isinstance(obj.get("params"), dict) else obj
        values = {k: v for k, v in inner.items() if k in names}
        if values:
            reason = obj.get("reason") or obj.get("idea") or ""
            return ParamsAnswer(values, _one_line(str(reason)), "json")
    values = {}
    for name in space.names:  # `"name": value`, `name = value` or `name: value`, even in a cut-off answer
        pattern = rf"[\"']?\b{re.escape(name)}\b[\"']?\s*[:=]\s*(\"[^\"]*\"|'[^']*'|[-+\w.]+)"
        match = re.search(pattern, text)
        if match:
            values[name] = _literal(match.group(1))
    reason = re.search(r"[\"']?reason[\"']?\s*[:=]\s*[\"']([^\"'\n]*)", text)
    return ParamsAnswer(values, _one_line(reason.group(1) if reason else ""), "lines" if values else "")


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _literal(raw: str) -> Any:
    raw = raw.strip()
    if raw[:1] in "\"'":
        return raw[1:-1]
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        return float(raw)
    except ValueError:
        return raw


# ------------------------------------------------------------------------------ settling a point
@dataclass
class Settled:
    """A legal, feasible, new point from a model's values, and what had to change (None: none found)."""

    point: Point | None
    notes: list[str] = field(default_factory=list)
    reason: str = ""


def _coerce(param: Param, value: Any) -> tuple[Any, str]:
    """A legal value for `param` from what the model wrote, and a note when it changed."""
    if param.allows(value):
        return value, ""
    try:
        if param.spec.type in ("int", "float") and isinstance(value, str):
            value = float(value)
        if param.spec.type == "bool" and isinstance(value, str):
            value = value.strip().lower() in ("true", "1", "yes")
        if param.spec.type == "choice" and value not in param.choices:
            text = str(value).strip().lower()
            match = [c for c in param.choices if str(c).lower() == text]
            if match:
                return match[0], ""
            return None, f"{param.name}={value!r} is not one of the choices: kept the parent's"
        legal = param.coerce(value)
    except (TypeError, ValueError):
        return None, f"{param.name}={value!r} is not a {param.spec.type}: kept the parent's"
    return legal, "" if legal == value else f"{param.name} {value!r}→{legal!r} (into its bounds)"


def settle_point(
    values: Mapping[str, Any],
    space: Space,
    constraints: Constraints | None,
    parent: Mapping[str, Any],
    tried: Collection[str],
    rng: random.Random,
) -> Settled:
    """The model's values as a point the evaluator may run: legal, feasible (Z3), not tried before."""
    notes: list[str] = []
    proposed: dict[str, Any] = {}
    for name, value in values.items():
        legal, note = _coerce(space.params[name], value)
        if note:
            notes.append(note)
        if legal is not None:
            proposed[name] = legal
    point = space.complete(proposed, fill=parent)
    for attempt in range(4):
        if constraints:
            check = constraints.check(point)
            if not check.passed:
                repair = constraints.repair(point)
                if repair.point is None:
                    return Settled(None, notes, f"constraints: {check.feedback}; {repair.reason}")
                changes = ", ".join(f"{k} {a}→{b}" for k, (a, b) in repair.changed.items())
                notes.append(
                    f"constraints ({check.feedback}): repaired to the nearest feasible point: {changes}"
                )
                point = repair.point
        if space.key(point) not in tried:
            return Settled(point, notes)
        moved = space.mutate(point, rng, sigma=0.08 * (attempt + 1))
        notes.append(f"the point was tried before ({space.describe(point)}): moved by a small step")
        point = moved
    return Settled(None, notes, "every nearby point was tried before")
