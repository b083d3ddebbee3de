"""The search space of the offline proposer: the `[space]` table of a task, and points in it.

    [space]
    model = { type = "choice", choices = ["ridge", "knn"] }
    alpha = { type = "float", low = 1e-4, high = 100, log = true, when = "model == 'ridge'" }
    k     = { type = "int", low = 1, high = 50, when = "model == 'knn'" }

A point is a plain dict of the *active* parameters (a parameter whose `when` is false,
or reads an inactive parameter, is absent). Everything here is pure: sampling,
mutation and crossover take an explicit `random.Random`; the unit cube (`to_unit`,
`from_unit`, log scale respected) is where mutation and distances live.

A point reaches the candidate's code in two ways, both optional and combinable:
- the params file (`[proposer] params_file`, JSON): the parent's file with the
  space's keys replaced by the point's active values;
- marked lines in the files listed in `[proposer] marked`: a line such as
  `LEARNING_RATE = 0.1  # strop: learning_rate` or, in YAML, `size: 8  # strop: size`
  gets its value replaced, written in the file's own language (`agent.marks`).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.errors import TaskSpecError
from agent.expression import Expression, ExpressionError, Kind, MissingValue, check_kinds, parse
from agent.marks import Mark, Unusable, cannot_hold, dialect_of, example, instead
from agent.marks import parse as parse_mark
from agent.task import ParamSpec, ProposerSpec, Task

Point = dict[str, Any]


class SpaceError(ValueError):
    """A `[space]` that cannot be used (a `when` that does not parse, a cycle of conditions)."""


@dataclass(frozen=True)
class Param:
    name: str
    spec: ParamSpec
    when: Expression | None

    @property
    def numeric(self) -> bool:
        return self.spec.type in ("float", "int")

    @property
    def kind(self) -> Kind:
        """What rules and `when` conditions may do with it (`agent.expression.check_kinds`)."""
        kind = self.spec.type
        if kind in ("int", "float"):
            return Kind.INT if kind == "int" else Kind.REAL
        if kind == "bool":
            return Kind.CONDITION
        if all(isinstance(c, int) and not isinstance(c, bool) for c in self.choices):
            return Kind.INT
        if all(isinstance(c, int | float) and not isinstance(c, bool) for c in self.choices):
            return Kind.REAL
        return Kind.LABEL

    @property
    def choices(self) -> list[Any]:
        if self.spec.type == "bool":
            return [False, True]
        return list(self.spec.choices or [])

    # ------------------------------------------------------------ unit cube
    def to_unit(self, value: Any) -> float:
        spec = self.spec
        if self.numeric:
            low, high = float(spec.low), float(spec.high)  # type: ignore[arg-type]
            if high == low:
                return 0.5
            if spec.log:
                return (math.log(float(value)) - math.log(low)) / (math.log(high) - math.log(low))
            return (float(value) - low) / (high - low)
        choices = self.choices
        index = choices.index(value) if value in choices else 0
        return (index + 0.5) / len(choices)

    def from_unit(self, u: float) -> Any:
        u = min(1.0, max(0.0, u))
        spec = self.spec
        if self.numeric:
            low, high = float(spec.low), float(spec.high)  # type: ignore[arg-type]
            value = (
                math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
                if spec.log
                else low + u * (high - low)
            )
            return self.coerce(value)
        choices = self.choices
        return choices[min(len(choices) - 1, int(u * len(choices)))]

    def coerce(self, value: Any) -> Any:
        """The nearest legal value (clipped, rounded for ints); a foreign choice becomes the first."""
        spec = self.spec
        if spec.type in ("int", "float"):
            try:
                number = float(value)
            except OverflowError:  # an int past 1e308: as far out as +-inf
                number = math.inf if value > 0 else -math.inf
            if math.isnan(number):
                raise ValueError(f"{self.name} = NaN is not a number")
            clipped = min(spec.high, max(spec.low, number))  # type: ignore[type-var]  # ±inf clip too
            return int(round(clipped)) if spec.type == "int" else float(clipped)
        if spec.type == "bool":
            return bool(value)
        return value if value in self.choices else self.choices[0]

    def allows(self, value: Any) -> bool:
        """Whether `value` is a legal value as written (no coercion): in bounds, of the right type."""
        return self.spec.allows(value)

    def default(self) -> Any:
        if self.spec.default is not None:
            return self.coerce(self.spec.default)
        if self.numeric:
            return self.from_unit(0.5)
        return self.choices[0]


class Space:
    """An ordered set of parameters: a parameter comes after those its `when` reads."""

    def __init__(self, params: Mapping[str, ParamSpec]) -> None:
        parsed: dict[str, Param] = {}
        for name, spec in params.items():
            try:
                when = parse(spec.when) if spec.when else None
            except ValueError as error:
                raise SpaceError(f"[space] {name}: when: {error}") from None
            if when is not None and (unknown := sorted(when.names - set(params))):
                raise SpaceError(f"[space] {name}: when reads unknown parameter(s) {', '.join(unknown)}")
            parsed[name] = Param(name, spec, when)
        kinds = {name: param.kind for name, param in parsed.items()}
        for name, param in parsed.items():
            try:
                if param.when is not None:
                    check_kinds(param.when, kinds)  # `y > 1` over choices ["a", 2]: refused now, not mid-run
            except ExpressionError as error:
                raise SpaceError(f"[space] {name}: when: {error}") from None
        self.params: dict[str, Param] = {name: parsed[name] for name in _ordered(parsed)}

    @classmethod
    def from_task(cls, task: Task) -> Space:
        return cls(task.spec.space)

    def __bool__(self) -> bool:
        return bool(self.params)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.params.values())

    @property
    def names(self) -> list[str]:
        return list(self.params)

    # ------------------------------------------------------------ activity
    def is_active(self, name: str, point: Mapping[str, Any]) -> bool:
        """Whether `name`'s `when` holds on `point`: false where it reads an inactive parameter,
        divides by zero (as Z3 reads it), or meets a value of the wrong type (a params file as
        written; the conditions themselves are typed when the space is built)."""
        when = self.params[name].when
        if when is None:
            return True
        try:
            return when.holds(point)
        except (MissingValue, TypeError):
            return False

    def activity(self, point: Mapping[str, Any]) -> dict[str, bool]:
        """Which parameters are active on `point`, in order: each `when` read over the active
        values only (a value the point holds for an inactive parameter counts as absent)."""
        active: dict[str, bool] = {}
        values: Point = {}
        for param in self:
            active[param.name] = self.is_active(param.name, values)
            if active[param.name] and param.name in point:
                values[param.name] = point[param.name]
        return active

    def complete(self, point: Mapping[str, Any], fill: Mapping[str, Any] | None = None) -> Point:
        """A legal point: values coerced, inactive ones dropped, missing active ones from `fill` or defaults."""
        result: Point = {}
        for param in self:
            if not self.is_active(param.name, result):
                continue
            if param.name in point:
                result[param.name] = param.coerce(point[param.name])
            elif fill is not None and param.name in fill:
                result[param.name] = param.coerce(fill[param.name])
            else:
                result[param.name] = param.default()
        return result

    def default(self) -> Point:
        return self.complete({})

    # --------------------------------------------------------------- moves
    def sample(self, rng: random.Random) -> Point:
        """A uniform point (log-uniform on log-scale parameters)."""
        result: Point = {}
        for param in self:
            if self.is_active(param.name, result):
                result[param.name] = param.from_unit(rng.random())
        return result

    def mutate(
        self, point: Mapping[str, Any], rng: random.Random, sigma: float = 0.15, rate: float | None = None
    ) -> Point:
        """Gaussian steps of `sigma` in the unit cube on some parameters; a choice is resampled."""
        names = [p.name for p in self if p.name in point]
        rate = rate if rate is not None else max(1.0 / max(1, len(names)), 0.3)
        # a list, not a set: a set of names iterates in an order that changes with the process's
        # hash seed, and each step below draws from `rng`, so the same seed gave another point
        chosen = [name for name in names if rng.random() < rate] or ([rng.choice(names)] if names else [])
        moved: Point = dict(point)
        for name in chosen:
            param = self.params[name]
            if param.numeric:
                u = param.to_unit(point[name]) + rng.gauss(0.0, sigma)
                value = param.from_unit(_reflect(u))
                if param.spec.type == "int" and value == point[name]:
                    value = param.coerce(point[name] + rng.choice((-1, 1)))
                moved[name] = value
            else:
                others = [c for c in param.choices if c != point[name]]
                moved[name] = rng.choice(others) if others else point[name]
        return self.complete(moved, fill=self.sample(rng))

    def crossover(self, a: Mapping[str, Any], b: Mapping[str, Any], rng: random.Random) -> Point:
        """Uniform crossover; numeric genes sometimes blend (a random point between the parents)."""
        child: Point = {}
        for param in self:
            name = param.name
            if name in a and name in b:
                if param.numeric and rng.random() < 0.5:
                    t = rng.random()
                    child[name] = param.from_unit(
                        t * param.to_unit(a[name]) + (1 - t) * param.to_unit(b[name])
                    )
                else:
                    child[name] = a[name] if rng.random() < 0.5 else b[name]
            elif name in a or name in b:
                child[name] = a.get(name, b.get(name))
        return self.complete(child, fill=self.sample(rng))

    def distance(self, a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
        """Mean per-parameter distance in the unit cube (1 for a parameter active in one only)."""
        total = 0.0
        for param in self:
            if (param.name in a) != (param.name in b):
                total += 1.0
            elif param.name in a:
                if param.numeric:
                    total += abs(param.to_unit(a[param.name]) - param.to_unit(b[param.name]))
                else:
                    total += float(a[param.name] != b[param.name])
        return total / max(1, len(self.params))

    def key(self, point: Mapping[str, Any]) -> str:
        """A canonical text of the point, for de-duplication: a ranged float to 6 significant
        digits, a choice exactly (`1.0` and `1.0000001` are two choices, two points)."""
        shown = {
            k: (float(f"{v:.6g}") if isinstance(v, float) and self._ranged(k) else v)
            for k, v in sorted(point.items())
        }
        return json.dumps(shown, sort_keys=True)

    def _ranged(self, name: str) -> bool:
        param = self.params.get(name)
        return param is None or param.spec.type == "float"

    def describe(self, point: Mapping[str, Any]) -> str:
        return ", ".join(f"{k}={_short(v)}" for k, v in point.items())

    # ------------------------------------------------------- materialising
    def read(self, checkout: Path, proposer: ProposerSpec) -> Point:
        """The point a checkout holds now (params file, then marked lines), completed with defaults.

        A value no parameter can take (`null` or a list for a number) counts as not written: the
        default stands in (a mutation's parent needs a point; it raised TypeError, every proposal)."""
        written = self._written(checkout, proposer)
        return self.complete({name: value for name, value in written.items() if self._takes(name, value)})

    def _takes(self, name: str, value: Any) -> bool:
        try:
            self.params[name].coerce(value)
        except (ValueError, TypeError):
            return False
        return True

    def written(self, checkout: Path, proposer: ProposerSpec) -> Point:
        """The `[space]` values a checkout writes, as written (not coerced, not completed)."""
        return self._written(checkout, proposer)

    def outside(self, written: Point, before: Point | None = None) -> list[str]:
        """The values in `written` outside the `[space]`, leaving out those unchanged from `before`.

        A candidate (an LLM's edit) may write any value into the params file; the
        search only ever explores the declared space, so a changed value outside it
        is refused (a value the workspace already held is the user's business).
        """
        problems = []
        for name, value in written.items():
            param = self.params[name]
            if before is not None and name in before and before[name] == value:
                continue
            if isinstance(value, Repeated):
                shown = ", ".join(_short(one) for one in value)
                problems.append(
                    f"{name} is written {len(value)} times ({shown}): a reader may take any of them"
                )
            elif not param.allows(value):
                problems.append(f"{name}={_short(value)} is outside [space] ({_legal(param)})")
        return problems

    def _written(self, checkout: Path, proposer: ProposerSpec) -> Point:
        found: Point = {}
        params_file = checkout / proposer.params_file
        if params_file.is_file():
            try:
                data = json.loads(params_file.read_text(), object_pairs_hook=_keeping_repeats)
            except (ValueError, OSError, RecursionError):
                data = {}
            if isinstance(data, dict):
                found.update({k: v for k, v in data.items() if k in self.params})
        for relative in proposer.marked:
            path = checkout / relative
            if path.is_file():
                dialect = dialect_of(relative)
                for line in path.read_text(encoding="utf-8").splitlines():
                    mark = parse_mark(line, dialect)
                    if isinstance(mark, Mark) and mark.name in self.params:
                        found[mark.name] = mark.read()
        return found

    def materialise(self, point: Mapping[str, Any], checkout: Path, proposer: ProposerSpec) -> dict[str, str]:
        """The files (workspace-relative path → new text) that carry `point` into the code."""
        files: dict[str, str] = {}
        marked_names: set[str] = set()
        for relative in proposer.marked:
            path = checkout / relative
            if not path.is_file():
                continue
            lines = []
            dialect = dialect_of(relative)
            with path.open(encoding="utf-8", newline="") as file:  # CRLF read as written, and kept
                text = file.read()
            for line in text.splitlines(keepends=True):
                body = line.rstrip("\n")
                end = line[len(body) :]
                mark = parse_mark(body.rstrip("\r"), dialect)
                if isinstance(mark, Mark) and mark.name in point:
                    marked_names.add(mark.name)
                    line = mark.with_value(point[mark.name]) + body[len(body.rstrip("\r")) :] + end
                lines.append(line)
            files[relative] = "".join(lines)
        path = checkout / proposer.params_file
        if proposer.params_file and (
            not proposer.marked or set(point) - marked_names or self._held_in(path)
        ):  # a params file that holds [space] values is rewritten even when every value went to marked lines
            base: dict[str, Any] = {}
            crlf = False
            if path.is_file():
                raw = path.read_bytes()
                crlf = b"\r\n" in raw  # kept: LF in a CRLF checkout changed every line, adopt too
                try:
                    loaded = json.loads(raw.decode("utf-8"))
                    base = loaded if isinstance(loaded, dict) else {}
                except (ValueError, RecursionError):
                    base = {}
            merged = {k: v for k, v in base.items() if k not in self.params}
            merged.update(point)
            text = json.dumps(merged, indent=2) + "\n"  # JSON escapes a newline in a string: only lines end
            files[proposer.params_file] = text.replace("\n", "\r\n") if crlf else text
        return files

    def _held_in(self, path: Path) -> bool:
        """Whether the params file at `path` holds a value of this space: left as it was, it went on
        saying the parent's point (`max_depth` 5, an inactive `l2`) while the marked lines said the
        candidate's, and code reading `l2` from it read a value of no point of the run."""
        if not path.is_file():
            return False
        try:
            loaded = json.loads(path.read_bytes().decode("utf-8"))
        except (ValueError, RecursionError):
            return False
        return isinstance(loaded, dict) and any(name in self.params for name in loaded)


def check_files(task: Task) -> list[str]:
    """The workspace files the `[space]` is written into, checked before a run; returns notes.

    Experiment 0 is the workspace as it is: a params file that is a folder, not JSON or not
    an object fails it as `buggy` (the code reads it), and no candidate can be written into
    it, so those are the user's to fix (`TaskSpecError`). A missing file, or a `[space]` name
    that the file lacks, is legal (the code may have defaults) but often a slip: a note.
    """
    try:
        space = Space.from_task(task)
    except SpaceError:
        return []  # the run's own validation reports it, with the task file's name
    workspace = task.workspace
    if not space or not workspace.is_dir():
        return []
    proposer = task.spec.proposer
    marked = _marked_names(task, space)
    unmarked = [name for name in space.names if name not in marked]
    _check_unprotected(task, write_params=bool(unmarked))
    marked_values = _marked_values(task, space)
    if not unmarked:
        return _value_notes(task, space, None, {}, [], marked_values)
    if not proposer.params_file:
        raise _files_error(
            task, "params_file", f"[space] {unmarked[0]} has no marked line and `params_file` is empty"
        )
    path = workspace / proposer.params_file
    example = json.dumps({k: v for k, v in space.default().items() if k in unmarked})
    unread = _unread_params_notes(task, unmarked)
    if not path.exists():  # legal: the code may fall back to defaults without it
        missing = [
            f"{path} does not exist: each candidate gets its [space] values in it, but experiment 0 (the "
            f"workspace as it is) runs without it, and fails if the code reads it; create it with starting "
            f"values, e.g. {example}"
        ]
        return [*(unread or missing), *_value_notes(task, space, None, {}, [], marked_values)]
    if not path.is_file():
        raise _files_error(
            task, "params_file", f"{path} is not a file: the candidates' [space] values go in it"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_keeping_repeats)
    except (ValueError, RecursionError) as error:
        raise _files_error(
            task, "params_file", f"{path} is not JSON ({error}); write e.g. {example}"
        ) from None
    except OSError as error:
        raise _files_error(task, "params_file", f"{path} cannot be read: {error.strerror or error}") from None
    if not isinstance(data, dict):
        raise _files_error(
            task,
            "params_file",
            f"{path} holds a JSON {type(data).__name__}, not an object of parameter values such as {example}",
        )
    repeated = sorted(name for name, value in data.items() if isinstance(value, Repeated))
    if repeated:
        raise _files_error(
            task, "params_file", f"{path} names {', '.join(repeated)} more than once: keep one value of each"
        )
    written = {**data, **{name: value for name, (_, value) in marked_values.items()}}
    active = [name for name in unmarked if space.is_active(name, written)]  # `when` false: absent by design
    return [
        *unread,
        *_absent_notes(path, data, active),
        *_value_notes(task, space, path, data, active, marked_values),
    ]


def _check_unprotected(task: Task, write_params: bool) -> None:
    """The files the offline proposer writes must not be protected (`[evaluator] files`).

    A candidate that changes a protected file is `tampered`, so a marked file or params file
    that is also protected spends the whole budget on candidates that are never scored.
    """
    from evaluators.integrity import expand

    patterns = task.evaluator.files
    if not patterns:
        return
    protected = set(expand(task.workspace, patterns))
    proposer = task.spec.proposer
    written = [("marked", relative) for relative in proposer.marked]
    written += [("params_file", proposer.params_file)] if write_params and proposer.params_file else []
    for key, relative in written:
        normal = (task.workspace / relative).resolve().relative_to(task.workspace).as_posix()
        if normal in protected or any(_glob_matches(normal, pattern) for pattern in patterns):
            raise _files_error(
                task,
                key,
                f"{relative} is protected ([evaluator] files): every candidate writes its [space] values "
                "into it and would be `tampered`; protect the judge only, not the files the values go in",
            )


def _glob_matches(relative: str, pattern: str) -> bool:
    """Whether a file not written yet would match `pattern` as `Path.glob` reads it (`*` within a folder)."""
    path, glob = Path(relative), Path(pattern)
    if "**" in glob.parts:
        return path.match(pattern) or path.match(pattern.replace("**/", ""))
    return len(path.parts) == len(glob.parts) and path.match(pattern)


def _value_notes(
    task: Task,
    space: Space,
    path: Path | None,
    data: Mapping[str, Any],
    names: list[str],
    marked: Mapping[str, tuple[str, Any]] | None = None,
) -> list[str]:
    """Experiment 0 runs on the workspace's values as written (the params file's `names`, and the
    `marked` lines' values): say which the search would refuse.

    Legal (the workspace is what it is), but a baseline outside the bounds or the rules is
    rarely meant, and its verdict (often `buggy`) is otherwise the first sign of it. A marked
    line's value was not checked at all: `static const int ITERS = 12;` with iters 1..8 ran as
    experiment 0 with no word.
    """
    marked = marked or {}
    written = {name: data[name] for name in names if name in data}
    written.update({name: value for name, (_, value) in marked.items()})
    notes = []
    legal: Point = {}
    for name in space.names:
        if name not in written or (name in marked and not space.is_active(name, written)):
            continue
        param = space.params[name]
        value = written[name]
        if param.allows(value):
            legal[name] = value
        else:
            where = marked[name][0] if name in marked else path.name if path else "?"
            notes.append(
                f"{where}: {name} = {json.dumps(value)} is not in [space] {name} ({_legal(param)}): "
                "experiment 0 runs with it; candidates stay within the space"
            )
    if legal and task.spec.constraints.rules:
        files = list(dict.fromkeys(marked[name][0].rsplit(":", 1)[0] for name in legal if name in marked))
        if any(name not in marked for name in legal) and path is not None:
            files.insert(0, path.name)
        notes += _rule_notes(task, space, " and ".join(files), legal)
    return notes


def _marked_values(task: Task, space: Space) -> dict[str, tuple[str, Any]]:
    """The `[space]` values the marked lines hold, each with its place (`prog.c:4`); the last
    line of a name wins, as `Space.read` takes it."""
    found: dict[str, tuple[str, Any]] = {}
    for relative in task.spec.proposer.marked:
        path = task.workspace / relative
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue  # refused by `_marked_names`, which runs first
        dialect = dialect_of(relative)
        for number, line in enumerate(lines, start=1):
            mark = parse_mark(line, dialect)
            if isinstance(mark, Mark) and mark.name in space.params:
                found[mark.name] = (f"{relative}:{number}", mark.read())
    return found


_READER_SCAN = 5000  # workspace files looked through for the params file's name; past it, assume one reads it
_READER_SIZE = 2_000_000  # a larger file (data) is not read
_READER_BYTES = 50_000_000  # all files read together; past it, assume one reads it


def _unread_params_notes(task: Task, unmarked: list[str]) -> list[str]:
    """A `[space]` parameter with no marked line, while marked lines carry the others and nothing
    names the params file: its values go where nothing reads them.

    `static const double ALPHA = 0.7;  /* strop: alpha */` was once no mark at all; the only word
    was that params.json did not exist, and every candidate's alpha went to that file, the
    program unchanged. A mark of a form strop does not read (`-- strop: alpha`) is the same.
    """
    proposer = task.spec.proposer
    if not proposer.marked or not proposer.params_file:
        return []
    name = Path(proposer.params_file).name
    evaluator = task.evaluator
    commands = [evaluator.command, evaluator.run, evaluator.final]
    if any(command and name in command for command in commands) or _workspace_names(task, name):
        return []
    files = ", ".join(proposer.marked)
    return [
        f"[space] {', '.join(unmarked)} {'has' if len(unmarked) == 1 else 'have'} no marked line in {files}: "
        f"{'its' if len(unmarked) == 1 else 'their'} values go to {proposer.params_file} only, and no "
        f"workspace file or command names {name}; mark a line for "
        f"{'it' if len(unmarked) == 1 else 'each'}, e.g. {example(dialect_of(proposer.marked[0]))}, or "
        "drop it from [space]"
    ]


def _workspace_names(task: Task, name: str) -> bool:
    """Whether a workspace file (outside `.git`, not the task file, which names it as a setting)
    holds `name`; True when there are too many to look through."""
    import os

    workspace = task.workspace
    own = task.path.resolve()
    needle = name.encode()
    seen = read = 0
    for root, folders, names in os.walk(workspace):
        folders[:] = [folder for folder in folders if folder != ".git"]
        for path in (Path(root) / each for each in names):
            if path.is_symlink() or not path.is_file() or path.resolve() == own:
                continue
            seen += 1
            if seen > _READER_SCAN or read > _READER_BYTES:
                return True
            try:
                size = path.stat().st_size
                if size <= _READER_SIZE:
                    read += size
                    if needle in path.read_bytes():
                        return True
            except OSError:
                continue
    return False


def _rule_notes(task: Task, space: Space, where: str, point: Point) -> list[str]:
    from agent.constraints import ConstraintError, constraints_for

    try:
        check = constraints_for(task, space).check(point)
    except (ConstraintError, SpaceError):
        return []  # the run's own validation reports a rule that does not fit the space
    if not check.violated:
        return []
    values = ", ".join(f"{name}={_short(value)}" for name, value in point.items())
    return [
        f"{where} ({values}) breaks [constraints] {'; '.join(check.violated)}: experiment 0 runs with "
        "these values; candidates keep to the rules"
    ]


def _marked_names(task: Task, space: Space) -> set[str]:
    """The `[space]` names that have a marked line in the `marked` files, each of which must exist
    and hold at least one usable mark.

    A `strop:` comment the reader cannot use, or a marked file with none it can, is the user's to
    fix: a YAML file's `size: 8  # strop: size` once matched nothing, and a whole run sent every
    candidate's values to a params file the code never read, each experiment scoring the same.
    """
    names: set[str] = set()
    for relative in task.spec.proposer.marked:
        path = task.workspace / relative
        if not path.is_file():
            raise _files_error(task, "marked", f"{path} is not a file in the workspace")
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise _files_error(task, "marked", f"{path} cannot be read as UTF-8 text: {error}") from None
        names |= _file_marks(task, space, relative, lines)
    return names


def _file_marks(task: Task, space: Space, relative: str, lines: list[str]) -> set[str]:
    """The `[space]` names marked in one file; a mark that cannot be used is a `TaskSpecError`."""
    dialect = dialect_of(relative)
    found: set[str] = set()
    for number, line in enumerate(lines, start=1):
        mark = parse_mark(line, dialect)
        if isinstance(mark, Unusable):
            raise _files_error(task, "marked", mark.message(f"{relative}:{number}", line))
        if isinstance(mark, Mark):
            if mark.name not in space.params:
                raise _files_error(task, "marked", _unknown_mark(space, relative, number, mark.name))
            if refused := _not_a_value(space.params[mark.name], mark.read()):
                raise _files_error(
                    task,
                    "marked",
                    f"{relative}:{number}: `strop: {mark.name}` marks {mark.value!r}, {refused}: "
                    f"{instead(mark, dialect)}",
                )
            for value in _extremes(space.params[mark.name]):
                if refused := cannot_hold(mark, value):
                    raise _files_error(task, "marked", f"{relative}:{number}: {refused}")
            found.add(mark.name)
    if not found:
        raise _files_error(
            task,
            "marked",
            f"{relative} has no marked line: strop writes each candidate's values into lines such as "
            f"{example(dialect)} (a [space] name after `strop:`); add them, or drop the file from `marked`",
        )
    return found


def _not_a_value(param: Param, value: Any) -> str | None:
    """Why `value`, read from a marked line, cannot be `param`'s value (a call, a mapping), or None.

    `model = Model(lr=0.1)  # strop: lr` read the whole call as the text of lr, and the first
    candidate wrote `model = 0.2`; a YAML `opts: {lr: 0.1}` became `opts: 0.2`.
    """
    if isinstance(value, dict | list | tuple | set):
        return f"a {type(value).__name__}, not one value"
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if param.numeric and not numeric:
        return f"not a number (the [space] parameter is {param.spec.type})"
    if param.spec.type == "bool" and not isinstance(value, bool):
        return "not true or false (the [space] parameter is bool)"
    return None


def _extremes(param: Param) -> list[Any]:
    """Values of `param` that tell whether a marked literal holds them all: a number's bounds (of
    its type: floats for a float parameter, even at 1.0), or every choice."""
    if param.numeric:
        return [param.coerce(param.spec.low), param.coerce(param.spec.high)]
    return param.choices


def _unknown_mark(space: Space, relative: str, number: int, name: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, space.names, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return (
        f"{relative}:{number}: `strop: {name}` names no [space] parameter{hint}; "
        f"the space has {', '.join(space.names)}"
    )


def _absent_notes(path: Path, data: Mapping[str, Any], names: list[str]) -> list[str]:
    import difflib

    notes = []
    for name in names:
        if name in data:
            continue
        others = [str(k) for k in data if str(k) not in names]
        close = difflib.get_close_matches(name, others, n=1, cutoff=0.6)
        hint = f" (it has {close[0]!r}: a typo?)" if close else ""
        if others and not close:
            hint = f" (its other keys: {', '.join(others[:5])})"
        notes.append(
            f"{path.name} has no value for [space] {name}{hint}: experiment 0 runs on the code's default"
        )
    return notes


def _files_error(task: Task, key: str, message: str) -> TaskSpecError:
    from agent.task import locate

    return TaskSpecError(
        str(task.path),
        message,
        line=locate(task.source, ("proposer", key)) or locate(task.source, ("space",)),
        key=f"proposer.{key}",
    )


def _ordered(params: Mapping[str, Param]) -> list[str]:
    """Declaration order, except that a parameter follows those its `when` reads."""
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered:
            return
        if name in visiting:
            raise SpaceError(f"[space] the `when` conditions of {name} form a cycle")
        visiting.add(name)
        when = params[name].when
        for dependency in sorted(when.names) if when else []:
            visit(dependency)
        visiting.discard(name)
        ordered.append(name)

    for name in params:
        visit(name)
    return ordered


def _legal(param: Param) -> str:
    spec = param.spec
    if spec.type in ("int", "float"):
        return f"{spec.type} {spec.low:g}..{spec.high:g}"  # int 1..50, not 1.0..50.0
    return "one of " + ", ".join(_short(c) for c in param.choices)


def _reflect(u: float) -> float:
    """Fold a step that left [0, 1] back inside (a mirror at each wall)."""
    u = abs(u) % 2.0
    return 2.0 - u if u > 1.0 else u


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class Repeated(tuple):
    """Every value a JSON object gave one key, in order, when it gave more than one.

    Python's `json` keeps the last; other readers keep the first or refuse. A candidate
    that wrote `{"a": 5, "a": 0.5}` passed the `[space]` check on 0.5 while a reader that
    keeps the first ran with 5, so a repeated name is a problem of its own.
    """


def _keeping_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`object_pairs_hook` for `json.loads`: a dict whose repeated keys hold a `Repeated`."""
    grouped: dict[str, list[Any]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    return {key: values[0] if len(values) == 1 else Repeated(values) for key, values in grouped.items()}
