"""The task the LLM path's run tests share: make VALUE in model.py large, judged by evaluate.py."""

from __future__ import annotations

from pathlib import Path

from agent.llm.scripted_server import ScriptedServer

TASK = """
[task]
name = "{name}"
goal = "Make VALUE in model.py as large as possible."
workspace = "{workspace}"

[evaluator]
command = "python evaluate.py"
metric = "score"
direction = "maximize"
timeout = "30s"
files = ["evaluate.py"]
sandbox = "local"

[budget]
experiments = {experiments}
turns = "fixed"
turn_limit = 1

[proposer]
kind = "llm"

[search]
strategy = "greedy"
drafts = 1
debug_prob = 0.0
parallel = {parallel}

[knowledge]
memory = false

[llm]
base_url = "{base_url}"
model = "scripted"
request_timeout = "5s"
max_retries = 1
{llm}"""


def llm_task_file(
    tmp_path: Path,
    workspace: Path,
    server: ScriptedServer,
    name: str,
    experiments: int,
    parallel: int = 1,
    llm: str = "",
) -> Path:
    """task.toml in `tmp_path` for `workspace`, proposing through `server`; `llm`: more [llm] lines."""
    path = tmp_path / "task.toml"
    path.write_text(
        TASK.format(
            name=name,
            workspace=workspace,
            base_url=server.base_url,
            experiments=experiments,
            parallel=parallel,
            llm=llm,
        )
    )
    return path
