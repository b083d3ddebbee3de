"""Which executor runs evaluations, and the one interface every executor offers.

`ExecutorSpec` comes from the command line (`--executor`, `--address`), a task's
`[search]` table or a nightly job; the first one given wins. It is plain data, kept
in the run folder, so `strop resume` reopens the same executor unless told otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from agent.errors import UserError
from evaluators.verdict import Verdict

KINDS = ("local", "ray")
DEFAULT_RETRIES = 2
_ADDRESS = re.compile(r"^(auto|(ray://)?[A-Za-z0-9_.\-\[\]:]+:\d{1,5})$")


@dataclass(frozen=True)
class ExecutorSpec:
    """`kind` local or ray; `address` of the Ray head (auto or HOST:PORT); `retries` after a lost worker."""

    kind: str = "local"
    address: str | None = None
    retries: int = DEFAULT_RETRIES

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UserError(f"unknown executor {self.kind!r}: choose one of {', '.join(KINDS)}")
        if self.address is not None and self.kind != "ray":
            raise UserError("--address is for the ray executor (give --executor ray)")
        if self.address is not None and not _ADDRESS.match(self.address):
            raise UserError(f"Ray address {self.address!r}: give auto or HOST:PORT")
        if not 0 <= self.retries <= 10:
            raise UserError(f"executor retries must be between 0 and 10, not {self.retries}")

    @property
    def ray_address(self) -> str:
        return self.address or "auto"

    def describe(self) -> str:
        return "local" if self.kind == "local" else f"ray at {self.ray_address}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "address": self.address, "retries": self.retries}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ExecutorSpec | None:
        return cls(**data) if data else None


@dataclass(frozen=True)
class EvaluationJob:
    """One evaluation: the candidate's files at `checkout` (a lane), its log name, phase and deadline.

    `deadline` is epoch seconds on the driver's clock; a remote executor turns it into
    seconds left before it ships, so a worker's clock never matters.
    """

    checkout: Path
    name: str
    phase: str = "validate"
    deadline: float | None = None


class Executor(Protocol):
    """Runs evaluations; the verdicts come back in the order of the jobs."""

    name: str

    def evaluate_all(self, evaluator: Any, jobs: Sequence[EvaluationJob]) -> list[Verdict]: ...

    def close(self) -> None: ...


def open_executor(spec: ExecutorSpec | None) -> Executor:
    """The executor `spec` names (local when None); a ray one connects now, or says why not in one line."""
    if spec is None or spec.kind == "local":
        from agent.executors.local import LocalExecutor

        return LocalExecutor()
    from agent.executors.ray_run import RayExecutor

    return RayExecutor.connect(spec)
