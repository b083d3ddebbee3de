"""`strop init`: write a commented task.toml from a goal, an eval command and a metric."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from agent.cli import app
from agent.cli.render import out

if TYPE_CHECKING:
    from agent.taskgen import TaskDraft  # imported by the command: `strop --help` stays fast


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
        f"  protected: {', '.join(d.protect) if d.protect else 'nothing yet (see `files` in the file)'}",
        markup=False,
    )
    for note in init_notes(d, task.workspace):
        out.print(f"note: {note}", markup=False)
    then = (
        f"then   strop run {target}"
        if d.llm
        else f"then, with a [space] or an [llm] in it,   strop run {target}"
    )
    out.print(f"next: strop eval {target}   {then}", markup=False)


def init_notes(d: TaskDraft, workspace: Path) -> list[str]:
    """What the written file cannot do yet, said before `strop run` fails on it.

    Without an LLM the offline proposer needs a [space] the file only sketches in comments;
    a protected file that the goal names is likely the artifact, not the judge: every
    candidate that improves it would be `tampered`; and a folder inside a git repo is not
    that repo: its experiments are branches of a managed copy, and `strop adopt` writes files.
    """
    notes = []
    enclosing = None if d.git_repo else _enclosing_repo(workspace)
    if enclosing is not None:
        notes.append(
            f"{workspace} lies inside the git repo {enclosing} but is not its top: strop keeps a managed copy "
            "of this folder (no strop/ branches in your repo; `strop adopt` writes the files in); "
            "give the repo's top as the workspace to work on its branches"
        )
    named = [name for name in d.protect if _names(d.goal, Path(name).name)]
    if named:
        notes.append(
            f"the goal names {', '.join(named)}, which `files` protects as the judge (the command runs it): "
            "a candidate that changes it is `tampered`; if it is what should change, drop it from `files`, "
            "or measure it with a separate script"
        )
    if d.llm is None:
        notes.append(
            "no LLM set (STROP_LLM_URL, STROP_LLM_MODEL): `strop run` needs a [space] (the parameters the "
            "offline proposer may change, read by your code from params.json) or an [llm] table; "
            "both are sketched, commented out, at the end of the file"
        )
    return notes


def _enclosing_repo(folder: Path) -> Path | None:
    """The top of the git repo holding `folder`, if any."""
    import git

    try:
        top = git.Repo(folder, search_parent_directories=True).working_tree_dir
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    return Path(top) if top else None


def _names(text: str, file_name: str) -> bool:
    """Whether `text` names `file_name` as a word of its own (`data.py` does not name `a.py`)."""
    import re

    return re.search(rf"(?<![\w.-]){re.escape(file_name)}(?![\w-])", text) is not None
