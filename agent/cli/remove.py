"""`strop rm`: delete old runs from the home and their refs from the experiment repo.

What goes, in which order, and why a kill midway is harmless: `agent.run_removal`. This
module selects, asks, and prints.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from agent.cli import app
from agent.cli.render import err, out, plural, printable

if TYPE_CHECKING:
    from agent.run_removal import Outcome, Plan, Target

RM_HELP = """Delete runs for good: each run's folder in $STROP_HOME (logs, checkpoints, the
evaluator's copies), its worktrees, its index rows, and in its experiment repo its branches
strop/RUN/N, the notes on their commits and its record refs/strop/runs/RUN. `strop reindex`
does not bring a removed run back; the other runs are untouched.

Only strop's own refs of those runs go: never your branches or HEAD, never a commit. An
experiment you adopted stays in your branch's history. The other experiment commits become
unreachable, and git's own gc frees their space in its time (`git -C REPO gc`; unreachable
objects are kept two weeks by default): strop rm never runs it. A repo strop made for a plain
folder (under $STROP_HOME/repos) that is left with no run is removed too. The notes ref keeps
its history (every version of every note, which `strop audit` reads for the runs that stay), so
the removed run's records stay in that history until the repo is rewritten or deleted.

Select runs by name (ids, unique prefixes, `latest`), or by filter: --older-than AGE (by the
run's start: 12h, 30d, 2w), --status (done, stopped, failed, interrupted), or both. A run a strop
process is running is refused, with one line, and the others still go (exit 1 then). A run a
nightly job warm-starts from may go: that job's next night starts cold, from your workspace,
once git no longer holds the commit (said when it applies). Knowledge learned from a run stays.

On a terminal it asks once; elsewhere (cron, scripts) it needs --yes. --dry-run lists what
would go and the bytes it would free, and changes nothing. A removal killed midway is finished
by running the same `strop rm` again.

Examples:  strop rm a1d3f0 9bc2e4      strop rm --older-than 30d --dry-run
           strop rm --older-than 2w --status failed --yes"""


@app.command("rm", help=RM_HELP)
def rm_command(
    run_refs: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="RUN",
            show_default=False,
            help="run ids, unique prefixes, or latest; or use the filters",
        ),
    ] = None,
    older_than: Annotated[
        str | None, typer.Option("--older-than", metavar="AGE", help="runs started longer ago: 12h, 30d, 2w")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help="only runs that ended so: done, stopped, failed or interrupted"),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would go; change nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (needed off a terminal).")] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Also remove a run that says running but has no runner lock (a search, an older strop's run). "
            "A run whose lock a process holds is never removed.",
        ),
    ] = False,
) -> None:
    from agent.errors import UserError
    from agent.home import strop_home
    from agent.run_index import RunIndex
    from agent.run_removal import parse_age, plan, remove, select

    index = RunIndex(strop_home())
    age = parse_age(older_than) if older_than is not None else None
    chosen = select(index, list(run_refs or []), age, status, datetime.now(UTC))
    planned = plan(index, chosen, force=force)
    count = plural(len(planned.targets), "run")
    if planned.targets and not (dry_run or yes or sys.stdin.isatty()):
        raise UserError(
            f"strop rm would delete {count} for good and cannot ask here (no terminal): add --yes "
            "(or --dry-run to see which)"
        )
    for refusal in planned.refused:
        err.print(f"refused: {printable(refusal.reason, one_line=True)}", markup=False)
    for note in planned.notes:
        err.print(f"note: {printable(note, one_line=True)}", markup=False)
    if not planned.targets:
        if not planned.refused:
            out.print("no run matches: nothing to remove", markup=False)
        raise typer.Exit(1 if planned.refused else 0)
    if dry_run or not yes:
        _print_plan(planned, dry_run)
    if dry_run:
        raise typer.Exit(1 if planned.refused else 0)
    if not yes and not typer.confirm(f"delete {count} for good?", default=False):
        err.print("nothing removed", markup=False)
        raise typer.Exit(1)
    outcome = remove(index, planned)
    _print_outcome(outcome)
    if planned.refused or outcome.refused:
        raise typer.Exit(1)


def _describe(target: Target) -> str:
    from agent.run_removal import size_text

    record = target.record
    if record is None:
        return f"run {target.id} (only its folder was left) · {size_text(target.size)}"
    return (
        f"run {target.id} · {printable(record.task, one_line=True)} · {record.status} · started "
        f"{record.started[:16].replace('T', ' ')} · {plural(target.experiments, 'experiment')} · "
        f"{size_text(target.size)}"
    )


def _print_plan(planned: Plan, dry_run: bool) -> None:
    from agent.run_removal import size_text

    verb = "would remove" if dry_run else "will remove"
    for target in planned.targets:
        out.print(f"{verb} {_describe(target)}", markup=False)
    for path in planned.emptied:
        out.print(f"{verb} the repo strop made for a folder, {path} (no run left in it)", markup=False)
    if dry_run:
        out.print(
            f"dry run: nothing changed; removing would free {size_text(planned.size)} in the home "
            "(git's own gc frees their commits later)",
            markup=False,
        )


def _print_outcome(outcome: Outcome) -> None:
    from agent.run_removal import size_text

    for target in outcome.removed:
        out.print(f"removed {_describe(target)}", markup=False)
    for refusal in outcome.refused:
        err.print(f"refused: {printable(refusal.reason, one_line=True)}", markup=False)
    for path in outcome.repos_removed:
        out.print(f"removed the repo strop made for a folder, {path} (no run left in it)", markup=False)
    out.print(f"freed {size_text(outcome.freed)} in the home", markup=False)
    for path in outcome.repos_to_gc:
        out.print(
            f"the removed experiments' git objects stay in {path} until git's own gc frees them "
            f"(`git -C {path} gc`; unreachable objects are kept two weeks by default)",
            markup=False,
        )
