"""A task file (`task.toml`) read into a typed `Task`.

    [task]        name, goal, workspace (folder or git repo, relative to this file)
    [evaluator]   run + score + scorer (two stages) or command (one stage, legacy), metric, … (evaluators.spec)
    [budget]      experiments, time, tokens, cost, turns policy
    [proposer]    kind = "auto" | "llm" | "evolve"
    [llm]         base_url, model, api_key_env, prices
    [search]      strategy, parallel lanes, drafts, debug probability, seed
    [space]       the offline proposer's parameters: one table per parameter
    [constraints] rules over the space's parameters, checked with Z3 before evaluation
    [knowledge]   sources ingested at run start, retrieval size

Unknown keys and wrong types are errors that name the file, the line and the key.
"""

from __future__ import annotations

import json
import math
import re
import shlex
import tomllib
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from agent.errors import TaskSpecError
from agent.secret_places import secret_exposure
from evaluators.spec import Duration, EvaluatorSpec
from evaluators.trusted import TrustedSources
from sandbox.mount_hazards import host_hazard
from sandbox.units import UnitError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskSection(_Section):
    name: str = Field(description="short name: letters, digits, '.', '_' and '-'")
    goal: str = Field(min_length=1, description="what to improve, in words (shown to the LLM)")
    workspace: str = Field(
        default=".", description="folder or git repo to improve, relative to the task file"
    )

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        """A field validator, so that the error points at the `name` line, not the `[task]` header."""
        if not _NAME.match(name):
            raise ValueError(f"name {name!r} must be 1-64 ASCII letters, digits, '.', '_' or '-'")
        return name

    @field_validator("goal")
    @classmethod
    def _check_goal(cls, goal: str) -> str:
        """Blank is as empty as "": the LLM would be asked to improve nothing in particular."""
        if not goal.strip():
            raise ValueError('is blank: say what to improve, in words, e.g. "make bench.py faster"')
        return goal


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


TurnPolicy = Literal["unlimited", "fixed", "p75", "dynamic"]


DEFAULT_EXPERIMENTS = 20
"""A run's experiments when its task names no count and no time is given (see `BudgetSpec`)."""


class BudgetSpec(_Section):
    experiments: int | None = Field(
        default=DEFAULT_EXPERIMENTS,
        ge=1,
        description="experiments per run (including experiment 0); 20 unless `time` is given alone",
    )
    time: Duration | None = Field(default=None, description='wall time for the run, e.g. "30m"')
    tokens: int | None = Field(default=None, ge=1, description="LLM tokens for the run")
    cost: float | None = Field(
        default=None, gt=0, allow_inf_nan=False, description="LLM cost for the run, in USD (finite)"
    )
    turns: TurnPolicy = Field(default="fixed", description="turn policy inside one experiment")
    turn_limit: int = Field(
        default=3, ge=1, description="turns for `fixed`; `p75`/`dynamic` use it until history exists"
    )
    turn_history_min: int = Field(
        default=3, ge=1, description="past successes of this task that `p75`/`dynamic` need"
    )
    extension: int = Field(default=2, ge=1, description="turns granted per extension under `dynamic`")
    max_extensions: int = Field(default=2, ge=0, description="extensions allowed per experiment")

    @model_validator(mode="before")
    @classmethod
    def _time_alone_bounds_the_run(cls, data: Any) -> Any:
        """`time = "30m"` on its own ran 20 experiments, the default count, and stopped: a time given
        without a count is the run's bound. Tokens or cost alone keep the count: an offline proposer
        spends neither, and would never stop."""
        if isinstance(data, dict) and data.get("time") is not None and "experiments" not in data:
            return {**data, "experiments": None}
        return data


class ProposerSpec(_Section):
    kind: Literal["auto", "llm", "evolve"] = Field(
        default="auto", description="auto = llm when [llm] is configured, else evolve"
    )
    params_file: str = Field(default="params.json", description="where `evolve` writes the parameters")
    marked: Annotated[list[str], BeforeValidator(_as_list)] = Field(
        default_factory=list,
        description="files whose `NAME = value  # strop: NAME` lines `evolve` rewrites",
    )


MAX_PRICE = 1_000_000.0
"""USD per 1M tokens no model costs ($1 a token): a higher `[llm] price_*` is a typo, refused."""


class LLMSpec(_Section):
    base_url: str = Field(description="an OpenAI-compatible endpoint, e.g. http://localhost:11434/v1")
    model: str = Field(min_length=1)
    api_key_env: str = Field(default="OPENAI_API_KEY", description="the environment variable holding the key")
    temperature: float = Field(default=0.7, ge=0, le=2)
    max_tokens: int = Field(default=4096, ge=16)
    request_timeout: Duration = Field(default=120.0)
    max_retries: int = Field(default=4, ge=0)
    # finite and at most $1M per 1M tokens: `inf` showed "$inf" and crashed every budgeted call
    price_input: float = Field(
        default=0.0, ge=0, le=MAX_PRICE, allow_inf_nan=False, description="USD per 1M input tokens"
    )
    price_output: float = Field(
        default=0.0, ge=0, le=MAX_PRICE, allow_inf_nan=False, description="USD per 1M output tokens"
    )
    context: int | None = Field(
        default=None,
        ge=256,
        description="the model's context window in tokens (learned from errors if unset)",
    )
    concurrency: int | None = Field(
        default=None, ge=1, description="model calls at once (default: as many as --parallel lanes)"
    )
    max_errors_in_a_row: int = Field(
        default=5, ge=1, description="the same kind of model error this many times in a row stops the run"
    )
    answers: Literal["auto", "text", "structured", "params"] = Field(
        default="auto",
        description="how the model answers: SEARCH/REPLACE text, JSON edits (where the endpoint supports "
        "JSON schemas), [space] values; auto starts with text and switches when the model fails to produce code",
    )
    fallback_after: int = Field(
        default=2,
        ge=0,
        description="experiments in a row without an evaluable candidate before the offline proposer "
        "makes the next one (0: never)",
    )

    @field_validator("api_key_env")
    @classmethod
    def _key_variable(cls, name: str) -> str:
        from agent.llm.reach import not_an_llm_key

        if why := not_an_llm_key(name):
            raise ValueError(why)
        return name

    @field_validator("base_url")
    @classmethod
    def _url(cls, url: str) -> str:
        """A URL without its scheme fails only at the first call, once experiment 0 has run."""
        if not re.match(r"^https?://[^\s/]+", url):
            raise ValueError(
                f"{url!r} is not an http(s) URL: write it in full, e.g. http://localhost:11434/v1"
            )
        if secret := _credentials_in(url):
            raise ValueError(
                f"holds {secret}: the task file is kept with every run's record (in git, the run index, "
                "`strop log --json`), so a URL may not carry credentials; put the key in the environment "
                "variable that `api_key_env` names"
            )
        return url


_SECRET_QUERY = re.compile(
    r"(?i)^(?:api[-_]?key|key|token|access[-_]?token|secret|password|passwd|sig|signature)$"
)


def _credentials_in(url: str) -> str:
    """What in `url` is a credential, in words ("" when nothing): a user:password, or a query
    parameter named like a key. Kept in a task file they reached git and `strop log --json`; and a
    user:password made the client send HTTP Basic auth, so the real key was silently never sent."""
    from urllib.parse import parse_qsl, urlsplit

    parts = urlsplit(url)
    if parts.username or parts.password:
        return "a user name or password (user:password@)"
    named = [name for name, _ in parse_qsl(parts.query, keep_blank_values=True) if _SECRET_QUERY.match(name)]
    return f"a credential in its query ({', '.join(sorted(set(named)))}=…)" if named else ""


class SearchSpec(_Section):
    strategy: Literal["auto", "greedy", "tournament"] = Field(default="auto")
    parallel: int = Field(default=1, ge=1, le=64, description="lanes evaluated at once")
    drafts: int = Field(default=3, ge=1, description="greedy: independent drafts before improving")
    debug_prob: float = Field(default=0.5, ge=0, le=1)
    max_debug_depth: int = Field(default=3, ge=0)
    population: int = Field(default=8, ge=2, description="tournament: population size")
    seed: int = Field(default=0)
    executor: Literal["local", "ray"] = Field(
        default="local", description="where evaluations run: local processes, or a Ray cluster"
    )
    address: str | None = Field(default=None, description='the Ray head: "auto" or HOST:PORT (executor ray)')
    schedule: Literal["batch", "async"] = Field(
        default="batch",
        description="batch: lanes start together and wait for the slowest (reproducible); "
        "async: a lane starts its next experiment as soon as its evaluation ends (faster, "
        "order depends on timing)",
    )


_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_EXACT_INT = 2**53  # past this a float (how points are drawn and stored in JSON) skips whole numbers


class ParamSpec(_Section):
    """One `[space]` parameter. Strict types: a quoted number or `log = "yes"` is a mistake, not a value."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    type: Literal["float", "int", "choice", "bool"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list[Any] | None = None
    default: Any = None
    when: str | None = Field(
        default=None, description="condition on other parameters, e.g. \"model == 'gbm'\""
    )

    @model_validator(mode="after")
    def _check(self) -> ParamSpec:
        numeric = self.type in ("float", "int")
        foreign = [
            key
            for key, applies in (
                ("low", numeric),
                ("high", numeric),
                ("log", numeric),
                ("choices", self.type == "choice"),
            )
            if not applies and key in self.model_fields_set
        ]
        if foreign:
            article = "an" if self.type == "int" else "a"
            raise ValueError(f"`{foreign[0]}` does not apply to {article} {self.type} parameter")
        if numeric:
            self._check_range()
        if self.type == "choice" and not self.choices:
            raise ValueError("a choice parameter needs a non-empty `choices` list")
        if self.choices and len({json.dumps(c, sort_keys=True, default=str) for c in self.choices}) < len(
            self.choices
        ):
            raise ValueError(f"`choices` lists a value twice: {self.choices}")
        if self.default is not None and not self.allows(self.default):
            raise ValueError(
                f"default {self.default!r} is not a legal value of this parameter ({self._legal()})"
            )
        return self

    def _check_range(self) -> None:
        """low..high: finite, ordered, drawable (a width that overflows draws only ±inf)."""
        low, high = self.low, self.high
        if low is None or high is None:
            raise ValueError(f"a {self.type} parameter needs low and high")
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(f"low and high must be finite numbers (got {low}, {high})")
        if low > high:
            raise ValueError(f"low {low} is above high {high}")
        if not math.isfinite(high - low):
            raise ValueError(f"low..high ({low}..{high}) is wider than a float can hold: narrow it")
        if self.log and low <= 0:
            raise ValueError("a log-scale parameter needs low > 0")
        if self.type == "int":
            if not (low.is_integer() and high.is_integer()):
                raise ValueError(f"an int parameter needs whole-number low and high (got {low}, {high})")
            if max(abs(low), abs(high)) > _EXACT_INT:
                raise ValueError(
                    f"an int parameter's low and high must lie within ±2**53 (got {low}, {high})"
                )

    def _legal(self) -> str:
        if self.type in ("float", "int"):
            return f"{self.type} {self.low:g}..{self.high:g}"
        return "true or false" if self.type == "bool" else f"one of {self.choices}"

    def allows(self, value: Any) -> bool:
        """Whether `value` is legal as written: the right type, in low..high or among the choices."""
        if self.type in ("float", "int"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                return False
            if isinstance(value, float) and not (
                math.isfinite(value) and (self.type == "float" or value.is_integer())
            ):
                return False
            return bool(self.low <= value <= self.high)  # type: ignore[operator]
        if self.type == "bool":
            return isinstance(value, bool)
        return value in (self.choices or [])


class ConstraintsSpec(_Section):
    rules: Annotated[list[str], BeforeValidator(_as_list)] = Field(default_factory=list)
    on_violation: Literal["reject", "repair"] = Field(default="reject")
    timeout: Duration = Field(default=10.0, description="Z3 time limit per check; `unknown` is not a pass")
    max_rejections: int = Field(
        default=50, ge=1, description="stop the run after this many rejections in a row"
    )


class KnowledgeSpec(_Section):
    sources: Annotated[list[str], BeforeValidator(_as_list)] = Field(default_factory=list)
    k: int = Field(default=5, ge=0)
    token_budget: int = Field(default=1500, ge=0)
    memory: bool = Field(default=True, description="learn lessons and use them")


class TaskFile(_Section):
    task: TaskSection
    evaluator: EvaluatorSpec
    budget: BudgetSpec = BudgetSpec()
    proposer: ProposerSpec = ProposerSpec()
    llm: LLMSpec | None = None
    search: SearchSpec = SearchSpec()
    space: dict[str, ParamSpec] = Field(default_factory=dict)
    constraints: ConstraintsSpec = ConstraintsSpec()
    knowledge: KnowledgeSpec = KnowledgeSpec()

    @field_validator("space")
    @classmethod
    def _space_names(cls, space: dict[str, ParamSpec]) -> dict[str, ParamSpec]:
        """Names that rules, `when` and marked lines (`# strop: NAME`) can all refer to."""
        from agent.expression import RESERVED

        for name in space:
            if not _PARAM_NAME.match(name):
                raise ValueError(
                    f"parameter name {name!r} must be 1-64 ASCII letters, digits or '_', not starting with a digit "
                    "(rules, `when` and marked lines refer to it)"
                )
            if name in RESERVED:  # `True >= 4` read the constant, `lambda <= 3` did not parse
                raise ValueError(
                    f"parameter name {name!r} is a word of the rule language (Python keywords such as True, "
                    f"None, if, lambda, and abs, min, max, implies): rename it, e.g. {name}_"
                )
        return space


class Task(BaseModel):
    """A parsed task with its paths resolved. `source` is the task file's text, kept for provenance."""

    model_config = ConfigDict(frozen=True)

    path: Path
    spec: TaskFile
    source: str

    @property
    def name(self) -> str:
        return self.spec.task.name

    @property
    def evaluator(self) -> EvaluatorSpec:
        return self.spec.evaluator

    @property
    def workspace(self) -> Path:
        return self.resolve(self.spec.task.workspace)

    def resolve(self, relative: str) -> Path:
        """A path from the task file, relative to the task file's folder; `~` is the user's home,
        as in a shell (else `~/x` would name a folder called `~` beside the task file)."""
        return (self.path.parent / Path(relative).expanduser()).resolve()

    def trusted_sources(self) -> TrustedSources | None:
        """The two-stage evaluator's trusted folders, resolved; None for a one-stage task."""
        spec = self.evaluator
        if not spec.two_stage or spec.scorer is None:
            return None

        def resolved(value: str | None) -> Path | None:
            return self.resolve(value) if value else None

        return TrustedSources(
            scorer=self.resolve(spec.scorer),
            private=resolved(spec.private),
            final_private=resolved(spec.final_private),
            public=resolved(spec.public),
            final_public=resolved(spec.final_public),
        )


_TRUSTED_KEYS = ("scorer", "private", "final_private", "public", "final_public")


def _check_trusted_paths(task: Task) -> None:
    """Each trusted folder exists, lies outside the workspace (candidates see the workspace) and
    shows no credentials (`agent.secret_places`: a task file is a stranger's); `public` and
    `final_public`, which candidates read, show nothing else they must not read either (`_guarded`:
    `public` = strop's home showed another run's private answers, and copying it into itself
    never ended). The scorer and the private data show nothing of strop's home either: the scorer
    is the task file's code, and what it prints reaches the verdict and the LLM's prompt, so a
    `private` around the home read other runs' hidden answers and records out through it. The
    workspace shows no credentials either."""
    workspace = task.workspace
    if secret := secret_exposure(workspace):
        raise TaskSpecError(
            str(task.path),
            f"{workspace} {secret}",
            line=locate(task.source, ("task", "workspace")),
            key="task.workspace",
        )
    guarded = _guarded(task)
    for key in _TRUSTED_KEYS:
        value = getattr(task.evaluator, key)
        if not value:
            continue
        path = task.resolve(value)
        problem = None
        if not path.exists():
            problem = f"{path} does not exist"
        elif secret := secret_exposure(path):
            problem = f"{path} {secret}"
        elif path == workspace or workspace in path.parents:
            problem = f"{path} lies inside the workspace, where candidates (and the LLM) can read it"
        elif path in workspace.parents:
            problem = f"{path} contains the workspace; give a folder beside it"
        elif key == "scorer" and not path.is_dir():
            problem = f"{path} is not a folder"
        elif exposure := _trusted_exposure(task, key, path, guarded):
            problem = f"{path} {exposure}"
        elif key in ("public", "private") and task.evaluator.folds > 1:
            missing = [f"fold-{k}" for k in range(task.evaluator.folds) if not (path / f"fold-{k}").is_dir()]
            if missing:
                problem = (
                    f"{path} has no folder {missing[0]} (`folds = {task.evaluator.folds}` wants fold-0 …)"
                )
        if problem:
            raise TaskSpecError(
                str(task.path), problem, line=locate(task.source, ("evaluator", key)), key=f"evaluator.{key}"
            )


_SHOWN_KEYS = ("public", "final_public")  # the trusted folders candidates read (mounted at $STROP_PUBLIC)


def _trusted_exposure(task: Task, key: str, path: Path, guarded: list[_Guard]) -> str | None:
    """What the trusted folder `key` would show that its reader must not read: the public data
    shows candidates nothing guarded; the scorer's folders show the scorer nothing of strop's home."""
    if key in _SHOWN_KEYS:
        return _exposure(path, guarded, "candidates", "give the folder of data they may read")
    return _exposure(path, [_home_guard(task)], "the scorer", "give the folder of the task's own data")


class _Guard(NamedTuple):
    """A folder neither candidates nor the LLM may read, but what lies inside `but` (None: all of it)."""

    folder: Path
    but: Path | None = None


def _guarded(task: Task) -> list[_Guard]:
    """What neither candidates nor the LLM may read: the scorer and the private data (the hidden
    answers) and strop's home (other runs' records and kept outputs), less the task's own folder
    when the task lies inside it (strop wrote it there: an MLE competition's folder)."""
    return [
        *(
            _Guard(task.resolve(v))
            for key in ("scorer", "private", "final_private")
            if (v := getattr(task.evaluator, key))
        ),
        _home_guard(task),
    ]


def _home_guard(task: Task) -> _Guard:
    """Strop's home, less the task's own folder when the task lies inside it."""
    from agent.home import strop_home

    home, own = strop_home().resolve(), task.path.parent
    return _Guard(home, own if home in own.parents else None)


def _exposure(real: Path, guarded: list[_Guard], reader: str, fix: str) -> str | None:
    """Why the resolved path `real` would show a guarded folder to `reader` (None: it shows none).
    A folder that is or holds one would show all of it (`fix` says what to give instead); a path
    inside one, part of it."""
    for folder, but in guarded:
        if folder == real or real in folder.parents:
            return f"holds {folder}, which {reader} must not read: {fix}"
        if folder in real.parents and not (but is not None and (but == real or but in real.parents)):
            return f"lies inside {folder}, which {reader} must not read"
    return None


def _check_mounts(task: Task) -> None:
    """Each `mounts` path exists and shows none of what candidates must not read (`_guarded`):
    a mounted project folder around the scorer or the private data would show the hidden answers;
    nor a host service's socket, device or the host's /proc (`sandbox.mount_hazards`)."""
    guarded = _guarded(task)
    for number, mount in enumerate(task.evaluator.mounts):
        path = Path(mount).expanduser()
        problem = None
        if not path.exists():
            problem = f"{path} does not exist"
        elif exposure := secret_exposure(path.resolve()) or _exposure(
            path.resolve(), guarded, "candidates", "mount the folders you need inside it"
        ):
            problem = f"{path} {exposure}"
        elif hazard := host_hazard(path):
            problem = f"{path} {hazard}"
        if problem:
            raise TaskSpecError(
                str(task.path),
                problem,
                line=locate(task.source, ("evaluator", "mounts")),
                key=f"evaluator.mounts[{number}]",
            )


def _check_knowledge_sources(task: Task) -> None:
    """No `[knowledge] sources` entry shows what candidates must not read (`_guarded`): its passages
    are quoted into the LLM's prompts (this task's and, the store being the user's, other tasks').

    A source around the scorer (the task's own folder, `.`) is refused rather than ingested without
    it: the store records the source as a root, and `strop knowledge rebuild` or a later add of that
    root would read the scorer in after all."""
    guarded = _guarded(task)
    for number, source in enumerate(task.spec.knowledge.sources):
        try:
            real = task.resolve(source)
            exposure = secret_exposure(real) or _exposure(
                real,
                guarded,
                "the LLM (sources are quoted into its prompts)",
                "list the folders you need inside it",
            )
        except (RuntimeError, OSError) as error:  # `~nobody/x`, a symlink loop
            exposure = f"cannot be resolved: {error}"
        if exposure:
            raise TaskSpecError(
                str(task.path),
                f"{source} {exposure}",
                line=locate(task.source, ("knowledge", "sources")),
                key=f"knowledge.sources[{number}]",
            )


def locate(text: str, loc: tuple[str | int, ...]) -> int | None:
    """The line (1-based) in TOML `text` where the key at `loc` is written, or its table's header."""
    keys = [str(part) for part in loc if not isinstance(part, int)]
    if not keys:
        return None
    header = re.compile(r"^\s*\[+\s*([^\]]+?)\s*\]+")
    assignment = re.compile(r"^\s*([A-Za-z0-9_\-\"'.]+)\s*=")
    table: list[str] = []
    header_line = None
    for number, line in enumerate(text.splitlines(), start=1):
        if match := header.match(line):
            table = [part.strip().strip("\"'") for part in match.group(1).split(".")]
            if table == keys[: len(table)] and len(table) == len(keys):
                header_line = number
            continue
        if match := assignment.match(line):
            dotted = table + [part.strip("\"'") for part in match.group(1).split(".")]
            if dotted == keys[: len(dotted)] and header_line is None:
                return number
    if header_line:
        return header_line
    for cut in range(len(keys) - 1, 0, -1):
        found = locate(text, tuple(keys[:cut]))
        if found:
            return found
    return None


def _describe(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "unknown key" + _did_you_mean(tuple(error.get("loc", ())))
    if kind == "missing":
        return "required key is missing"
    message = str(error.get("msg", "invalid value"))
    return message.removeprefix("Value error, ")


def _first_error(errors: list[Any]) -> Any:
    """The error to show: an unknown key first, since a typo (`direciton`) also makes a key missing."""
    return next((e for e in errors if e.get("type") == "extra_forbidden"), errors[0])


def _did_you_mean(loc: tuple[Any, ...]) -> str:
    """`; did you mean `direction`?` when the unknown key is a near miss of a key its table allows."""
    import difflib

    model: Any = TaskFile
    for part in loc[:-1]:
        if model is None:
            return ""
        model = _child_model(model, part)
    known = list(model.model_fields) if model is not None else []
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6) if loc else []
    return f"; did you mean `{close[0]}`?" if close else ""


def _child_model(model: Any, part: Any) -> Any:
    """The section model one key below `model` (`space.NAME` is a `ParamSpec`), or None."""
    import typing

    if model is dict:
        return ParamSpec
    field = getattr(model, "model_fields", {}).get(part)
    if field is None:
        return None
    annotation = field.annotation
    if typing.get_origin(annotation) is dict:
        return dict
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


_BOM = b"\xef\xbb\xbf"
TASK_FILE_LIMIT = 1 << 20  # task files are a few KB; every run's record keeps a copy of the text


def _task_text(path: Path) -> tuple[Path, str]:
    """The task file's path and UTF-8 text, or a `TaskSpecError` saying what the path is instead."""
    folder = path.is_dir()
    if folder:
        path = path / "task.toml"
    if path.is_symlink():
        _check_link(path)
    if path.is_dir():
        raise TaskSpecError(
            str(path), "is a folder, not a task file: give the task.toml file (or its folder)"
        )
    if not path.exists():
        hint = f": write one with `strop init {path.parent}`" if folder else ""
        raise TaskSpecError(str(path), f"no such task file{hint}")
    if not path.is_file():
        raise TaskSpecError(str(path), "is not a regular file (a pipe or a device?): give a task.toml file")
    size = path.stat().st_size
    if size > TASK_FILE_LIMIT:
        raise TaskSpecError(
            str(path),
            f"is {size / (1 << 20):.1f} MiB; a task file is a few KB and may not pass "
            f"{TASK_FILE_LIMIT >> 20} MiB (every run keeps a copy): move data into files the task names",
        )
    try:
        data = path.read_bytes()
    except OSError as error:
        raise TaskSpecError(str(path), f"cannot be read: {error.strerror or error}") from None
    data = data.removeprefix(_BOM)  # Notepad's "UTF-8 with BOM": no part of the text; TOML refuses it
    try:
        return path, data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise TaskSpecError(
            str(path),
            f"is not UTF-8 (byte 0x{data[error.start]:02x}): TOML files are UTF-8, save it as such",
            line=line,
        ) from None


def toml_too_deep(error: RecursionError | MemoryError) -> str:
    """Why Python's TOML reader gave up on a file, in one line: no task or jobs file nests that far.

    tomllib recurses once per level of nested arrays or inline tables; a few hundred levels
    (`x = [[[[…]]]]`) raised a bare RecursionError, which reached the user as an internal error.
    """
    if isinstance(error, RecursionError):
        return (
            "cannot be read: its arrays or inline tables nest too deeply (hundreds of levels) "
            "for Python's TOML reader"
        )
    return "cannot be read: reading it as TOML ran out of memory"


def _check_link(path: Path) -> None:
    """A linked task file must resolve (its relative paths are then read from the target's folder)."""
    try:
        path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise TaskSpecError(
            str(path), f"is a link to {path.readlink()}, which does not exist (or loops)"
        ) from None


def load_task(path: str | Path) -> Task:
    """Read and validate a task file; every problem is a `TaskSpecError` naming file, line and key."""
    path, text = _task_text(Path(path).expanduser())
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        line = getattr(error, "lineno", None)
        raise TaskSpecError(str(path), f"not valid TOML: {error}", line=line) from None
    except (RecursionError, MemoryError) as error:  # tomllib recurses once per level of nesting
        raise TaskSpecError(str(path), toml_too_deep(error)) from None
    _refuse_nul(raw, text, path)
    try:
        spec = TaskFile.model_validate(raw)
    except ValidationError as errors:
        first = _first_error(errors.errors())
        loc = tuple(first.get("loc", ()))
        key = ".".join(str(part) for part in loc)
        raise TaskSpecError(str(path), _describe(first), line=locate(text, loc), key=key or None) from None
    except UnitError as error:
        raise TaskSpecError(str(path), str(error)) from None
    task = Task(path=path.resolve(), spec=spec, source=text)
    _check_trusted_paths(task)
    _check_mounts(task)
    _check_knowledge_sources(task)
    _check_commands(task)
    _check_proposer_paths(task)
    _check_written_files_not_ignored(task)
    _check_goal_fits(task)
    if spec.llm is not None:  # its value is redacted from whatever a command prints, whatever its name
        from sandbox.environment import declare_secret

        declare_secret(spec.llm.api_key_env)
    return task


def _check_goal_fits(task: Task) -> None:
    """The goal (and `expects`), in every prompt and never cut, leave room in the model's context.

    The prompt's other parts are cut to fit (`agent.proposers.prompt_fit`); these two are not,
    so a 100 KB goal with `context = 8192` made every call fail, after experiment 0, with an
    overflow that named no part of the task file. Estimated as the prompt fitter does (characters / 3).
    """
    llm = task.spec.llm
    if llm is None or llm.context is None:
        return
    tokens = (len(task.spec.task.goal) + len(task.evaluator.expects)) // 3
    room = (llm.context - llm.max_tokens) // 2
    if tokens > room:
        key = (
            ("task", "goal")
            if len(task.spec.task.goal) >= len(task.evaluator.expects)
            else ("evaluator", "expects")
        )
        raise TaskSpecError(
            str(task.path),
            f"is about {tokens} tokens with the goal and `expects` together, and every prompt holds them "
            f"whole: more than half of what the model's {llm.context}-token context leaves after the "
            f"answer's {llm.max_tokens} (llm.max_tokens); shorten it to a few sentences",
            line=locate(task.source, key),
            key=".".join(key),
        )


def _refuse_nul(value: Any, text: str, path: Path, loc: tuple[str, ...] = ()) -> None:
    """No key or string of the file holds a NUL (TOML's "\\u0000"): no path, command, environment
    variable or argv can, and the OS refuses it only once experiment 0 is under way."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        where = (*loc, str(key)) if isinstance(key, str) else loc
        if "\0" in str(key) or (isinstance(item, str) and "\0" in item):
            raise TaskSpecError(
                str(path),
                "holds a NUL character (\\u0000), which no path, command or name can hold: remove it",
                line=locate(text, where),
                key=".".join(where).replace("\0", "\\u0000"),
            )
        _refuse_nul(item, text, path, where)


def _check_commands(task: Task) -> None:
    """Commands that split into words, and a metric key a scorer can print as written."""
    spec = task.evaluator
    for key in ("command", "run", "score", "final"):
        command = getattr(spec, key)
        if command is None:
            continue
        problem = None
        if not command.strip():
            problem = 'is blank: give the command to run, e.g. "python evaluate.py"'
        else:
            try:
                shlex.split(command)
            except ValueError as error:
                problem = f"{command!r} is not a valid command line: {error}"
        if problem:
            raise TaskSpecError(
                str(task.path), problem, line=locate(task.source, ("evaluator", key)), key=f"evaluator.{key}"
            )
    metric = spec.metric
    problem = None
    if not metric.isprintable():
        problem = f"{metric!r} holds a control character (a newline?): no scorer's key would match it"
    elif metric != metric.strip():
        problem = (
            f"{metric!r} has spaces at its ends: no scorer's key would match it; write {metric.strip()!r}"
        )
    if problem:
        raise TaskSpecError(
            str(task.path), problem, line=locate(task.source, ("evaluator", "metric")), key="evaluator.metric"
        )


_SCRIPT = re.compile(r"^[\w./-]+\.(py|sh|bash|R|jl|js|mjs|rb|pl|lua)$")


def command_notes(task: Task) -> list[str]:
    """What looks wrong in the evaluator's commands but may not be: notes for the user, before a run.

    A program that this machine's PATH lacks may still be in the sandbox's image, and a
    script the workspace lacks may be the LLM's to write, so neither refuses the task.
    """
    import shutil

    spec = task.evaluator
    scorer = task.resolve(spec.scorer) if spec.scorer else None
    places = [("command", task.workspace, "the workspace"), ("run", task.workspace, "the workspace")]
    places += [("score", scorer, "the scorer folder"), ("final", task.workspace, "the workspace")]
    notes = []
    for key, folder, where in places:
        command = getattr(spec, key)
        if not command or folder is None or not folder.is_dir():
            continue  # a missing folder is an error of its own, reported where the run needs it
        words = [w for w in shlex.split(command) if not w.startswith("-") and "$" not in w and "=" not in w]
        if not words:
            continue
        program = words[0]
        if (
            "/" not in program
            and program not in _SHELL_BUILTINS
            and not (folder / program).exists()
            and shutil.which(program) is None
        ):
            notes.append(f"[evaluator] {key}: {program!r} is not a command on this machine (not on PATH)")
        for missing in _missing_programs(command, folder):
            notes.append(f"[evaluator] {key} runs {missing}, which is not in {where} ({folder})")
        for word in words:
            if _SCRIPT.match(word) and not Path(word).is_absolute() and not (folder / word).exists():
                notes.append(f"[evaluator] {key} names {word}, which is not in {where} ({folder})")
    return [*notes, *_untracked_notes(task), *_submodule_notes(task)]


_SHELL_BUILTINS = frozenset(
    {"cd", "export", "set", "unset", "source", ".", "exec", "eval", "exit", "ulimit", "umask", "alias"}
    | {"pushd", "popd", "trap", "wait", "read", "shift", "type", "command", "builtin", "time", ":", "["}
)
"""Words a shell runs itself (`cd build && ./prog`): on no PATH, and no note of a missing program."""
_BUILDS_NOTHING = frozenset(
    {"echo", "printf", "true", ":", "set", "export", "ulimit", "date", "sleep", "nproc"}
)
_OPERATORS = frozenset({"&&", "||", ";", "|", "&", "(", ")", ";;", "|&"})


def _missing_programs(command: str, folder: Path) -> list[str]:
    """Programs run by a relative path (`./nosuchprog --fast`, `bin/prog`) that `folder` lacks.

    Only those no earlier command of the line may have made: `make && ./prog`, `gcc -o prog
    prog.c && ./prog` and `cd build && ./prog` are fine; after `echo` or `export` the workspace is
    as it was. A script (`./run.sh`) is left to the note on named scripts.
    """
    try:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens = list(lexer)
    except ValueError:
        return []
    segments: list[list[str]] = [[]]
    for token in tokens:
        if token in _OPERATORS or set(token) <= set("&|;()"):
            segments.append([])
        else:
            segments[-1].append(token)
    missing = []
    for index, segment in enumerate(segments):
        words = [w for w in segment if not (("=" in w and not w.startswith(("./", "/"))) or "$" in w)]
        if not words:
            continue
        program = words[0]
        earlier = [s for s in segments[:index] if s]
        if any(s[0] not in _BUILDS_NOTHING for s in earlier):
            break  # it may have built the program, or changed the folder
        if (
            "/" in program
            and not program.startswith(("/", "~"))
            and not _SCRIPT.match(program)
            and not (folder / program).exists()
        ):
            missing.append(program)
    return missing


UNTRACKED_SHOWN = 5  # untracked paths named in the note; the rest are counted
_LIST_UNTRACKED = ("ls-files", "-z", "--others", "--exclude-standard", "--directory", "--no-empty-directory")


def _untracked_notes(task: Task) -> list[str]:
    """Files a git workspace holds but git neither tracks nor ignores: no experiment has them.

    Experiments are commits of the user's repo, so a data file or script left untracked works
    by hand and is missing in every candidate's copy, experiment 0 included; the run then
    fails with an error that names some later step (`make: *** Error 1`), not the file. The
    task file itself (`strop init` writes it there) is strop's to read, not the commands'.
    """
    from agent.taskgen import is_git_top

    workspace = task.workspace
    if not workspace.is_dir() or not is_git_top(workspace):
        return []
    own = task.path.relative_to(workspace).as_posix() if task.path.is_relative_to(workspace) else None
    paths = [p for p in _git_lines(workspace, list(_LIST_UNTRACKED)) if p != own]
    notes = []
    if paths:
        notes.append(
            f"{workspace} has untracked files that no experiment will have (experiments are commits): "
            f"{_some(paths)}; `git add` and commit what the commands need ({_DATA_ADVICE}), "
            "or list what they do not need in .gitignore"
        )
    ignored = [
        p for p in _git_lines(workspace, [*_LIST_UNTRACKED, "--ignored"]) if p != own and not _tooling(p)
    ]
    if ignored:
        notes.append(
            f"git ignores {_some(ignored)} in {workspace}: no experiment has them either; if the commands "
            f"read them, commit them ({_DATA_ADVICE})"
        )
    return notes


_DATA_ADVICE = "data too, or give it to a two-stage task as `public`"
_TOOLING = ("__pycache__", "node_modules", "build", "dist", "venv", "env")


def _tooling(path: str) -> bool:
    """Ignored paths that are a tool's own (caches, environments, builds, logs): no command reads them
    as input, and a note listing them would hide the one that matters (an ignored `data/`)."""
    first = path.split("/", 1)[0]
    return first.startswith(".") or first in _TOOLING or path.endswith((".egg-info/", ".pyc", ".log"))


def _some(paths: list[str]) -> str:
    return ", ".join(paths[:UNTRACKED_SHOWN]) + (
        f" and {len(paths) - UNTRACKED_SHOWN} more" if len(paths) > UNTRACKED_SHOWN else ""
    )


def _git_lines(workspace: Path, args: list[str]) -> list[str]:
    """What `git ARGS -z` lists in `workspace`; nothing when git cannot list it (a repo git cannot
    read is reported where the run opens it)."""
    import subprocess

    try:
        listed = subprocess.run(
            ["git", "-c", "core.fsmonitor=false", "-C", str(workspace), *args],
            capture_output=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [p.decode("utf-8", "backslashreplace") for p in listed.split(b"\0") if p]


def _submodule_notes(task: Task) -> list[str]:
    """Submodules of a git workspace: no experiment has their files.

    An experiment is a commit of the user's repo, checked out in strop's own worktree, where a
    submodule is only a commit id and an empty folder: code reading `vendor/lib/lib.txt` failed
    every experiment with FileNotFoundError, and nothing said why. Copying the submodule's files
    into the experiments would commit them as plain files in place of the submodule, and
    `strop adopt` would bring that into the user's branch: a note, not a copy. (A task folder
    inside a repo is copied, so its submodules' files are plain files of that copy, and work.)
    """
    from agent.taskgen import is_git_top

    workspace = task.workspace
    if not workspace.is_dir() or not is_git_top(workspace):
        return []
    entries = (line.partition("\t") for line in _git_lines(workspace, ["ls-files", "-z", "--stage"]))
    paths = [path for meta, _, path in entries if meta.startswith("160000 ")]
    if not paths:
        return []
    shown = ", ".join(paths[:UNTRACKED_SHOWN]) + (
        f" and {len(paths) - UNTRACKED_SHOWN} more" if len(paths) > UNTRACKED_SHOWN else ""
    )
    return [
        f"{workspace} has git submodules whose files no experiment will have (experiments are commits "
        f"of this repo, which hold a submodule as a commit id, not its files): {shown}; if the commands "
        "need them, commit their files into this repo instead"
    ]


def _check_proposer_paths(task: Task) -> None:
    """`params_file` and `marked` name files inside the workspace (candidates may write nothing else)."""
    proposer = task.spec.proposer
    named = [("params_file", proposer.params_file)] if proposer.params_file else []
    named += [("marked", relative) for relative in proposer.marked]
    for key, relative in named:
        target = (task.workspace / relative).resolve()
        if (
            Path(relative).is_absolute()
            or not target.is_relative_to(task.workspace)
            or target == task.workspace
        ):
            raise TaskSpecError(
                str(task.path),
                f"{relative!r} is not a file inside the workspace: give a path relative to {task.workspace}",
                line=locate(task.source, ("proposer", key)),
                key=f"proposer.{key}",
            )


def _check_written_files_not_ignored(task: Task) -> None:
    """The files the offline proposer writes (`params_file`, `marked`) are not ones git ignores.

    Experiments are commits made with `git add -A` (of the repo, or of the managed copy of a
    plain folder), which skips an ignored file: every candidate's values were left out of its
    commit, experiment 0 had no params file either, and the run failed each experiment with
    the code's `FileNotFoundError`, not a word about the `.gitignore` line that caused it.
    """
    proposer = task.spec.proposer
    named = [("params_file", proposer.params_file)] if task.spec.space and proposer.params_file else []
    named += [("marked", relative) for relative in proposer.marked]
    if not named or not task.workspace.is_dir():
        return
    for key, relative in named:
        if _ignored_by_git(task.workspace, relative):
            raise TaskSpecError(
                str(task.path),
                f"{relative} is ignored by git (a .gitignore, .git/info/exclude or your core.excludesFile "
                "names it): the proposer writes each candidate's values into it, and experiments are "
                f"commits, which leave an ignored file out; un-ignore it (a line `!{relative}` at the end "
                "of .gitignore) or name another file",
                line=locate(task.source, ("proposer", key)) or locate(task.source, ("space",)),
                key=f"proposer.{key}",
            )


def _ignored_by_git(workspace: Path, relative: str) -> bool:
    """Whether `git add -A` would leave `relative` out: by the repo's rules when `workspace` is
    its top, else by the folder's own .gitignore files, as in its managed copy."""
    import subprocess
    import tempfile

    from agent.taskgen import is_git_top

    def check(*argv: str) -> bool:
        try:
            done = subprocess.run(["git", *argv, "--", relative], capture_output=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return False  # git missing or stuck: the run says so where it needs git
        return done.returncode == 0

    if is_git_top(workspace):
        return check("-c", "core.fsmonitor=false", "-C", str(workspace), "check-ignore", "-q")
    folders = [workspace, *(workspace / parent for parent in PurePosixPath(relative).parents)]
    if not any((folder / ".gitignore").is_file() for folder in folders):
        return False  # the common plain folder: no rules of its own, no git to start
    with tempfile.TemporaryDirectory() as empty:
        if subprocess.run(["git", "init", "-q", empty], capture_output=True, check=False).returncode:
            return False
        git_dir = f"--git-dir={empty}/.git"
        return check(
            git_dir, f"--work-tree={workspace}", "-C", str(workspace), "check-ignore", "-q", "--no-index"
        )
