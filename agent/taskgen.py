"""Tasks from the command line: a goal, an eval command and a metric become a commented task.toml.

    draft(workspace, goal, eval, metric, direction) -> TaskDraft   what we know and what we guessed
    draft(..., run=, score=, scorer=, private=, public=)            the same, two stages
    render(draft, workspace_key) -> str                             the commented task file's text
    task_from_goal(...) -> Task                                     a task with no file of the user's,
                                                                    saved under $STROP_HOME/tasks

`strop init` writes the text into the workspace; `strop run WORKSPACE --goal … --eval …
--metric …` runs the task directly (the run records the task it used, as it does for
every run). Its `[llm]` comes from STROP_LLM_URL and STROP_LLM_MODEL, with
STROP_LLM_MAX_TOKENS, STROP_LLM_CONTEXT and STROP_LLM_TIMEOUT when set (`LLMLimits`).
The guesses are said in comments: whether the workspace is a git repo (used in place)
or a folder (strop keeps a managed copy), and which files to protect (the files the
eval command names), since a candidate that edits its own judge must be caught.

With `--eval` the task is one stage: the command that prints the metric runs in the
candidate's sandbox, so a candidate can print any metric it likes (strop warns, and
`two_stage_advice` says how to move off it). With `run`, `score` and `scorer` it is two
stages (see `evaluators.spec`): the candidate's command makes artifacts, and the user's
scorer folder, copied fresh for each evaluation into a sandbox of its own with the private
data, scores them. Its folders are checked up front and written relative to the task file.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from agent.errors import UserError
from agent.space_sketch import SpaceSketch, sketch_space
from agent.task import DEFAULT_EXPERIMENTS, LLMSpec, Task, load_task

DIRECTIONS = {"max": "maximize", "maximize": "maximize", "min": "minimize", "minimize": "minimize"}
_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class LLMLimits:
    """The `[llm]` limits a task from the command line takes from the environment.

    `strop run WORKSPACE --goal …` writes no file of the user's, so without these a small local
    model kept the 4096-token answer and the 120 s request limit: 3,333 tokens in 78 s a call,
    with no flag to change it. `None`: not set, the task file's default holds.
    """

    max_tokens: int | None = None  # STROP_LLM_MAX_TOKENS: the answer's limit
    context: int | None = None  # STROP_LLM_CONTEXT: the model's window, prompt and answer together
    request_timeout: str | None = None  # STROP_LLM_TIMEOUT: one request, as a duration ("300s", "5m")

    def lines(self) -> list[str]:
        """The `[llm]` lines for the limits set, in TOML."""
        found = [
            f"max_tokens = {self.max_tokens}  # from STROP_LLM_MAX_TOKENS" if self.max_tokens else "",
            f"context = {self.context}  # from STROP_LLM_CONTEXT" if self.context else "",
            f"request_timeout = {_toml(self.request_timeout)}  # from STROP_LLM_TIMEOUT"
            if self.request_timeout
            else "",
        ]
        return [line for line in found if line]


def llm_limits_from_environment() -> LLMLimits:
    """STROP_LLM_MAX_TOKENS, STROP_LLM_CONTEXT and STROP_LLM_TIMEOUT, checked: a bad value is one
    line naming the variable, before any run exists (the task file would refuse it later, or the
    first model call would fail after experiment 0)."""
    import os

    max_tokens = _tokens("STROP_LLM_MAX_TOKENS", 16, "the answer's limit, e.g. 1024")
    context = _tokens("STROP_LLM_CONTEXT", 256, "the model's context window, e.g. 8192")
    timeout = os.environ.get("STROP_LLM_TIMEOUT", "").strip() or None
    if timeout is not None:
        from sandbox.units import UnitError, parse_duration

        try:
            parse_duration(timeout)
        except UnitError as error:
            raise UserError(f"STROP_LLM_TIMEOUT (one model request's limit): {error}") from None
    answer = max_tokens or LLMSpec.model_fields["max_tokens"].default  # what the file then holds
    if context is not None and answer >= context:
        given = f"STROP_LLM_MAX_TOKENS={answer}" if max_tokens else f"the default answer of {answer} tokens"
        raise UserError(
            f"STROP_LLM_CONTEXT={context} leaves no room for the prompt beside {given}: "
            f"set STROP_LLM_MAX_TOKENS below it (e.g. {max(16, context // 4)})"
        )
    return LLMLimits(max_tokens, context, timeout)


def _tokens(variable: str, least: int, what: str) -> int | None:
    """A whole number of tokens, at least `least`, from `variable`; None when it is unset or blank."""
    import os

    text = os.environ.get(variable, "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < least:
        raise UserError(f"{variable}={text!r}: give a whole number of tokens, at least {least} ({what})")
    return value


@dataclass(frozen=True)
class TaskDraft:
    name: str
    goal: str
    command: str  # one stage; empty for two
    metric: str
    direction: str
    timeout: str = "10m"
    git_repo: bool = False
    protect: list[str] = field(default_factory=list)
    experiments: int = DEFAULT_EXPERIMENTS
    llm: tuple[str, str] | None = None  # (base_url, model) from STROP_LLM_URL and STROP_LLM_MODEL
    llm_limits: LLMLimits = field(default_factory=LLMLimits)  # STROP_LLM_MAX_TOKENS, …
    run: str = ""  # two stages: the candidate's command, writing into $STROP_OUTPUTS
    score: str = ""  # the scorer's command, run in a fresh copy of `scorer`
    scorer: Path | None = None  # absolute: written relative to the task file
    private: Path | None = None
    public: Path | None = None
    space: SpaceSketch | None = None  # guessed from the workspace's params.json, if it has one

    @property
    def two_stage(self) -> bool:
        return bool(self.run)


def llm_from_environment() -> tuple[str, str] | None:
    """The endpoint a task from the command line proposes with: STROP_LLM_URL and STROP_LLM_MODEL."""
    import os

    url, model = os.environ.get("STROP_LLM_URL", "").strip(), os.environ.get("STROP_LLM_MODEL", "").strip()
    return (url, model) if url and model else None


def direction_of(text: str) -> str:
    try:
        return DIRECTIONS[text.strip().lower()]
    except KeyError:
        raise UserError(f"--direction {text!r}: use max or min") from None


def is_git_top(folder: Path) -> bool:
    """Whether `folder` is the top of a git repo (strop then works in it in place)."""
    import git

    try:
        top = git.Repo(folder, search_parent_directories=True).working_tree_dir
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return False
    return top is not None and Path(top).resolve() == folder.resolve()


_JUDGES = {
    "make": ("Makefile", "makefile", "GNUmakefile"),
    "pytest": ("tests", "test", "conftest.py", "pytest.ini"),
}
"""Files a tool reads without the command naming them: `make -s` runs the Makefile, a bare
`pytest` the tests folder. Left editable, a candidate could change the judge itself."""


def files_to_protect(workspace: Path, command: str) -> list[str]:
    """The files and folders the eval command names that exist in the workspace, and those its
    tool reads unnamed (`_JUDGES`): the judge must not be edited. A folder protects all under it."""
    try:
        words = shlex.split(command)
    except ValueError as error:
        raise UserError(f"--eval {command!r} is not a valid command line: {error}") from None
    root = workspace.resolve()
    tools = {Path(word).name for word in words}
    named = [name for tool, names in _JUDGES.items() if tool in tools for name in names]
    found = []
    for word in [*words, *named]:
        candidate = (workspace / word).resolve()
        if (
            candidate != root
            and candidate.is_relative_to(root)
            and (candidate.is_file() or candidate.is_dir())
        ):
            found.append(candidate.relative_to(root).as_posix())
    return sorted(set(found))


def draft(
    workspace: Path,
    goal: str,
    command: str,
    metric: str,
    direction: str,
    timeout: str = "10m",
    *,
    run: str = "",
    score: str = "",
    scorer: Path | None = None,
    private: Path | None = None,
    public: Path | None = None,
) -> TaskDraft:
    """What the command line says, plus what we can see in the workspace.

    `command` (`--eval`) makes a one-stage task; `run` + `score` + `scorer` a two-stage one.
    """
    workspace = workspace.expanduser().resolve()
    if not workspace.is_dir():
        raise UserError(f"workspace {workspace} does not exist or is not a folder")
    command, run, score = command.strip(), run.strip(), score.strip()
    _check_form(command, run, score, scorer, private, public)
    given = (("--goal", goal), ("--eval", command or run), ("--metric", metric))
    missing = [option for option, value in given if not value or not value.strip()]
    if missing:
        raise UserError(
            f"strop init needs {', '.join(missing)}: what to improve, the command that measures it and "
            'the key of the JSON line it prints, e.g. strop init . --goal "make bench.py faster" '
            '--eval "python bench.py" --metric seconds --direction min (or, two stages, --run, --score '
            "and --scorer in place of --eval)"
        )
    name = _NAME.sub("-", workspace.name).strip("-._")[:64] or "task"
    folders = {
        option: _trusted_folder(option, path, workspace)
        for option, path in (("--scorer", scorer), ("--private", private), ("--public", public))
        if path is not None
    }
    if run:
        _check_command("--run", run)
        _check_command("--score", score)
    llm = llm_from_environment()
    return TaskDraft(
        name=name,
        goal=goal.strip(),
        command=command,
        metric=metric.strip(),
        direction=direction_of(direction),
        timeout=timeout,
        git_repo=is_git_top(workspace),
        # two stages: the judge is out of the workspace; what --run names is what candidates improve
        protect=[] if run else files_to_protect(workspace, command),
        llm=llm,
        llm_limits=llm_limits_from_environment() if llm else LLMLimits(),
        run=run,
        score=score,
        scorer=folders.get("--scorer"),
        private=folders.get("--private"),
        public=folders.get("--public"),
        space=sketch_space(workspace),
    )


def _check_form(
    command: str, run: str, score: str, scorer: Path | None, private: Path | None, public: Path | None
) -> None:
    """One stage (`--eval`) or two (`--run` + `--score` + `--scorer`), never a mix: one line each."""
    staged = bool(run or score or scorer is not None)
    if command and staged:
        raise UserError("give --eval (one stage) or --run with --score and --scorer (two stages), not both")
    if not staged and (private is not None or public is not None):
        raise UserError(
            "--private and --public belong to a two-stage task: give --run, --score and --scorer with them"
        )
    if not staged:
        return
    if score and scorer is None:
        raise UserError("--score runs in your scorer's folder: give that folder with --scorer DIR")
    if scorer is not None and not score:
        raise UserError(
            "--scorer DIR needs --score CMD: the command, run in a fresh copy of DIR, that prints the metric"
        )
    if not run:
        raise UserError(
            "--score needs --run CMD: the command that makes the artifacts, run in the candidate's sandbox"
        )
    if not score:
        raise UserError(
            "--run needs --score CMD and --scorer DIR: your scorer, which reads $STROP_OUTPUTS and prints "
            "the metric (or give --eval for a one-stage task)"
        )


def _trusted_folder(option: str, path: Path, workspace: Path) -> Path:
    """A scorer, private or public folder: it exists, and lies beside the workspace, not in it."""
    folder = path.expanduser().resolve()
    if not folder.exists():
        raise UserError(f"{option} {path}: no such folder")
    if not folder.is_dir():
        raise UserError(f"{option} {path}: not a folder")
    if folder == workspace or workspace in folder.parents:
        raise UserError(
            f"{option} {path} is the workspace or lies inside it, where candidates (and the LLM) can read it: "
            "move it beside the workspace"
        )
    if folder in workspace.parents:
        raise UserError(f"{option} {path} contains the workspace: give a folder beside it")
    return folder


def _check_command(option: str, command: str) -> None:
    try:
        shlex.split(command)
    except ValueError as error:
        raise UserError(f"{option} {command!r} is not a valid command line: {error}") from None


def two_stage_advice(d: TaskDraft, workspace: Path, target: Path) -> str:
    """How to turn the one-stage task just written into a two-stage one, as commands to type."""
    where = shlex.quote(_relative(workspace.resolve(), Path.cwd()))
    scorer = shlex.quote(_relative(workspace.resolve().parent / "scorer", Path.cwd()))
    direction = "min" if d.direction == "minimize" else "max"
    default = target.resolve() == workspace.resolve() / "task.toml"
    output = "" if default else f" -o {shlex.quote(str(target))}"
    return (
        f"this task is one stage: `{d.command}` prints the metric inside the candidate's sandbox, so a "
        "candidate can print any metric it likes. To make it two stages: have the command write what it "
        "makes into $STROP_OUTPUTS; put a scorer beside the workspace (say "
        f"{scorer}/score.py, reading $STROP_OUTPUTS, and $STROP_PRIVATE for answers kept in a --private "
        "folder, and printing the JSON line with the metric); then  "
        f"strop init {where} --force{output} --goal {shlex.quote(d.goal)} "
        f"--metric {shlex.quote(d.metric)} --direction {direction} --run {shlex.quote(d.command)} "
        f'--score "python -I score.py" --scorer {scorer}'
    )


def _toml(value: object) -> str:
    """A TOML string (or list of strings) for `value`.

    Not `json.dumps`: it writes an emoji as a surrogate pair (`\\ud83d\\ude80`), which TOML
    refuses, and leaves DEL raw, which TOML forbids in a string; the file `strop init` wrote
    then failed to load. Text that is no Unicode at all (a lone surrogate: bytes of a path that
    are not UTF-8) cannot be written into a TOML file, and is a one-line error. Written here, not
    with `tomli-w`: `render` fills a commented template value by value, and `tomli-w` writes whole
    documents only (its one-value formatter is private); a basic string's escapes are the TOML
    spec's few lines.
    """
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    text = str(value)
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        raise UserError(f"{text!r} is not valid UTF-8 text (a path's bytes?): a task file cannot hold it")
    return '"' + "".join(_toml_char(ch) for ch in text) + '"'


def _toml_char(ch: str) -> str:
    if ch in '"\\':
        return "\\" + ch
    if ch == "\t" or (ch >= " " and ch != "\x7f"):
        return ch
    return f"\\u{ord(ch):04x}"


def render(d: TaskDraft, workspace_key: str = ".", base: Path | None = None) -> str:
    """The commented task file for a draft; `base`: the folder the trusted folders are written relative to."""
    where = (
        "a git repo: strop works in it in place (branches strop/<run>/<n>; your branch is untouched)"
        if d.git_repo
        else "a plain folder: strop keeps a managed git copy of it under $STROP_HOME/repos"
    )
    return f"""# task.toml written by `strop init`. Check it, then:  strop eval THIS_FILE  and  strop run THIS_FILE
# Reference: the README's "A tour of task.toml".

[task]
name = {_toml(d.name)}
goal = {_toml(d.goal)}
workspace = {_toml(workspace_key)}  # {where}

{_evaluator(d, base) if d.two_stage else _one_stage(d)}
[budget]
{_experiments(d)}

[proposer]
kind = "auto"  # llm when [llm] is set, else evolve over [space]

{_llm(d)}
{_space(d)}"""


def _experiments(d: TaskDraft) -> str:
    """The count, written only when it is not the default: a written 20 stopped `strop run --time 30s`
    after 20 experiments in 8 s (a count the file names is kept; the default is lifted by a time)."""
    if d.experiments == DEFAULT_EXPERIMENTS:
        return (
            f"# experiments = {DEFAULT_EXPERIMENTS}  # the default, unless a time is given (here or --time); "
            'also: time = "30m", tokens, cost (USD)'
        )
    return f'experiments = {d.experiments}  # also: time = "30m", tokens, cost (USD)'


def _space(d: TaskDraft) -> str:
    """The `[space]` guessed from the workspace's params.json, else a commented example."""
    if d.space is not None and d.space.lines:
        return d.space.toml()
    return (
        "# [space]                              # what the offline proposer may change (written to params.json)\n"
        '# learning_rate = { type = "float", low = 0.01, high = 0.5, log = true }\n'
    )


def _one_stage(d: TaskDraft) -> str:
    protect = (
        f"files = {_toml(d.protect)}  # the judge: a candidate that changes these is marked `tampered`"
        if d.protect
        else '# files = ["bench.py"]  # protect the files your evaluator reads: a candidate must not edit its judge'
    )
    return f"""[evaluator]
command = {_toml(d.command)}  # runs in each candidate's copy; its last JSON line holds the metrics
# One stage: the candidate's code runs where the metric is printed, so it can forge it. Two stages
# cannot be forged: run = "…" (writes into $STROP_OUTPUTS) with score = "…" and scorer = "DIR"
# (your scorer's folder, outside the workspace); see `strop init --help`.
metric = {_toml(d.metric)}
direction = {_toml(d.direction)}
timeout = {_toml(d.timeout)}
{protect}
# final = "python bench.py --final"   # a hidden test, run once on the best
# sandbox = "auto"                    # auto | docker | bwrap | local
"""


def _evaluator(d: TaskDraft, base: Path | None) -> str:
    def key(path: Path | None) -> str | None:
        if path is None:
            return None
        return Path(_relative(path, base.resolve())).as_posix() if base is not None else str(path)

    private, public = key(d.private), key(d.public)
    return f"""[evaluator]                            # two stages: the candidate makes artifacts, your scorer scores them
run = {_toml(d.run)}  # stage run: the candidate's code, in its sandbox; writes into $STROP_OUTPUTS
score = {_toml(d.score)}  # stage score: your scorer, in a sandbox of its own; prints the metric
scorer = {_toml(key(d.scorer))}  # copied fresh for each evaluation; never shown to the LLM
{f"private = {_toml(private)}  # read by the scorer alone, at $STROP_PRIVATE" if private else '# private = "../private"  # answers the scorer alone reads, at $STROP_PRIVATE'}
{f"public = {_toml(public)}  # read-only in both stages, at $STROP_PUBLIC" if public else '# public = "../public"  # data both stages read, at $STROP_PUBLIC'}
# final_private = "../private-final"  # hidden-test answers: read once, in the final phase, on the best
# expects = "predictions.json: [...]"   # what the scorer reads from $STROP_OUTPUTS, in words, for the LLM
metric = {_toml(d.metric)}
direction = {_toml(d.direction)}
timeout = {_toml(d.timeout)}  # stage run; score_timeout for the scorer (default: the same)
# files = ["data.csv"]                # workspace files a candidate must not change (it is then `tampered`)
# sandbox = "auto"                    # auto | docker | bwrap | local
# score_sandbox = "auto"              # the scorer's: bwrap where it works
"""


def _llm(d: TaskDraft) -> str:
    if d.llm is None:
        return (
            "# [llm]\n"
            '# base_url = "http://localhost:11434/v1"   # any OpenAI-compatible endpoint\n'
            '# model = "qwen2.5-coder"\n'
            '# api_key_env = "OPENAI_API_KEY"\n'
        )
    url, model = d.llm
    limits = "".join(line + "\n" for line in d.llm_limits.lines()) or (
        "# max_tokens = 4096  # the answer's limit (STROP_LLM_MAX_TOKENS); a small local model wants less\n"
        "# context = 8192  # the model's window (STROP_LLM_CONTEXT; learned from errors if unset)\n"
        '# request_timeout = "120s"  # one request (STROP_LLM_TIMEOUT)\n'
    )
    return (
        "[llm]  # from STROP_LLM_URL and STROP_LLM_MODEL\n"
        f"base_url = {_toml(url)}\n"
        f"model = {_toml(model)}\n"
        'api_key_env = "OPENAI_API_KEY"  # the key is read from this variable, never stored\n'
        f"{limits}"
    )


def write_task_file(target: Path, d: TaskDraft, workspace: Path, force: bool = False) -> Task:
    """Write the task file at `target` (refusing to overwrite unless `force`) and load it back."""
    if target.exists() and not force:
        raise UserError(f"{target} exists: use --force to replace it, or -o to write elsewhere")
    key = Path(_relative(workspace.resolve(), target.parent.resolve())).as_posix()
    text = render(d, key, target.parent)
    target.parent.mkdir(parents=True, exist_ok=True)
    return _replace_when_valid(target, text)


def _replace_when_valid(target: Path, text: str) -> Task:
    """Write `text` at `target` only once it loads as a task: with `--force`, a draft that is
    wrong (a metric with a tab in it) replaced the user's good file with a broken one.

    The draft is checked beside the target (its relative paths then resolve the same) and
    renamed over it; a wrong draft leaves nothing behind, and the error says nothing was written.
    """
    import os
    import tempfile

    from agent.errors import TaskSpecError

    handle, name = tempfile.mkstemp(prefix=".strop-init-", suffix=".toml", dir=target.parent)
    draft_path = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        load_task(draft_path)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(draft_path, 0o666 & ~umask)  # as `write_text` would make it (mkstemp makes 0600)
        os.replace(draft_path, target)
    except TaskSpecError as error:
        what = (
            str(error).replace(str(draft_path.resolve()), str(target)).replace(str(draft_path), str(target))
        )
        raise UserError(f"nothing written: the task file would be wrong: {what}") from None
    finally:
        draft_path.unlink(missing_ok=True)
    return load_task(target)


def _relative(path: Path, start: Path) -> str:
    import os

    return os.path.relpath(path, start)


def task_from_goal(
    workspace: Path, goal: str, command: str, metric: str, direction: str, home: Path, timeout: str = "10m"
) -> Task:
    """A task for `strop run WORKSPACE --goal …`: the same file `strop init` would write, kept in
    `$STROP_HOME/tasks/` (so `resume` finds it) rather than in the user's workspace."""
    d = draft(workspace, goal, command, metric, direction, timeout)
    text = render(d, str(workspace.expanduser().resolve()))
    digest = hashlib.sha1(text.encode()).hexdigest()[:10]
    target = home / "tasks" / f"{d.name}-{digest}.toml"
    target.parent.mkdir(parents=True, exist_ok=True)
    return _replace_when_valid(target, text)


def command_line_task(
    path: Path, goal: str | None, command: str | None, metric: str | None, direction: str, home: Path
) -> Task | None:
    """For `strop run`: the task `--goal/--eval/--metric` describe over the workspace `path`, or None
    when none of them is given (then `path` is a task file, as usual)."""
    given = {"--goal": goal, "--eval": command, "--metric": metric}
    if all(value is None for value in given.values()):
        return None
    missing = [option for option, value in given.items() if value is None]
    if missing:
        raise UserError(
            f"a task from the command line needs --goal, --eval and --metric ({missing[0]} is missing)"
        )
    assert goal is not None and command is not None and metric is not None
    if Path(path).is_file():
        raise UserError(f"{path} is a file: with --goal/--eval/--metric, give the workspace folder instead")
    if llm_from_environment() is None:
        raise UserError(
            "a task from the command line proposes with an LLM: set STROP_LLM_URL and STROP_LLM_MODEL "
            "(any OpenAI-compatible endpoint), or write a task file with a [space]: strop init"
        )
    return task_from_goal(Path(path), goal, command, metric, direction, home)
