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
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

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
