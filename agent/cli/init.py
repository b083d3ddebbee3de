"""`strop init`: write a commented task.toml from a goal, an eval command (or two stages) and a metric."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from agent.cli import app
from agent.cli.render import err, out

if TYPE_CHECKING:
    from agent.taskgen import TaskDraft  # imported by the command: `strop --help` stays fast


@app.command("init")
def init_command(
    workspace: Annotated[
        Path, typer.Argument(metavar="[WORKSPACE]", help="The folder or git repo to improve.")
    ] = Path("."),
    goal: Annotated[str, typer.Option("--goal", help="What to improve, in words (shown to the LLM).")] = "",
    eval_command: Annotated[
        str,
        typer.Option(
            "--eval",
            help='One stage: the command that measures it and prints the metric, e.g. "python bench.py" '
            "(it runs in the candidate's sandbox: a candidate can forge it).",
        ),
    ] = "",
    run_command: Annotated[
        str,
        typer.Option(
            "--run",
            help="Two stages: what makes the artifacts, in the candidate's sandbox; it writes them into "
            '$STROP_OUTPUTS, e.g. "python train.py". Needs --score and --scorer.',
        ),
    ] = "",
    score_command: Annotated[
        str,
        typer.Option(
            "--score",
            help="Two stages: your scorer's command, run in a fresh copy of --scorer in a sandbox of its "
            'own; reads $STROP_OUTPUTS (and $STROP_PRIVATE), prints the metric, e.g. "python -I score.py".',
        ),
    ] = "",
    scorer: Annotated[
        Path | None,
        typer.Option("--scorer", help="Your scorer's folder, outside the workspace; never shown to the LLM."),
    ] = None,
    private: Annotated[
        Path | None,
        typer.Option(
            "--private", help="Answers only the scorer reads ($STROP_PRIVATE), outside the workspace."
        ),
    ] = None,
    public: Annotated[
        Path | None,
        typer.Option(
            "--public", help="Data both stages read ($STROP_PUBLIC, read-only), outside the workspace."
        ),
    ] = None,
    metric: Annotated[str, typer.Option("--metric", help="Key of the JSON line the command prints.")] = "",
    direction: Annotated[
        str,
        typer.Option(
            "--direction",
            help="max or min (default: as the metric's name or the goal's words read, e.g. min for "
            "loss, rmse, seconds or a goal of `faster`; else max).",
        ),
    ] = "",
    timeout: Annotated[str, typer.Option("--timeout", help="Per evaluation, e.g. 60s, 10m.")] = "10m",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Where to write it: a file, or a folder for FOLDER/task.toml (default: WORKSPACE/task.toml).",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Write a commented task.toml for WORKSPACE: detects a git repo, proposes the files to protect.

    One stage (--eval): the command that prints the metric runs in the candidate's sandbox, so a
    candidate can forge its score (strop warns). Two stages (--run, --score, --scorer): the candidate's
    command writes artifacts into $STROP_OUTPUTS; your scorer, copied fresh for each evaluation and run
    in a sandbox of its own with --private, scores them; candidates never see it.

    Example:  strop init . --goal "make bench.py faster" --eval "python bench.py" --metric seconds --direction min

    Two stages:  strop init ws --goal "raise accuracy" --run "python train.py" --score "python -I score.py" --scorer scorer --private private --metric accuracy
    """
    from agent.metric_words import chosen
    from agent.taskgen import draft, two_stage_advice, write_task_file

    direction, direction_note = chosen(direction, metric, goal)
    d = draft(
        workspace,
        goal,
        eval_command,
        metric,
        direction,
        timeout,
        run=run_command,
        score=score_command,
        scorer=scorer,
        private=private,
        public=public,
    )
    target = output or workspace / "task.toml"
    if target.is_dir():  # `-o FOLDER`, as `cp` reads it (a rename over the folder was an internal error)
        target = target / "task.toml"
    task = write_task_file(target, d, workspace, force)
    out.print(f"wrote {target}", markup=False)
    out.print(
        f"  workspace {task.workspace} ({'git repo, used in place' if d.git_repo else 'plain folder, managed copy'})",
        markup=False,
    )
    out.print(
        f"  protected: {', '.join(d.protect) if d.protect else _unprotected(d)}",
        markup=False,
    )
    if d.two_stage:
        for name, folder in (("scorer", d.scorer), ("private", d.private), ("public", d.public)):
            if folder is not None:
                out.print(f"  {name} {folder}", markup=False)
    for note in [*([direction_note] if direction_note else []), *init_notes(d, task.workspace)]:
        out.print(f"note: {note}", markup=False)
    if not d.two_stage:
        err.print(f"warning: {two_stage_advice(d, task.workspace, target)}", markup=False)
    shown = shlex.quote(str(target))  # commands to copy: a folder named `my ws` is two words to a shell
    then = (
        f"then   strop run {shown}"
        if d.llm or (d.space is not None and d.space.lines)
        else f"then, with a [space] or an [llm] in it,   strop run {shown}"
    )
    out.print(f"next: strop eval {shown}   {then}", markup=False)


def _unprotected(d: TaskDraft) -> str:
    if d.two_stage:
        return "nothing in the workspace (the scorer is outside it; see `files` in the file)"
    return "nothing yet (see `files` in the file)"


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
    if d.space is not None and d.space.lines:
        names = d.space.names
        shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        notes.append(
            f"[space] guessed from {d.space.source}: {shown}; each range is a guess around today's value, "
            "check them before `strop run`"
        )
    elif d.llm is None:
        notes.append(
            "no LLM set (STROP_LLM_URL, STROP_LLM_MODEL): `strop run` needs a [space] (the parameters the "
            "offline proposer may change, read by your code from params.json, or written into lines of your "
            "own files marked `# strop: NAME` and listed in [proposer] marked: a YAML config, a script) or an "
            "[llm] table; "
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
