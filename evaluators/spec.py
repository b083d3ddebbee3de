"""How to evaluate a candidate: the `[evaluator]` table of a task file.

It lives with the evaluators (the lower layer) and the task composes it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from evaluators.metric import Direction
from sandbox.units import parse_duration, parse_size

Duration = Annotated[float, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]


class EvaluatorSpec(BaseModel):
    """`command` runs in the candidate's checkout and prints one JSON object of metrics."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    command: str = Field(min_length=1, description="shell command run in the candidate's checkout")
    metric: str = Field(min_length=1, description="the key of the metric to optimise")
    direction: Direction = Field(description='"minimize" or "maximize"')
    timeout: Duration = Field(default=600.0, description='wall time limit, e.g. "30s", "10m"')
    files: tuple[str, ...] = Field(
        default=(), description="protected evaluator files (globs, workspace-relative)"
    )
    final: str | None = Field(default=None, description="hidden-test command, run once on the chosen best")
    metrics_file: str | None = Field(
        default=None, description="read metrics from this file instead of stdout"
    )
    sandbox: str = Field(default="auto", description="auto, docker, bwrap or local")
    memory: Size = Field(default=2 << 30, description='memory limit, e.g. "2g"')
    cpu_time: Duration | None = Field(default=None, description="CPU time limit")
    env: dict[str, str] = Field(
        default_factory=dict, description="extra environment (secret-looking names dropped)"
    )
