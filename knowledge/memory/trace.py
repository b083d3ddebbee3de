"""What the run loop tells memory about one finished experiment: plain data, no ids of ours.

The loop fills an `ExperimentTrace` after "record" and passes it to
`Memory.learn`. `metric_delta` is signed so that positive always means better
in the task's direction (the loop knows the direction; memory does not).
`params` is the offline proposer's genome when there is one; failing regions
of the search space are computed from it.

`fingerprint` names what decides whether a point crashes: the code of the run's
experiment 0 and its evaluator (the loop computes it; memory only compares it).
Failing regions are learned only from traces with the querying run's
fingerprint, so a crash of code the user has since fixed never steers a run of
the fixed code. Traces written before the field existed read back with None: an
unknown fingerprint, which matches no run that has one.

`redacted` is the trace memory keeps: a candidate may print a credential (a
`.env` line in its crash message), which memory would otherwise keep in a
lesson, list, and quote in other tasks' prompts.

`metric` names what `metric_delta` measures: an outcome lesson only ever averages
deltas of one task and one metric (None, unnamed, matches only None).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from typing import Literal

from knowledge.credentials import find_credentials

CREDENTIAL = "[credential]"
"""What a credential found in a trace's text becomes."""

_KEY_BODY = re.compile(r"(?:^[A-Za-z0-9+/]{40,}={0,2}\n){2,}[A-Za-z0-9+/]{8,}={0,2}$", re.MULTILINE)
"""Three or more lines of a PEM key's base64 body (the last one may be short): in a trace they are
redacted, whatever else they might be (memory loses nothing by it)."""
_SETTING_IN_LINE = re.compile(r"(?<![\w.-])[A-Za-z_][\w.-]*=[^\s'\",;()\[\]{}]+")
"""A `NAME=value` inside a line: a crash message quoting a `.env` line (`… OPENAI_API_KEY=sk-… None`)."""

Status = Literal["ok", "buggy", "timeout", "tampered", "rejected"]
ParamValue = float | int | str | bool
FAILED: frozenset[str] = frozenset({"buggy", "timeout", "tampered"})
"""Statuses that are failures of the candidate (a `rejected` one never ran)."""
CRASHED: frozenset[str] = frozenset({"buggy", "timeout"})
"""Statuses that make a point of the search space a failing one."""


@dataclass(frozen=True)
class ExperimentTrace:
    run_id: str
    experiment_id: str
    task_name: str
    status: Status
    goal: str = ""
    parent_id: str | None = None
    error_text: str | None = None
    idea: str = ""
    diff: str = ""
    params: dict[str, ParamValue] | None = None
    metric_delta: float | None = None
    parent_status: Status | None = None
    parent_error: str | None = None
    fingerprint: str | None = None
    metric: str | None = None

    def as_dict(self, max_diff: int = 4000, max_error: int = 4000) -> dict[str, object]:
        data = asdict(self)
        data["diff"] = self.diff[:max_diff]
        data["error_text"] = (self.error_text or "")[-max_error:] or None
        data["parent_error"] = (self.parent_error or "")[-max_error:] or None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ExperimentTrace:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**fields)  # type: ignore[arg-type]


def redacted(trace: ExperimentTrace) -> ExperimentTrace:
    """`trace` with each credential value found in its texts (`find_credentials`) replaced by
    `CREDENTIAL`: in all of them, so a key printed in the log is also gone from the idea quoting it."""
    texts = [trace.goal, trace.error_text or "", trace.idea, trace.diff, trace.parent_error or ""]
    texts += [v for v in (trace.params or {}).values() if isinstance(v, str)]
    found = {value for text in texts if text for value in _credentials(text) if value}
    if not found:
        return trace
    secrets = sorted(found, key=len, reverse=True)  # a longer value before one it contains

    def clean(text: str) -> str:
        for value in secrets:
            text = text.replace(value, CREDENTIAL)
        return text

    params = trace.params and {k: clean(v) if isinstance(v, str) else v for k, v in trace.params.items()}
    return replace(
        trace,
        goal=clean(trace.goal),
        error_text=trace.error_text and clean(trace.error_text),
        idea=clean(trace.idea),
        diff=clean(trace.diff),
        parent_error=trace.parent_error and clean(trace.parent_error),
        params=params,
    )


def _credentials(text: str) -> list[str]:
    """`find_credentials` of `text`, each `NAME=value` inside a line also read as a line of its
    own: the detector takes an unquoted value only from a line that is a setting; and each run of
    key-body lines (`_KEY_BODY`), which a record's feedback (its last 2000 characters) may hold
    without the key's `BEGIN` line: the detector knows a key by that line."""
    fragments = _SETTING_IN_LINE.findall(text)
    bodies = [match.group(0) for match in _KEY_BODY.finditer(text)]
    return [*find_credentials("\n".join([text, *fragments])), *bodies]
