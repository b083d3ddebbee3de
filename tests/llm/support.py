"""The task the LLM path's run tests share: make VALUE in model.py large, judged by evaluate.py;
and the git workspace it runs on."""

from __future__ import annotations

from pathlib import Path

from agent.llm.scripted_server import ScriptedServer
from tests.spine.conftest import git_output as git

TASK = """
[task]
name = "{name}"
goal = "{goal}"
workspace = "{workspace}"

[evaluator]
command = "python evaluate.py"
metric = "score"
direction = "maximize"
timeout = "{timeout}"
files = ["evaluate.py"]
sandbox = "local"
{evaluator}
[budget]
experiments = {experiments}
{turns}

[proposer]
kind = "llm"

[search]
strategy = "greedy"
drafts = 1
debug_prob = 0.0
parallel = {parallel}

[knowledge]
memory = {memory}
{sections}
[llm]
base_url = "{base_url}"
model = "scripted"
request_timeout = "{request_timeout}"
max_retries = {max_retries}
{llm}"""


def commit_initial(path: Path) -> None:
    """`path` made a git repo on `main` whose one commit, "initial", holds all it has."""
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "initial")


def git_workspace(tmp_path: Path, files: dict[str, str]) -> Path:
    """`tmp_path`/repo holding `files` (name -> text), committed by `commit_initial`."""
    path = tmp_path / "repo"
    path.mkdir()
    for name, text in files.items():
        (path / name).write_text(text)
    commit_initial(path)
    return path


FIXED_TURNS = 'turns = "fixed"\nturn_limit = 1'


def llm_task_file(
    tmp_path: Path,
    workspace: Path,
    server: ScriptedServer,
    name: str,
    experiments: int,
    parallel: int = 1,
    llm: str = "",
    *,
    goal: str = "Make VALUE in model.py as large as possible.",
    evaluator: str = "",
    timeout: str = "30s",
    turns: str = FIXED_TURNS,
    memory: bool = False,
    sections: str = "",
    request_timeout: str = "5s",
    max_retries: int = 1,
) -> Path:
    """task.toml in `tmp_path` for `workspace`, proposing through `server`.

    `llm`: more [llm] lines; `evaluator`: more [evaluator] lines; `turns`: the [budget]'s turn
    policy lines; `sections`: more tables (e.g. [space], [constraints]).
    """
    path = tmp_path / "task.toml"
    path.write_text(
        TASK.format(
            name=name,
            goal=goal,
            workspace=workspace,
            timeout=timeout,
            evaluator=evaluator,
            experiments=experiments,
            turns=turns,
            parallel=parallel,
            memory="true" if memory else "false",
            sections=sections,
            base_url=server.base_url,
            request_timeout=request_timeout,
            max_retries=max_retries,
            llm=llm,
        )
    )
    return path
