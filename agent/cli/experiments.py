"""`strop eval`, `runs`, `log`, `show`, `adopt`, `reindex`: experiments and their records.

Read commands answer from the run index (no git, no heavy imports) so they start fast.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agent.cli import app
from agent.cli.render import (
    clip,
    err,
    escape,
    out,
    plural,
    print_json,
    print_table,
    print_whole,
    printable,
    safe,
    styled_status,
)

if TYPE_CHECKING:
    from agent.experiments import RunNotes
    from agent.records import ExperimentRecord
    from agent.run_index import RunIndex

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of tables.")]


def _index() -> Any:
    from agent.home import strop_home
    from agent.run_index import RunIndex

    return RunIndex(strop_home())


def _status_counts(records: Any) -> str:
    """The attempts a run recorded by status, and in all: "1 ok, 50 rejected (51 attempts)"."""
    counts: dict[str, int] = {}
    for record in records:
        counts[str(record.status)] = counts.get(str(record.status), 0) + 1
    ordered = sorted(counts.items(), key=lambda item: (item[0] != "ok", item[0]))
    return ", ".join(f"{n} {status}" for status, n in ordered) + f" ({plural(len(records), 'attempt')})"


def _metric_text(record: Any, metric: str) -> str:
    """The measurement, and the mean a confirmation judged it by (the ★ goes by the mean then)."""
    from agent.records import measured_text

    return measured_text(record, metric)


@app.command("eval")
def eval_command(
    task_path: Annotated[Path, typer.Argument(metavar="TASK", help="task.toml, or a folder holding one")],
    json_out: JsonFlag = False,
) -> None:
    """Evaluate the workspace as it is: experiment 0 of a new run.

    Checks the task file, creates the run (a branch strop/<run>/0 in the experiment
    repo), runs the evaluator in the sandbox and records the verdict in git.
    Then scores the hidden test (`final`, `final_private`) on it once, if the task has
    one, as a run does on its best: each `strop eval` reads the hidden answers again, so
    tune by hand on the validation score, not on that one.

    Example:  strop eval benchmarks/tasks/digits-gbm --json
    """
    from agent.home import strop_home
    from agent.loop.graph import preflight
    from agent.run import Candidate, Run
    from agent.task import load_task

    task = load_task(task_path)
    for note in preflight(task):
        err.print(f"note: {note}", markup=False)
    index = _index()
    run = Run.start(task, strop_home(), index)
    if not json_out:
        # the task's name and the workspace's path are the user's text: `ws[/x]` is a folder, not markup
        where = f"task {safe(task.name, one_line=True)} · repo {safe(run.repo.path, one_line=True)}"
        out.print(f"run [bold]{run.record.id}[/] · {where}")
    with _stopped_by_signals(run.record.id), err.status("evaluating experiment 0 …"):
        record = run.commit_candidate(
            0, None, Candidate(idea="baseline: the workspace as it is", proposer="baseline")
        )
        record = run.evaluate(record)
        best = run.finish("done")
    if best is not None and best.id == record.id:
        record = best
    if json_out:
        print_json({"run": run.record.id, "experiment": record.to_dict()})
    else:
        _print_eval(record, run, task.evaluator.metric)
    if record.status != "ok":
        from agent.errors import UserError

        reason = printable(record.reason, one_line=True)  # it quotes the scorer's metric names
        raise UserError(f"the evaluator failed on the workspace as it is ({record.status}): {reason}")


@contextlib.contextmanager
def _stopped_by_signals(run_id: str) -> Iterator[None]:
    """Ctrl-C, SIGTERM or SIGHUP stop the evaluation in flight (its container or sandbox with it)
    and say so in one line; SIGTERM and SIGHUP then end the process by that signal. Without
    this, `strop eval` died at once on SIGTERM with no word, its docker container running on."""
    import signal

    from agent.loop.interrupts import end_by, received, stop_signals

    try:
        with stop_signals():
            yield
    except KeyboardInterrupt:
        err.print(f"interrupted: run {run_id} stopped before experiment 0 was scored", markup=False)
        signum = received()
        if signum is not None and signum != signal.SIGINT:
            end_by(signum)
        raise typer.Exit(130) from None


def _print_eval(record: Any, run: Any, metric: str) -> None:
    name = safe(metric, one_line=True)
    out.print(
        f"experiment {record.name}: {styled_status(record.status)}  {name} = {_metric_text(record, metric)}"
    )
    if record.reason:
        out.print(f"  reason: {safe(record.reason, one_line=True)}")
    if record.final_metrics:
        value = record.final_metrics.get(metric)
        shown = f"{value:.6g}" if isinstance(value, int | float) else "—"  # as the validation score is
        out.print(f"  final (hidden test): {name} = {shown}")
    out.print(
        f"  branch {record.branch} · {record.eval_seconds:.2f}s · sandbox {safe(record.backend or '—', one_line=True)}"
    )
    out.print(f"next: strop log {run.record.id}   ·   strop show {record.name}")


@app.command("runs")
def runs_command(json_out: JsonFlag = False) -> None:
    """List runs, oldest first, with their status and best score.

    Example:  strop runs --json | python -m json.tool
    """
    index = _index()
    runs = index.runs()
    if json_out:
        print_json([_run_summary(index, run) for run in runs])
        return
    if not runs:
        out.print("no runs yet: start one with `strop eval TASK` or `strop run TASK`")
        return
    from rich.table import Table

    summaries = [_run_summary(index, run) for run in runs]
    with_llm = any(summary["cost"]["calls"] for summary in summaries)
    columns = ["run", "task", "status", "started", "experiments", "best"]
    table = Table(*columns, *(["LLM tokens · $ · calls"] if with_llm else []))
    for run, summary in zip(runs, summaries, strict=True):
        best = summary["best"]
        best_text = "—" if best is None else f"{best['id']}: {safe(run.metric)} = {best['value']:.6g}"
        cost = summary["cost"]
        llm = f"{cost['tokens']} · ${cost['usd']:.4f} · {cost['calls']}" if cost["calls"] else "—"
        row = [
            run.id,
            printable(run.task),
            "interrupted" if summary["interrupted"] else run.status,
            run.started[:16].replace("T", " "),  # to the minute: room for the best score
            str(summary["experiments"]),
            best_text,
        ]
        table.add_row(*row, *([llm] if with_llm else []))  # an LLM column of dashes only squeezes the rest
    print_table(table)
    for run in runs:  # why a run failed is the first thing to know about it, and not a crash
        if run.status == "failed" and run.stop_reason:  # an error stopped it (`agent.loop.graph.FAILED`)
            out.print(f"{run.id} failed: {safe(run.stop_reason, one_line=True)}")


def _run_cost(records: Any, run: Any = None) -> Any:
    """The run's LLM totals: tokens (estimated part), dollars, calls, retries, timeouts; with `run`,
    the calls a crash cut while in flight too (`RunRecord.unrecorded`: no experiment holds them)."""
    from agent.records import run_cost

    return run_cost(records, run)


def _interrupted(index: Any, run: Any) -> bool:
    """Whether a run the index calls "running" has no process driving it (killed, Ctrl-C).

    The index keeps saying "running" after a kill; `strop runs` and `strop log` would echo
    that, while the report and the UI already say "interrupted" (`agent.report.data`).
    """
    from agent.report.data import is_interrupted

    return is_interrupted(run, index.home)


def _run_summary(index: Any, run: Any) -> dict[str, Any]:
    from agent.records import judged_value
    from agent.search_summary import search_best

    records = index.experiments(run.id)
    best = search_best(index.home, run, records)
    cost = _run_cost(records, run)
    return {
        "cost": {**cost.__dict__, "tokens": cost.tokens},
        "id": run.id,
        "task": run.task,
        "status": run.status,
        "stop_reason": run.stop_reason,
        "interrupted": _interrupted(index, run),
        "started": run.started,
        "finished": run.finished,
        "metric": run.metric,
        "direction": run.direction.value,
        "experiments": len(records),
        "best": None if best is None else {"id": best.id, "value": judged_value(best, run.metric)},
    }


@app.command("log")
def log_command(
    run_ref: Annotated[
        str | None, typer.Argument(metavar="[RUN]", help="run id or prefix; default: latest")
    ] = None,
    json_out: JsonFlag = False,
    everything: Annotated[
        bool, typer.Option("--all", help="draw every experiment, however many (default: past 60, a summary)")
    ] = False,
    newest: Annotated[
        int, typer.Option("--newest", min=1, help="past 60 experiments: how many of the newest to draw")
    ] = 30,
) -> None:
    """Show a run's experiment tree: status and metric of each attempt, the best marked ★.

    Past 60 experiments it draws the line to the best and the newest 30 (with their
    parents) and says how many it left out under each; --all draws every one.

    Example:  strop log latest --all   (or a run id prefix: strop log a1d)
    """
    from agent.cli.tree_view import LIMIT, tree_view
    from agent.records import judged_value
    from agent.search_summary import search_best

    index = _index()
    run = index.find_run(run_ref)
    records = index.experiments(run.id)
    best = search_best(index.home, run, records)
    interrupted = _interrupted(index, run)
    if json_out:
        print_json(
            {
                **run.to_dict(),
                "interrupted": interrupted,
                "cost": {**_run_cost(records, run).__dict__, "tokens": _run_cost(records, run).tokens},
                "best": best.id if best else None,
                "experiments": [
                    {**record.to_dict(), "judged_value": judged_value(record, run.metric)}
                    for record in records
                ],
            }
        )
        return
    from rich.tree import Tree

    status = "interrupted" if interrupted else run.status
    title = f"run [bold]{run.id}[/] · {safe(run.task)} · {run.direction.value} {safe(run.metric)} · {status}"
    tree = Tree(title)
    nodes: dict[int | None, Any] = {None: tree}
    view = tree_view(
        records, best.id if best else None, newest=newest, limit=len(records) if everything else LIMIT
    )
    for record in records:
        if record.id not in view.shown:
            continue
        mark = " [bold yellow]★ best[/]" if best and record.id == best.id else ""
        line = f"{record.id} {styled_status(record.status)} {_metric_text(record, run.metric)}{mark}  {safe(clip(record.idea, 70), one_line=True)}"
        if record.proposer:  # which proposer made it, and how the LLM was asked (text, structured, params)
            line += f"  [dim]\\[{safe(record.proposer)}{'/' + safe(record.mode) if record.mode else ''}][/]"
        if record.reason and record.status != "ok":
            line += f"  [dim]({safe(clip(record.reason, 80), one_line=True)})[/]"
        for decision in record.decisions:
            line += f"\n[dim]· {safe(decision)}[/]"
        nodes[record.id] = nodes.get(record.parent, tree).add(line)
    for anchor, count in view.hidden_under.items():
        nodes.get(anchor, tree).add(
            f"[dim]… {plural(count, 'more experiment')} (strop log {run.id} --all)[/]"
        )
    print_whole(tree)
    if view.hidden(len(records)):
        out.print(
            f"[dim]drawn: {len(view.shown)} of {len(records)} experiments, the line to the best and "
            f"the newest {newest} with their parents; --all draws every one[/]"
        )
    if run.stop_reason:
        out.print(f"{'failed' if run.status == 'failed' else 'stopped'}: {safe(run.stop_reason)}")
    if interrupted:
        from agent.report.data import interrupted_note

        out.print(interrupted_note(run.id), markup=False)
    if records:
        out.print(f"experiments: {_status_counts(records)}")
    if run.budget_report:
        out.print(f"budget: {safe(run.budget_report)}")
    total = _run_cost(records, run)
    if total.calls:
        out.print(f"LLM: {escape(total.describe())}")
    if best is not None:
        out.print(f"best: {best.name} ({best.branch}) · adopt it with: strop adopt {best.name}")


@app.command("show")
def show_command(
    exp_ref: Annotated[
        str,
        typer.Argument(metavar="EXP", help="RUN/N, strop/RUN/N, RUN/best, or N (or best) in the latest run"),
    ],
    json_out: JsonFlag = False,
) -> None:
    """Show one experiment: idea, parent, verdict, metrics, diff stat and log tail.

    Example:  strop show latest/best   (or RUN/7, or a branch strop/RUN/7)
    """
    from agent.experiments import ExperimentRepo
    from agent.home import log_place, strop_home

    index = _index()
    run, record = index.find_experiment(exp_ref)
    repo = ExperimentRepo.open(Path(run.repo), strop_home())
    parents = [r for r in index.experiments(run.id) if r.id == record.parent]
    base = parents[0].commit if parents else run.base_commit
    stat = repo.diff(base, record.commit, stat=True)
    earlier = _earlier_turns(repo, record)
    # an attempt whose last turn was not evaluated (its answer held no code, say) shows the log of
    # the last turn that was: the record itself names none, as its commit never ran
    logged = record if record.log_path else next((t for t in reversed(earlier) if t.log_path), None)
    log = str(log_place(strop_home(), logged.log_path)) if logged is not None else ""
    log_tail = _log_tail(log)
    if json_out:
        print_json(
            {
                **record.to_dict(),
                "diffstat": stat,
                "log_tail": log_tail,
                "log_tail_turn": logged.turns if logged is not None else None,
                "earlier_turns": [_turn_summary(turn) for turn in earlier],
            }
        )
        return
    out.print(f"[bold]{record.name}[/] · {record.branch} · {record.commit[:12]}")
    out.print(f"parent: {record.parent if record.parent is not None else _start_of(run)}")
    out.print(
        f"status: {styled_status(record.status)}"
        + (f" — {safe(record.reason, one_line=True)}" if record.reason else "")
    )
    out.print(f"idea: {_indented(safe(record.idea), '      ')}")
    if record.metrics:
        out.print(
            "metrics: "
            + ", ".join(f"{safe(k, one_line=True)} = {v:.6g}" for k, v in sorted(record.metrics.items()))
        )
    if record.final_metrics:
        out.print(
            "final (hidden test): "
            + ", ".join(
                f"{safe(k, one_line=True)} = {v:.6g}" for k, v in sorted(record.final_metrics.items())
            )
        )
    if record.confirmations:
        from agent.confirmation import summarise

        out.print(f"confirmation: {safe(summarise(record, run.metric).describe(run.metric))}")
        for number, confirmation in enumerate(record.confirmations, start=1):
            value = confirmation.value(run.metric)
            said = f"{value:.6g}" if value is not None else f"{confirmation.status} {confirmation.reason}"
            out.print(
                f"  {number}: {safe(said)} ({confirmation.seconds:.2f}s, {safe(confirmation.log_path)})"
            )
    if record.cost.calls:
        out.print(f"cost: {escape(record.cost.describe())}")
    if record.log_path or record.eval_seconds or record.backend:
        out.print(
            f"evaluated in {record.eval_seconds:.2f}s on {safe(record.backend or '—')} · evaluator {record.fingerprint[:12]}"
        )
    else:
        out.print(f"not evaluated{f' (turn {record.turns})' if record.turns > 1 else ''}")
    for turn in earlier:
        out.print(f"turn {turn.turns}: {_turn_line(turn, run.metric, strop_home())}")
    for decision in record.decisions:
        out.print(f"· {safe(decision)}")
    out.print("[bold]diff[/]\n" + safe(stat or "(no change)"))
    if log_tail:
        of = f"turn {logged.turns}, " if logged is not record and logged is not None else ""
        out.print(f"[bold]log tail[/] ({of}{safe(log)})")
        out.print(printable(log_tail), markup=False)


def _indented(text: str, margin: str) -> str:
    """`text`'s lines after the first, each behind `margin`: an idea's own lines stay in its block.

    An LLM's idea is several lines; unindented, a line "status: ok" or "★ best of run" in it
    read as the view's own: none of its lines starts at the left edge (blank ones are kept).
    """
    first, *rest = text.split("\n")
    return "\n".join([first, *(f"{margin}{line}" if line.strip() else "" for line in rest)])


def _earlier_turns(repo: Any, record: ExperimentRecord) -> list[ExperimentRecord]:
    """The attempt's earlier turns, oldest first, as their commits' notes hold them: each turn's
    commit is made on the one before, whose note keeps that turn's verdict and log. Stops at the
    first commit whose note is missing, unreadable or not this attempt's turn before."""
    from agent.records import NotARecord

    found: list[ExperimentRecord] = []
    commit = record.commit
    for turn in range(record.turns - 1, 0, -1):
        parent = repo.git.rev_parse("--verify", "--quiet", f"{commit}^1", with_exceptions=False).strip()
        if not parent:
            break
        try:
            note = repo.read_note(parent)
        except NotARecord:
            break
        if note is None or (note.run, note.id, note.turns) != (record.run, record.id, turn):
            break
        found.insert(0, note)
        commit = parent
    return found


def _turn_summary(turn: ExperimentRecord) -> dict[str, Any]:
    """An earlier turn's verdict for `show --json`."""
    keys = ("turns", "commit", "status", "reason", "metrics", "eval_seconds", "backend", "log_path")
    data = turn.to_dict()
    return {("turn" if key == "turns" else key): data[key] for key in keys}


def _turn_line(turn: ExperimentRecord, metric: str, home: Path) -> str:
    """An earlier turn in one line: its verdict, where it ran and its log (this home's copy of it)."""
    from agent.home import log_place

    said = styled_status(turn.status)
    if metric in turn.metrics:
        said += f" {safe(metric, one_line=True)} = {turn.metrics[metric]:.6g}"
    if turn.reason:
        said += f" — {safe(turn.reason, one_line=True)}"
    if turn.log_path or turn.eval_seconds:
        said += f" · evaluated in {turn.eval_seconds:.2f}s on {safe(turn.backend or '—', one_line=True)}"
    if turn.log_path:
        said += f" · log {safe(str(log_place(home, turn.log_path)), one_line=True)}"
    return said


def _start_of(run: Any) -> str:
    """Where experiment 0 came from: the workspace's branch, or the commit the run was given."""
    if run.base_given:
        return f"commit {run.base_commit[:10]} (the run's given start, not {run.base_branch} as it is)"
    return f"the workspace ({run.base_branch})"


def _log_tail(path: str, chars: int = 2000) -> str:
    """The log's end as a terminal left it, with hidden characters (a right-to-left override,
    ANSI escapes a candidate printed) shown as escapes rather than obeyed by this terminal."""
    from agent.report.text import log_text, read_tail, visible

    return visible(log_text(read_tail(path))[-chars:])


@app.command("adopt")
def adopt_command(
    exp_ref: Annotated[
        str,
        typer.Argument(metavar="EXP", help="RUN/N, strop/RUN/N, RUN/best, or N (or best) in the latest run"),
    ],
    squash: Annotated[bool, typer.Option("--squash", help="One squashed commit instead of a merge.")] = False,
    allow_config_files: Annotated[
        bool,
        typer.Option(
            "--allow-config-files",
            help="Adopt even when the experiment changes files that run code (.pre-commit-config.yaml, .github/…).",
        ),
    ] = False,
) -> None:
    """Bring an experiment into your branch (a merge, or --squash); refuses on a dirty tree.

    For a workspace that is a plain folder, the experiment's files are written into it. An
    experiment that changes a file making tools run code on your machine or CI (git hooks and
    attributes, pre-commit, CI workflows, .envrc, .vscode/) is refused without --allow-config-files.

    Example:  strop adopt latest/best --squash
    """
    from agent.adoption import adopt
    from agent.experiments import ExperimentRepo
    from agent.home import strop_home

    index = _index()
    run, record = index.find_experiment(exp_ref)
    repo = ExperimentRepo.open(Path(run.repo), strop_home())
    done = adopt(repo, record, squash=squash, allow_config_files=allow_config_files)
    if not record.status.scored:  # legal (the user asked for it), but it adopted a buggy one silently
        why = f": {printable(record.reason, one_line=True)[:200]}" if record.reason else ""
        err.print(
            f"note: experiment {record.name} was never scored ({record.status.value}{why})", markup=False
        )
    out.print(printable(done), markup=False)  # it names the workspace and the files written: not markup


@app.command("reindex")
def reindex_command() -> None:
    """Rebuild the run index from git alone (the notes and refs in each known experiment repo).

    Example:  strop reindex   (then strop runs)
    """
    from agent.experiments import ExperimentRepo
    from agent.home import strop_home
    from agent.run_index import RunIndex

    index = RunIndex(strop_home(), rebuild=True)
    if index.moved_aside is not None:
        err.print(
            f"the run index was damaged: moved aside to {printable(index.moved_aside, True)}", markup=False
        )
    runs, experiments = [], []
    for path in index.known_repos():
        if not (path / ".git").exists():
            err.print(f"skipping {printable(path, one_line=True)}: no longer a git repo", markup=False)
            continue
        repo = ExperimentRepo.open(path, strop_home())
        for run in repo.read_runs():
            runs.append(run)
            notes = repo.read_notes(run.id)
            experiments.extend(notes.records)
            experiments.extend(_kept_copies(index, notes))
    index.replace_all(runs, experiments)
    out.print(
        f"reindexed {plural(len(runs), 'run')}, {plural(len(experiments), 'experiment')} "
        f"from {plural(len(index.known_repos()), 'repo')}"
    )


def _kept_copies(index: RunIndex, notes: RunNotes) -> list[ExperimentRecord]:
    """The index's records of the experiments whose note is not a record, each said in one line.

    Rebuilding the index from git alone would drop them: what the index held, it keeps (maybe
    the only copy of a note edited since), and nothing is made up for the others.
    """
    indexed = {record.id: record for record in index.experiments(notes.run)} if notes.unreadable else {}
    kept = []
    for note in notes.unreadable:
        copy = indexed.get(note.number) if note.number is not None else None
        if copy is not None:
            kept.append(copy)
        done = "the index keeps its copy" if copy is not None else "not indexed"
        err.print(f"warning: {note.describe()}: {done}; `strop audit {notes.run}` says more", markup=False)
    return kept
