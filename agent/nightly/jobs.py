"""The jobs file (`jobs.toml`): named jobs, each a task run or an evolve search, with a cron schedule.

    [nightly]                       # optional defaults
    window = "6h"                   # how long one night may last
    parallel = 1                    # jobs at once
    stop_grace = "10s"              # a job still running at the window's end: SIGTERM, SIGKILL this later

    [jobs.digits]
    kind = "run"                    # run | mle | numerics | quant
    task = "tasks/digits-gbm"       # task.toml or its folder, relative to this file (kind run)
    schedule = "0 2 * * *"          # cron: minute hour day-of-month month day-of-week (UTC); a fire
                                    # missed by more than the window (at least 30m) waits for the next
    warm_start = true               # tonight's experiment 0 is last night's best (default)
    budget = { time = "1h", experiments = 40, tokens = 200000, cost = 2.0 }
    executor = "ray"                # optional: evaluations on a Ray cluster (default: [nightly]'s, else local)
    address = "auto"                # the Ray head: auto or HOST:PORT

    [jobs.wine]
    kind = "mle"                    # strop mle run COMPETITION …, warm from last night's best
    competition = "competitions/wine-quality"   # a folder in MLE-bench's layout, relative to this file
    args = ["--seed", "1"]          # optional: --seed S, --parallel K, --folds F
    schedule = "0 1 * * *"
    budget = { time = "30m" }

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
from agent.task import toml_too_deep
from evaluators.spec import Duration
from sandbox.units import UnitError

if TYPE_CHECKING:
    from agent.executors import ExecutorSpec

Kind = Literal["run", "numerics", "quant", "mle"]
MAX_SECONDS = 7 * 24 * 3600.0  # the longest window or job time: past it a typo (99999h) is meant
AVAILABLE = ("run", "numerics", "quant", "mle")
MLE_ARGS = ("--seed", "--parallel", "--folds")  # what an mle job's `args` may set (each with a value)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_duration(seconds: float | None, what: str) -> float | None:
    """`seconds` when it fits a night (at most a week), else a ValueError naming `what`."""
    if seconds is not None and seconds > MAX_SECONDS:
        raise ValueError(f"{what} of {seconds:.0f}s is longer than a week, the most a night may last")
    return seconds


class NightBudget(_Strict):
    time: Duration | None = Field(default=None, description="wall time per night, e.g. 1h")
    experiments: int | None = Field(default=None, ge=1)
    tokens: int | None = Field(default=None, ge=1)
    cost: float | None = Field(default=None, gt=0, description="USD per night")

    @model_validator(mode="after")
    def _fits(self) -> NightBudget:
        check_duration(self.time, "budget.time")
        return self


class JobSpec(_Strict):
    kind: Kind = "run"
    task: str | None = None
    competition: str | None = Field(default=None, description="an MLE-bench style folder (kind mle)")
    args: list[str] = Field(
        default_factory=list, description="arguments of `strop evolve KIND` or `strop mle run` (not kind run)"
    )
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
        if self.kind in ("numerics", "quant", "mle") and self.task:
            raise ValueError(
                f"a {self.kind} job takes {'`competition`' if self.kind == 'mle' else '`args`'}, not `task`"
            )
        if self.kind == "run" and self.args:
            raise ValueError(
                "args belong to jobs of kind numerics, quant or mle; a run job's task file says what it runs"
            )
        if (self.kind == "mle") != bool(self.competition):
            raise ValueError("`competition` belongs to jobs of kind mle, and each needs one")
        if self.kind == "mle":
            _check_mle_args(self.args)
        forbidden = {"--time", "--json", "--generations"} & set(self.args)
        if forbidden:
            raise ValueError(f"args may not set {sorted(forbidden)[0]}: the night's budget sets it")
        return self


def _check_mle_args(args: list[str]) -> None:
    """An mle job's args: pairs of an allowed flag and an integer value."""
    if len(args) % 2:
        raise ValueError(f"args {args} must be flag/value pairs ({', '.join(MLE_ARGS)})")
    for flag, value in zip(args[::2], args[1::2], strict=True):
        if flag not in MLE_ARGS:
            raise ValueError(f"args may set only {', '.join(MLE_ARGS)} for an mle job, not {flag}")
        if not value.lstrip("-").isdigit():
            raise ValueError(f"args: {flag} takes a whole number, not {value!r}")


STOP_GRACE = 10.0
"""Seconds between SIGTERM and SIGKILL for a job still running at the window's end (`[nightly] stop_grace`).

A job stopped by SIGTERM ends its sandboxed commands (a docker container's kill and removal),
writes its run's interrupt state, and exits by the signal. Measured on a 2-core machine (load
up to 5): a `strop run` job with the docker sandbox ends 0.1-0.4 s after SIGTERM, an evolve
job 0.1-0.3 s. But a stopping strop waits up to 5 s for its containers to be gone
(`agent.loop.interrupts.SANDBOXES_GONE`: a busy dockerd), and a SIGKILL before then leaves
the container to its own time limit; 1 s, the old grace, cut that wait short. 10 s covers it
with room for the run's state under load.
"""
MAX_STOP_GRACE = 600.0  # a job that needs more than this to stop is hung: the window would pay for it


class Defaults(_Strict):
    window: Duration = Field(default=6 * 3600.0)
    parallel: int = Field(default=1, ge=1, le=16)
    stop_grace: Duration = Field(
        default=STOP_GRACE,
        description="seconds a job stopped at the window's end has to end, after SIGTERM, before SIGKILL; "
        "taken from the window",
    )
    executor: Literal["local", "ray"] = Field(default="local", description="jobs' default executor")
    address: str | None = Field(default=None, description="the Ray head for executor ray")

    @model_validator(mode="after")
    def _fits(self) -> Defaults:
        check_duration(self.window, "window")
        if not 0 <= self.stop_grace <= MAX_STOP_GRACE:
            raise ValueError(f"stop_grace must be between 0s and {MAX_STOP_GRACE:.0f}s")
        return self


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
        return (self.path.parent / Path(task).expanduser()).resolve()

    def competition_path(self, name: str) -> Path:
        competition = self.spec.jobs[name].competition
        assert competition is not None
        return (self.path.parent / Path(competition).expanduser()).resolve()


def load_jobs(path: str | Path) -> Jobs:
    """Read and check a jobs file; every problem is one `UserError` line naming the file and key."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"{path}: no such jobs file (see `strop nightly --help` for the format)")
    try:
        raw = tomllib.loads(_read_text(path))
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"{path}: not valid TOML: {error}") from None
    except (RecursionError, MemoryError) as error:
        raise UserError(f"{path}: {toml_too_deep(error)}") from None
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


def _read_text(path: Path) -> str:
    """The file's text; a file that is not UTF-8 or cannot be read is one line naming it, not a traceback.

    `utf-8-sig`: a file saved with a byte-order mark (Windows tools) reads as without it; TOML refuses it.
    """
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: not UTF-8 text (byte {error.start}); a jobs file is TOML") from None
    except OSError as error:
        raise UserError(f"{path}: cannot be read: {error.strerror or error}") from None


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
