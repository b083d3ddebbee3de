"""How to evaluate a candidate: the `[evaluator]` table of a task file.

Two forms. The two-stage form is the contract: stage `run` executes the
candidate's code, which writes artifacts to an outputs folder; stage `score` is
the task owner's scorer, in a separate sandbox where no candidate code runs,
reading those artifacts and private data that stage `run` never sees. The
one-stage form (`command`, an evaluator that imports the candidate's code and
prints the metric itself) is kept for existing tasks: the candidate runs in the
evaluator's own process, so it can forge its score, and strop says so.

With `folds = N` the validate phase is a cross-validation the candidate cannot forge: fold k's
run stage sees `public`/fold-k (its fit rows with their targets, its held-out rows without),
on a fresh copy of the candidate, in a sandbox of its own; fold k's scorer alone reads
`private`/fold-k. No run stage ever sees the targets it is scored on, and nothing of one
fold's run reaches another's. A small training set then selects on every one of its rows
instead of a fifth of them.

It lives with the evaluators (the lower layer) and the task composes it; paths
are written relative to the task file and resolved by the task.
"""

from __future__ import annotations

import math
import re
from pathlib import Path, PurePosixPath
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from evaluators.metric import Direction
from sandbox.backends import BACKENDS
from sandbox.execution import Bind
from sandbox.units import UnitError, parse_duration, parse_size

MAX_SECONDS = 365 * 86400.0
MAX_BYTES = 1 << 50


def _duration(value: object) -> float:
    """Seconds, finite and at most a year: TOML's `inf` and `nan` are floats, and a deadline that
    far (or NaN, which compares false with everything) broke the first evaluation with a crash."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | str)
        or (isinstance(value, float) and not math.isfinite(value))
    ):
        raise UnitError(f"not a duration: {value!r} (use e.g. 30s, 10m, 2h)")
    seconds = parse_duration(value)
    if seconds > MAX_SECONDS:
        raise UnitError(f"{value!r} is longer than a year (365d): a typo?")
    return seconds


def _size(value: object) -> int:
    """Bytes, a whole number at most 1 PiB: `memory = 1.5` crashed the parser, and a limit past
    what `setrlimit` takes crashed the sandbox at experiment 0."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise UnitError(f"not a size: {value!r} (use e.g. 256m, 1g, or a whole number of bytes)")
    size = parse_size(value)
    if size > MAX_BYTES:
        raise UnitError(f"{value!r} is more than 1 PiB (1024t): a typo?")
    return size


def _outside(relative: str) -> str | None:
    """Why `relative` names no path inside its folder, or None."""
    if not relative.strip():
        return "is blank"
    if PurePosixPath(relative).is_absolute():
        return "is absolute"
    if ".." in PurePosixPath(relative).parts:
        return "leaves its folder (`..`)"
    return None


MIN_MEMORY = 32 << 20
"""The smallest `memory` limit: the interpreter alone needs ~10 MiB, and docker refuses under 6 MB
(`memory = "1k"` was an internal error at experiment 0 and at every `strop resume`)."""
_ONE_VARIABLE = 128 << 10  # Linux's MAX_ARG_STRLEN: the longest `NAME=value` execve takes


def _memory(value: object) -> int:
    size = _size(value)
    if size < MIN_MEMORY:
        raise UnitError(f"{value!r} is too little memory for any command: give at least 32m")
    return size


Duration = Annotated[float, BeforeValidator(_duration)]
Size = Annotated[int, BeforeValidator(_size)]
Memory = Annotated[int, BeforeValidator(_memory)]

_DIRECTION_WORDS = {"min": "minimize", "max": "maximize", "minimise": "minimize", "maximise": "maximize"}


def _direction_word(value: object) -> object:
    """`min`/`max` as `strop init --direction` takes them (and British spellings, in any case) mean
    the same here."""
    if not isinstance(value, str):
        return value
    word = value.strip().lower()
    return _DIRECTION_WORDS.get(word, word)


DirectionWord = Annotated[Direction, BeforeValidator(_direction_word)]

FORGEABLE_WARNING = (
    "this task's evaluator runs in one stage (`command`): candidate code runs inside the "
    "evaluator's process and can forge its score; use `run` + `score` (see the README's threat model)"
)

FOLDS_WITH_LLM_WARNING = (
    "this task's evaluator uses `folds` and an LLM proposes: every fit target is seen by some fold's "
    "run stage, and the LLM reads run output, so a candidate could pass targets on to a later one; "
    "with an LLM prefer one held-out `private` split that no run stage ever sees"
)


class EvaluatorSpec(BaseModel):
    """Either `run` + `score` + `scorer` (two stages) or `command` (one stage, legacy)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    command: str | None = Field(
        default=None, min_length=1, description="one-stage evaluator command, run in the candidate's checkout"
    )
    run: str | None = Field(
        default=None, min_length=1, description="stage run: the candidate's command; writes to $STROP_OUTPUTS"
    )
    score: str | None = Field(
        default=None, min_length=1, description="stage score: the trusted scorer's command, run in `scorer`"
    )
    scorer: str | None = Field(
        default=None, description="folder holding the scorer's files, outside the workspace"
    )
    private: str | None = Field(
        default=None, description="folder of private data for the validate phase's scorer only"
    )
    final_private: str | None = Field(
        default=None, description="folder of private data for the final phase's scorer only"
    )
    public: str | None = Field(
        default=None, description="folder of public data, read-only at $STROP_PUBLIC in both stages"
    )
    final_public: str | None = Field(
        default=None,
        description="the final phase's public data, in place of `public` (e.g. every training row, to refit)",
    )
    folds: int = Field(
        default=1,
        ge=1,
        le=20,
        description="validate phase: both stages once per fold, on `public`/fold-N and `private`/fold-N; "
        "the metrics are the folds' means",
    )
    confirm: int = Field(
        default=0,
        ge=0,
        le=100,
        strict=True,
        description="at the search's end, evaluate the top `confirm_top` experiments and experiment 0 "
        "this many more times each, and choose the best by the mean (0: off)",
    )
    confirm_top: int = Field(
        default=3, ge=1, le=20, strict=True, description="how many leading experiments `confirm` re-measures"
    )
    expects: str = Field(
        default="", description="what the scorer reads from $STROP_OUTPUTS, in words (shown to the LLM)"
    )
    metric: str = Field(min_length=1, description="the key of the metric to optimise")
    direction: DirectionWord = Field(description='"minimize" or "maximize" ("min", "max")')
    timeout: Duration = Field(default=600.0, description='wall time limit, e.g. "30s", "10m"')
    score_timeout: Duration | None = Field(
        default=None, description="the scorer's wall time limit (default: `timeout`)"
    )
    outputs_limit: Size = Field(
        default=256 << 20, description="most bytes stage run may leave in its outputs"
    )
    files: tuple[str, ...] = Field(
        default=(), description="protected evaluator files (globs, workspace-relative)"
    )
    final: str | None = Field(default=None, description="hidden-test command, run once on the chosen best")
    metrics_file: str | None = Field(
        default=None, description="read metrics from this file instead of stdout"
    )
    sandbox: str = Field(default="auto", description="auto, docker, bwrap or local")
    score_sandbox: str = Field(
        default="auto",
        description="the scorer's sandbox: auto (bwrap where it works), docker, bwrap or local",
    )
    memory: Memory = Field(default=2 << 30, description='memory limit, e.g. "2g"')
    cpu_time: Duration | None = Field(default=None, description="CPU time limit")
    env: dict[str, str] = Field(
        default_factory=dict, description="extra environment (secret-looking names dropped)"
    )
    mounts: tuple[str, ...] = Field(
        default=(),
        description="host folders both stages may read, at their own paths (a project's venv, a toolchain)",
    )

    @field_validator("mounts")
    @classmethod
    def _mounts_absolute(cls, mounts: tuple[str, ...]) -> tuple[str, ...]:
        """Absolute (or `~/…`) paths: a sandbox sees them at the same path, whatever its working folder."""
        for mount in mounts:
            path = Path(mount).expanduser()
            if not path.is_absolute() or ".." in path.parts:
                raise ValueError(f"mount {mount!r} must be an absolute path (or ~/…) with no '..'")
            if path == Path("/"):
                raise ValueError("mount '/' would show the whole machine to candidate code: name the folders")
        return mounts

    def mount_binds(self) -> list[Bind]:
        """The `mounts` as read-only binds for either stage's sandbox."""
        return [Bind(Path(mount).expanduser()) for mount in self.mounts]

    @field_validator("files")
    @classmethod
    def _files_inside(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        """Globs in the workspace: `/etc/passwd` crashed the glob at the run's start, and `../x`
        can never match what a candidate changes."""
        for pattern in patterns:
            problem = _outside(pattern)
            if problem:
                raise ValueError(f"{pattern!r} {problem}: give a pattern relative to the workspace")
        return patterns

    @field_validator("metrics_file")
    @classmethod
    def _metrics_file_inside(cls, name: str | None) -> str | None:
        """A file the scorer (or the one-stage command) writes in its own folder: one outside it
        failed every evaluation, experiment 0 first, as a broken task."""
        problem = _outside(name) if name is not None else None
        if (
            name is not None
            and not problem
            and (name.rstrip().endswith(("/", "/.")) or not PurePosixPath(name).name)
        ):
            problem = "names a folder, not a file"  # `.`: clearing a stale metrics file would empty the copy
        if problem:
            raise ValueError(
                f"{name!r} {problem}: give a path relative to the folder the scorer (or command) runs in"
            )
        return name

    @field_validator("sandbox", "score_sandbox")
    @classmethod
    def _backend(cls, name: str) -> str:
        """A backend strop has: any other name failed only when experiment 0 opened it."""
        if name not in ("auto", *BACKENDS):
            raise ValueError(f"unknown sandbox {name!r}: choose auto, {', '.join(BACKENDS)}")
        return name

    @field_validator("env")
    @classmethod
    def _env_names(cls, env: dict[str, str]) -> dict[str, str]:
        """Names the OS takes: an empty name or one with `=` failed only when experiment 0 started.

        A secret-looking name never reaches a sandbox (`sandbox.environment`), so it did nothing,
        while its value went into git with every run's record of the task file: refused."""
        from sandbox.environment import is_secret_name

        for name, value in env.items():
            if not name or "=" in name:
                raise ValueError(f"environment variable name {name!r} must be non-empty and hold no '='")
            if len(f"{name}={value}".encode()) >= _ONE_VARIABLE:  # Linux's MAX_ARG_STRLEN
                raise ValueError(
                    f"environment variable {name}: its value is too long for an environment "
                    f"(at most {_ONE_VARIABLE // 1024} KiB a variable): every experiment would fail to start; "
                    "put it in a file of the workspace"
                )
        secret = sorted(name for name in env if is_secret_name(name))
        carried = sorted(name for name, value in env.items() if _login_in(value))
        if carried:
            raise ValueError(
                f"{', '.join(carried)}: its value carries a user:password@ login, and the task file is "
                "kept in git with every run: put the credential where the scorer reads it, not in the task file"
            )
        if secret:
            raise ValueError(
                f"{', '.join(secret)}: a secret-looking name never reaches the sandbox, and the task file "
                "is kept in git with every run: remove it, or rename a variable that is not a secret"
            )
        return env

    @model_validator(mode="after")
    def _one_form(self) -> EvaluatorSpec:
        staged = [name for name in ("run", "score", "scorer") if getattr(self, name)]
        if not self.command and not staged:
            raise ValueError("give `run` + `score` + `scorer` (two stages) or `command` (one stage, legacy)")
        if self.command and staged:
            raise ValueError("give either `command` (one stage) or `run` + `score` + `scorer`, not both")
        if not self.command and len(staged) != 3:
            missing = [name for name in ("run", "score", "scorer") if not getattr(self, name)]
            raise ValueError(
                f"a two-stage evaluator needs `run`, `score` and `scorer` (missing: {missing[0]})"
            )
        if self.command and (self.private or self.final_private or self.public or self.final_public):
            raise ValueError(
                "`private`, `final_private`, `public` and `final_public` belong to the two-stage form"
            )
        if self.final_public and not self.final_private:
            raise ValueError("`final_public` is the final phase's data: give `final_private` too")
        if self.folds > 1 and not (self.run and self.public and self.private):
            raise ValueError(
                "`folds` needs the two-stage form with `public` and `private` (one folder per fold)"
            )
        if self.folds > 1 and self.final_private and not self.final_public:
            raise ValueError(
                "with `folds`, give `final_public`: the final phase's data is not one of the folds"
            )
        if not self.command and self.final:
            raise ValueError("a two-stage evaluator's hidden test is `final_private`, not `final`")
        return self

    @property
    def two_stage(self) -> bool:
        return self.command is None

    @property
    def has_final(self) -> bool:
        """Whether a hidden-test phase exists (run once, on the chosen best)."""
        return bool(self.final_private) if self.two_stage else bool(self.final)

    @property
    def scorer_timeout(self) -> float:
        return self.score_timeout if self.score_timeout is not None else self.timeout


_LOGIN = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s:]*:[^/@\s]+@", re.IGNORECASE)
"""A URL whose authority carries a password (`postgres://user:pw@host/db`, a DATABASE_URL)."""


def _login_in(value: str) -> bool:
    return bool(_LOGIN.match(value.strip()))
