"""`strop init`: write a commented task.toml from a goal, an eval command and a metric."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agent.cli import app
from agent.cli.render import out


@app.command("init")
def init_command(
    workspace: Annotated[
        Path, typer.Argument(metavar="[WORKSPACE]", help="The folder or git repo to improve.")
    ] = Path("."),
    goal: Annotated[str, typer.Option("--goal", help="What to improve, in words (shown to the LLM).")] = "",
    eval_command: Annotated[
        str, typer.Option("--eval", help='The command that measures it, e.g. "python bench.py".')
    ] = "",
    metric: Annotated[str, typer.Option("--metric", help="Key of the JSON line the command prints.")] = "",
    direction: Annotated[str, typer.Option("--direction", help="max or min.")] = "max",
    timeout: Annotated[str, typer.Option("--timeout", help="Per evaluation, e.g. 60s, 10m.")] = "10m",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write it (default: WORKSPACE/task.toml).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Write a commented task.toml for WORKSPACE: detects a git repo, proposes the files to protect.

    Example:  strop init . --goal "make bench.py faster" --eval "python bench.py" --metric seconds --direction min
    """
    from agent.taskgen import draft, write_task_file

    d = draft(workspace, goal, eval_command, metric, direction, timeout)
    target = output or workspace / "task.toml"
    task = write_task_file(target, d, workspace, force)
    out.print(f"wrote {target}", markup=False)
    out.print(
        f"  workspace {task.workspace} ({'git repo, used in place' if d.git_repo else 'plain folder, managed copy'})",
        markup=False,
    )
    out.print(
        f"  protected: {', '.join(d.protect) if d.protect else 'nothing yet (see `files` in the file)'}"
    )
    out.print(f"next: strop eval {target}   then   strop run {target}", markup=False)
