"""What an evaluation concludes about one candidate: its status and its metrics.

The status vocabulary is shared by every layer above (an experiment's status is
its verdict's status), so it lives here, in the lowest layer that decides it.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class Status(enum.StrEnum):
    PENDING = "pending"  # committed, not evaluated yet
    OK = "ok"  # evaluated, metric valid
    BUGGY = "buggy"  # crashed, or printed no valid metric
    TIMEOUT = "timeout"  # killed at the time limit
    TAMPERED = "tampered"  # changed a protected evaluator file: never scored
    REJECTED = "rejected"  # refused before evaluation (constraints, bad edit)
    STOPPED = "stopped"  # not started, or cut short, because the run's time budget ended

    @property
    def scored(self) -> bool:
        return self is Status.OK


@dataclass
class Verdict:
    """The evaluator's judgement. `reason` is one line for people; `feedback` is for the proposer."""

    status: Status
    metrics: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    feedback: str = ""
    phase: str = "validate"
    fingerprint: str = ""
    exit_code: int | None = None
    wall_time: float = 0.0
    cpu_time: float = 0.0
    peak_memory: int | None = None
    killed_by: str | None = None
    backend: str = ""
    log_path: str = ""
    log_digest: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["status"] = Status(known.get("status", "pending"))
        return cls(**known)
