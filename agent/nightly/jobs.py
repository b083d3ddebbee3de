"""The jobs file (`jobs.toml`): named jobs, each a task run or an evolve search, with a cron schedule.

    [nightly]                       # optional defaults
    window = "6h"                   # how long one night may last
    parallel = 1                    # jobs at once

    [jobs.digits]
    kind = "run"                    # run | numerics | quant | mle (mle: declared, not available yet)
    task = "tasks/digits-gbm"       # task.toml or its folder, relative to this file (kind run)
    schedule = "0 2 * * *"          # cron: minute hour day-of-month month day-of-week (UTC)
    warm_start = true               # tonight's experiment 0 is last night's best (default)
    budget = { time = "1h", experiments = 40, tokens = 200000, cost = 2.0 }
    executor = "ray"                # optional: evaluations on a Ray cluster (default: [nightly]'s, else local)
    address = "auto"                # the Ray head: auto or HOST:PORT

    [jobs.exp2]
    kind = "numerics"               # strop evolve numerics ARGS --time …
    args = ["--fn", "exp2", "--interval", "0,1"]
    schedule = "30 3 * * 1-5"
    budget = { time = "20m" }

Unknown keys, wrong types, bad cron expressions are errors naming the file and the key.
"""

from __future__ import annotations

import tomllib
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agent.errors import UserError
from evaluators.spec import Duration
from sandbox.units import UnitError

if TYPE_CHECKING:
    from agent.executors import ExecutorSpec

Kind = Literal["run", "numerics", "quant", "mle"]
AVAILABLE = ("run", "numerics", "quant")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NightBudget(_Strict):
    time: Duration | None = Field(default=None, description="wall time per night, e.g. 1h")
    experiments: int | None = Field(default=None, ge=1)
    tokens: int | None = Field(default=None, ge=1)
    cost: float | None = Field(default=None, gt=0, description="USD per night")


class JobSpec(_Strict):
    kind: Kind = "run"
    task: str | None = None
    args: list[str] = Field(default_factory=list, description="arguments of `strop evolve KIND`")
    schedule: str = Field(description="cron expression, UTC")
    warm_start: bool = True
    budget: NightBudget = NightBudget()
    executor: Literal["local", "ray"] | None = Field(default=None, description="where evaluations run")
    address: str | None = Field(default=None, description="the Ray head for executor ray")

    @model_validator(mode="after")
    def _check(self) -> JobSpec:
        from cronsim import CronSim, CronSimError

        try:
            CronSim(self.schedule, datetime(2026, 1, 1))
        except CronSimError as error:
            raise ValueError(f"schedule {self.schedule!r} is not a cron expression: {error}") from None
        if self.kind == "run" and not self.task:
            raise ValueError("a job of kind run needs `task`")
        if self.kind in ("numerics", "quant") and self.task:
            raise ValueError(f"a {self.kind} job takes `args`, not `task`")
        forbidden = {"--time", "--json", "--generations"} & set(self.args)
        if forbidden:
            raise ValueError(f"args may not set {sorted(forbidden)[0]}: the night's budget sets it")
        return self


class Defaults(_Strict):
    window: Duration = Field(default=6 * 3600.0)
    parallel: int = Field(default=1, ge=1, le=16)
    executor: Literal["local", "ray"] = Field(default="local", description="jobs' default executor")
    address: str | None = Field(default=None, description="the Ray head for executor ray")


class JobsFile(_Strict):
    nightly: Defaults = Defaults()
    jobs: dict[str, JobSpec] = Field(default_factory=dict)


class Jobs(BaseModel):
    """A parsed jobs file with its location (tasks are relative to it)."""

    model_config = ConfigDict(frozen=True)

    path: Path
    spec: JobsFile

    def executor(self, name: str) -> ExecutorSpec:
        """The job's executor, else the [nightly] default (local unless set)."""
        from agent.executors import ExecutorSpec

        job, night = self.spec.jobs[name], self.spec.nightly
        kind = job.executor or night.executor
        address = job.address if job.executor else night.address
        return ExecutorSpec(kind, address if kind == "ray" else None)

    def task_path(self, name: str) -> Path:
        task = self.spec.jobs[name].task
        assert task is not None
        return (self.path.parent / task).resolve()


def load_jobs(path: str | Path) -> Jobs:
    """Read and check a jobs file; every problem is one `UserError` line naming the file and key."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"{path}: no such jobs file (see `strop nightly --help` for the format)")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"{path}: not valid TOML: {error}") from None
    try:
        spec = JobsFile.model_validate(raw)
    except ValidationError as errors:
        first = errors.errors()[0]
        key = ".".join(str(part) for part in first.get("loc", ()))
        message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        if first.get("type") == "extra_forbidden":
            message = "unknown key"
        raise UserError(f"{path}: [{key}] {message}") from None
    except UnitError as error:
        raise UserError(f"{path}: {error}") from None
    for name in spec.jobs:
        if not name.replace("-", "").replace("_", "").isalnum():
            raise UserError(f"{path}: job name {name!r} must be letters, digits, '-' or '_'")
    return Jobs(path=path.resolve(), spec=spec)


def last_fire(schedule: str, now: datetime) -> datetime:
    """The latest time at or before `now` that `schedule` names (minute precision, naive UTC)."""
    from cronsim import CronSim

    after = now.replace(second=0, microsecond=0) + timedelta(
        minutes=1
    )  # reverse iteration excludes its start
    return next(CronSim(schedule, after, reverse=True))


def next_fire(schedule: str, now: datetime) -> datetime:
    from cronsim import CronSim

    return next(CronSim(schedule, now.replace(second=0, microsecond=0)))
