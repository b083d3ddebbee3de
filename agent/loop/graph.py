"""The run loop as one LangGraph `StateGraph`, checkpointed to SQLite, and its driver.

    START → decide ─┬─ stop ─► finish → END    (async lanes still evaluating: stop ─► evaluate first)
                    └─ go ──► select → retrieve → propose → check → commit → evaluate → record
                                          ▲                                              │
                                          └──────────── another turn ◄───────────────────┤
                    decide ◄──────────────────────── learn ◄─────────── attempt done ◄───┘

Checkpoints live in the run folder (`checkpoints.sqlite`), written synchronously after
every node (`durability="sync"`), so a SIGKILL anywhere loses at most the node in
progress, which runs again on `resume` (every node is idempotent, see `nodes`); only the
newest few are kept (`checkpoints`).
The database is in WAL mode with `synchronous=NORMAL`: a commit is in the WAL file
when it returns, so it survives the process being killed; it is not fsynced (the
~18 fsyncs per batch cost 45-80 ms of the driver's serial time at load 3-5). Only a
power cut could roll back the last checkpoints, as it could git's own loose objects
and refs, which git does not fsync by default either; a rolled-back checkpoint is
a crash earlier in the loop, which resume handles the same way.
A runner lock in the run folder keeps two processes off one run; `strop stop`
leaves a `stop` file that the next budget decision reads.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import Timeout

from agent.budget import RunBudget, experiment_cap
from agent.errors import DiskFull, UserError, disk_full, one_line
from agent.executors import ExecutorSpec, open_executor
from agent.executors.cluster import ClusterGone
from agent.loop.events import Note, RunLog, RunStarted, Sink
from agent.loop.interrupts import noticed_interrupts
from agent.loop.lanes import clear_stale_locks
from agent.loop.memory import open_memory
from agent.loop.nodes import LoopContext, Nodes
from agent.loop.state import LoopState, initial_state
from agent.records import ExperimentRecord
from agent.run import Run
from agent.run_index import RunIndex
from agent.search.tree import make_strategy
from agent.space import Space
from agent.task import Task
from evaluators.verdict import Status

CHECKPOINTS = "checkpoints.sqlite"
OVERRIDES = "overrides.json"
STOP = "stop"  # `strop stop`'s request, read at each budget decision (`Nodes.decide`)
STEPS_PER_EXPERIMENT = 16
UNLIMITED_TURN_STEPS = 10**6  # per attempt, under `turns = "unlimited"`: the run's budgets end it


class RunBusyError(UserError):
    """Another process is running this run."""


@dataclass
class Overrides:
    """Command-line budget overrides, kept in the run folder so `resume` honours them."""

    parallel: int | None = None
    experiments: int | None = None
    time: float | None = None
    executor: dict[str, Any] | None = None  # an `agent.executors.ExecutorSpec` as data
    schedule: str | None = None  # batch | async (None: the task's [search] schedule)
    confirm: int | None = None  # re-evaluations of each contender at the end (None: the task's)

    def save(self, folder: Path) -> None:
        (folder / OVERRIDES).write_text(json.dumps(self.__dict__))

    @classmethod
    def load(cls, folder: Path) -> Overrides:
        path = folder / OVERRIDES
        return cls(**json.loads(path.read_text())) if path.exists() else cls()


@dataclass
class LoopResult:
    run_id: str
    status: str
    stop_reason: str
    best: ExperimentRecord | None
    records: list[ExperimentRecord]


def build_graph(nodes: Nodes, checkpointer: Any) -> Any:
    from langgraph.graph import END, START, StateGraph

    graph = StateGraph(LoopState)
    for name in (
        "decide",
        "select",
        "retrieve",
        "propose",
        "check",
        "commit",
        "evaluate",
        "record",
        "learn",
        "finish",
    ):
        graph.add_node(name, getattr(nodes, name))
    graph.add_edge(START, "decide")
    graph.add_conditional_edges(
        "decide", nodes.after_decide, {"finish": "finish", "select": "select", "evaluate": "evaluate"}
    )
    for before, after in (
        ("select", "retrieve"),
        ("retrieve", "propose"),
        ("propose", "check"),
        ("check", "commit"),
        ("commit", "evaluate"),
        ("evaluate", "record"),
    ):
        graph.add_edge(before, after)
    graph.add_conditional_edges("record", nodes.after_record, {"propose": "propose", "learn": "learn"})
    graph.add_edge("learn", "decide")
    graph.add_edge("finish", END)
    return graph.compile(checkpointer=checkpointer)


def _proposer_kind(task: Task) -> str:
    """`auto`: the LLM proposer when [llm] is configured, else evolve."""
    kind = task.spec.proposer.kind
    if kind == "auto":
        kind = "llm" if task.spec.llm is not None else "evolve"
    if kind == "llm" and task.spec.llm is None:
        raise UserError(f"task {task.name}: proposer kind 'llm' needs an [llm] table (base_url, model)")
    return kind


def _check_proposer(task: Task) -> None:
    """What the task's proposer needs from the task file, asked before a run is made of it."""
    if _proposer_kind(task) == "evolve":
        from agent.proposers.evolve import EvolveProposer

        EvolveProposer(task)  # cheap; refuses a task with no [space]
    elif task.spec.llm is not None and task.spec.llm.answers == "params" and not Space.from_task(task):
        raise UserError(f"task {task.name}: [llm] answers = 'params' needs a [space] table")


def _check_turns_bounded(task: Task, time: float | None) -> None:
    """`turns = "unlimited"` needs a time, token or cost budget: the experiments budget counts
    attempts, and an attempt under that policy never ends while its turns fail (a model whose
    edits never apply made 1,775 paid calls in one experiment of a 3-experiment run)."""
    budget = task.spec.budget
    if _proposer_kind(task) != "llm" or budget.turns != "unlimited":
        return
    if time is None and budget.time is None and budget.tokens is None and budget.cost is None:
        raise UserError(
            f'task {task.name}: [budget] turns = "unlimited" needs a time, tokens or cost budget '
            "(--time, or `time`, `tokens` or `cost` in [budget]): experiments count attempts, and an "
            'attempt whose turns keep failing never ends under it; or use turns = "fixed" or "dynamic"'
        )


def make_proposer(task: Task, constraints: Any, index: RunIndex) -> Any:
    """`auto`: the LLM proposer when [llm] is configured (and installed), else evolve."""
    kind = _proposer_kind(task)
    if kind == "llm":
        try:
            from agent.proposers.llm import make_llm_proposer
        except ImportError as error:
            raise UserError(f"the LLM proposer is not available in this install: {error}") from None
        return make_llm_proposer(task, index=index, constraints=constraints)
    from agent.proposers.evolve import EvolveProposer

    return EvolveProposer(task, constraints=constraints)


def make_context(
    run: Run, index: RunIndex, overrides: Overrides, sink: Sink | None, proposer: Any = None
) -> LoopContext:
    from agent.constraints import Rule, constraints_for

    task = run.task
    emit = RunLog(run.folder / "run.log", sink)
    space = Space.from_task(task)
    memory = open_memory(task, index=index, run=run)
    constraints = None
    if task.spec.constraints.rules or memory.exclusions():
        extra: list[Rule] = memory.exclusions()
        constraints = constraints_for(task, space, extra)
    proposer = proposer or make_proposer(task, constraints, index)
    _check_endpoint(proposer, memory)
    multi_turn = getattr(proposer, "multi_turn", proposer.name == "llm")
    budget = RunBudget(
        task.spec.budget, task.spec.constraints.max_rejections, counts_rejections=multi_turn
    ).with_overrides(overrides.experiments, overrides.time)
    budget.final = bool(getattr(task.evaluator, "has_final", False))
    for planner in (proposer, getattr(proposer, "offline", None)):
        if hasattr(planner, "plan_for"):
            planner.plan_for(budget.experiments)
    warm_up = getattr(memory, "warm_up", None)
    if warm_up is not None:  # the embedding model loads off the loop's thread (issue 18)
        # on the time left: a resumed run's budget counts the time it ran before (`strop resume
        # --time 30s` after 29 s was a "58.8s run"; after 100 s it loaded with 30 s left)
        warm_up(None if budget.time is None else max(0.0, budget.time - _elapsed_so_far(run)))
    parallel = overrides.parallel or task.spec.search.parallel
    concurrency = parallel
    if task.spec.llm is not None and task.spec.llm.concurrency is not None:
        concurrency = min(parallel, task.spec.llm.concurrency)
    turns = None
    if multi_turn:
        from agent.turns import TurnPolicy, turn_history

        model = task.spec.llm.model if task.spec.llm is not None else None
        turns = TurnPolicy.from_budget(
            task.spec.budget, turn_history(index, task.name, model), direction=task.evaluator.direction
        )
    planned = (budget.experiments or 1000) + task.spec.constraints.max_rejections
    turn_steps = _turn_steps(turns, task.spec.budget) if turns is not None else 0
    ctx = LoopContext(
        executor=open_executor(executor_spec(task, overrides)),
        run=run,
        proposer=proposer,
        strategy=make_strategy(task.spec.search, proposer.name),
        space=space,
        constraints=constraints,
        budget=budget,
        memory=memory,
        emit=emit,
        parallel=parallel,
        turns=turns,
        max_steps=planned * (STEPS_PER_EXPERIMENT + turn_steps),
        concurrency=concurrency,
        schedule=overrides.schedule or task.spec.search.schedule,
        confirm=overrides.confirm if overrides.confirm is not None else task.evaluator.confirm,
        confirm_top=task.evaluator.confirm_top,
        journal=_journal(run),
    )
    use_journal = getattr(proposer, "use_journal", None)
    if use_journal is not None:  # each model call is reserved on disk before it is sent
        use_journal(ctx.journal)
    emit(Note(memory.describe() if memory.available or not memory.notes else memory.notes.pop(0)))
    if ctx.executor.name != "local":
        emit(Note(f"evaluations run on {executor_spec(task, overrides).describe()}"))
    if ctx.schedule == "async" and parallel > 1:
        emit(Note(f"{parallel} lanes, asynchronous: each lane goes on as soon as its evaluation ends"))
    for text in memory.notes:
        emit(Note(text))
    memory.notes.clear()
    for rule in constraints.rules if constraints else []:
        if rule.origin != "task":
            emit(Note(f"constraints: excluding a failing region ({rule.origin}): {rule.text}"))
    return ctx


def _check_endpoint(proposer: Any, memory: Any) -> None:
    """A model endpoint that does not answer stops the run (new or resumed) before any experiment.

    With the server down, a run burned its experiments on calls that could not succeed, and a
    resume could spend the rest of its budget that way and end `done` (exit 0).
    """
    check = getattr(proposer, "check_endpoint", None)
    if check is None:
        return
    try:
        check()
    except UserError:
        memory.close()  # the run stops here, before the loop's context (which closes it) exists
        proposer.close()
        raise


def _turn_steps(turns: Any, budget: Any) -> int:
    """The loop steps one attempt's turns may take: its policy's real limit (a `p75` limit from
    history may pass `turn_limit`), with every extension; an unlimited policy is bounded by the
    run's time, tokens or cost (`_check_turns_bounded`), not by a step count."""
    if turns.start_limit is None:
        return UNLIMITED_TURN_STEPS
    return 6 * (max(turns.start_limit, budget.turn_limit) + budget.extension * budget.max_extensions)


def executor_spec(task: Task, overrides: Overrides) -> ExecutorSpec:
    """The command line's executor (kept in the run folder), else the task's `[search]` one."""
    chosen = ExecutorSpec.from_dict(overrides.executor)
    if chosen is not None:
        return chosen
    search = task.spec.search
    return ExecutorSpec(search.executor, search.address if search.executor == "ray" else None)


def start_run(
    task: Task,
    home: Path,
    index: RunIndex,
    overrides: Overrides | None = None,
    sink: Sink | None = None,
    proposer: Any = None,
    started: float | None = None,
    base: str | None = None,
    created: Callable[[str], None] | None = None,
) -> LoopResult:
    """Start a new run of `task` and drive it to its end.

    `proposer` replaces the one the task names (any `Proposer`: tests and embedders
    drive the real loop with their own proposer this way). `started` (epoch seconds,
    e.g. `agent.deadline.process_started()`) makes the time budget count from then.
    `base` (a commit-ish) is experiment 0's parent instead of the user's HEAD: a warm start.
    `created` is told the run's id as soon as its record exists, before the loop is set up
    (a Ctrl-C then said "no run was started" of a run that `strop resume` could continue).
    """
    overrides = overrides or Overrides()
    validate_task(task)
    if proposer is None:
        _check_proposer(task)  # before the run exists: resume could not fix it (it keeps the task)
        _check_turns_bounded(task, overrides.time)
    run = Run.start(task, home, index, base=base, prepare=overrides.save)
    if created is not None:
        created(run.record.id)
    return _drive(run, index, overrides, sink, resumed=False, proposer=proposer, started=started)


def resume_run(
    ref: str | None,
    home: Path,
    index: RunIndex,
    sink: Sink | None = None,
    proposer: Any = None,
    more_time: float | None = None,
    experiments: int | None = None,
    started: float | None = None,
    executor: ExecutorSpec | None = None,
) -> LoopResult:
    """Continue a run that was killed or stopped, from its last checkpoint (one an error stopped,
    `FAILED`, as it is: the error was fixed since).

    `executor` replaces the run's executor from now on (e.g. local, after a cluster went away).

    `more_time` gives the run that many more seconds from now (its time budget becomes what
    it has used plus `more_time`); `experiments` sets a new experiment total. With either,
    a run that ended on its budget continues too.
    """
    run = Run.reopen(ref, home, index)
    overrides = Overrides.load(run.folder)
    extend = more_time is not None or experiments is not None
    if run.record.status not in ("running", FAILED) and not extend:
        raise UserError(
            f"run {run.record.id} has already ended ({run.record.status}: {run.record.stop_reason}); "
            "give it more with --time or --experiments"
        )
    # a cut experiment is not done: this stretch evaluates it again (`Nodes.select`)
    unfinished = (Status.PENDING, Status.REJECTED, Status.STOPPED)
    done = sum(1 for record in run.records() if record.status not in unfinished)
    allowed = experiment_cap(
        run.task.spec.budget, overrides.experiments, more_time if more_time is not None else overrides.time
    )
    if more_time is not None and experiments is None and allowed is not None and done >= allowed:
        # more time alone would start, find no experiment left, and stop again at once (exit 0)
        raise UserError(
            f"run {run.record.id} has spent its experiment budget ({done} of {allowed}): more time alone "
            f"runs nothing; give a new total too (--experiments {done + max(1, allowed)} --time …)"
        )
    if proposer is None:
        _check_turns_bounded(run.task, more_time if more_time is not None else overrides.time)
    if more_time is not None:
        overrides.time = _elapsed_so_far(run) + more_time
    if experiments is not None:
        if experiments <= done:
            raise UserError(
                f"run {run.record.id} already has {done} experiments: give a total above that "
                f"(--experiments {done + 1} or more)"
            )
        overrides.experiments = experiments
    if executor is not None:
        overrides.executor = executor.to_dict()
    if extend or executor is not None:
        overrides.save(run.folder)
    if run.record.status != "running":
        run.record.status, run.record.finished = "running", None
        run.record.stop_reason = f"continued after: {run.record.stop_reason}"
        run.save()
    return _drive(run, index, overrides, sink, resumed=True, proposer=proposer, started=started)


def _keep_elapsed(run: Run, seconds: float) -> None:
    """The run's newest checkpoint says it ran `seconds`, when that is more than it says.

    The loop counts its time at each budget decision (`Nodes.decide`), so a run an error stopped
    mid-batch (a key refused after a few good replies, a cluster lost) dropped the seconds since:
    the batch's model calls and evaluations. Its resume then had more time than it was owed
    (`--time 60s`, 40 s run, 10 s counted: the plain resume ran 50 s more). The newest checkpoint
    is written again in place, the elapsed seconds alone changed (its versions and pending writes
    as they were), so the resume goes on from the same step and counts from there. Best effort:
    the error that stopped the run reaches the user whatever happens here.
    """
    path = run.folder / CHECKPOINTS
    if not path.exists():
        return
    from langgraph.checkpoint.sqlite import SqliteSaver

    with contextlib.suppress(sqlite3.Error, OSError):
        connection = sqlite3.connect(str(path), check_same_thread=False)
        try:
            saver = SqliteSaver(connection)
            newest = saver.get_tuple({"configurable": {"thread_id": run.record.id}})
            if newest is None:
                return
            values = newest.checkpoint["channel_values"]
            if float(values.get("elapsed") or 0.0) >= seconds:
                return
            checkpoint = {**newest.checkpoint, "channel_values": {**values, "elapsed": seconds}}
            parent = newest.parent_config or {
                "configurable": {"thread_id": run.record.id, "checkpoint_ns": ""}
            }
            saver.put(parent, checkpoint, newest.metadata, {})
        finally:
            connection.close()


def _elapsed_so_far(run: Run) -> float:
    """Seconds the run has been running, from its last checkpoint (0 before any; with the time
    after it too when an error stopped the run: `_keep_elapsed`)."""
    path = run.folder / CHECKPOINTS
    if not path.exists():
        return 0.0
    from langgraph.checkpoint.sqlite import SqliteSaver

    connection = sqlite3.connect(str(path), check_same_thread=False)
    try:
        saver = SqliteSaver(connection)
        snapshot = saver.get_tuple({"configurable": {"thread_id": run.record.id}})
        values = snapshot.checkpoint["channel_values"] if snapshot else {}
        return float(values.get("elapsed") or 0.0)
    finally:
        connection.close()


def request_stop(ref: str | None, index: RunIndex) -> str:
    """Ask a running run to stop after the experiments in flight; returns the run id.

    A run the index calls running whose runner lock nobody holds was killed: there is nothing
    to stop, and a `stop` file left for it stopped its next `strop resume` at once. Refused
    (exit 2), writing nothing.
    """
    from agent.home import run_dir
    from agent.run import driven

    record = index.find_run(ref)
    if record.status != "running":
        raise UserError(f"run {record.id} is not running ({record.status})")
    folder = run_dir(record.id)
    if driven(folder) is False:
        raise UserError(
            f"run {record.id} is not running (its process is gone): nothing to stop; "
            f"`strop resume {record.id}` continues it"
        )
    (folder / STOP).write_text("stop requested\n")
    return record.id


def _clear_stale_stop(folder: Path, since: int) -> None:
    """Remove a `stop` file written before `since` (the runner lock's mtime, set just before this
    process took the lock): it asked a process that is gone, and would stop this resume at once.

    `request_stop` writes only while the lock is held, so a request meant for this process is
    written after it took the lock, on the same (coarse) file clock: never older than `since`.
    """
    stop = folder / STOP
    with contextlib.suppress(FileNotFoundError):
        if stop.stat().st_mtime_ns < since:
            stop.unlink()


def preflight(task: Task) -> list[str]:
    """The task checked before a run exists: errors raise (`UserError`), oddities come back as notes.

    [space] and [constraints] first, then the files the space is written into, the
    evaluator's commands and the workspace's links that lead out of it (`agent.space.check_files`,
    `agent.task.command_notes`, `agent.workspace_links.link_notes`).
    """
    from agent.space import check_files
    from agent.task import command_notes
    from agent.workspace_links import link_notes

    return [*validate_task(task), *check_files(task), *command_notes(task), *link_notes(task)]


UPFRONT_SECONDS = 1.0
"""The most the up-front check of the rules together may take (their own `timeout` if shorter):
Z3 decides bounded rules in milliseconds, and an undecidable one (a sum of cubes over big ints)
took the whole timeout twice, once in `strop run`'s preflight and once at the run's start."""

_validated: dict[tuple[str, str], list[str]] = {}  # (task path, its text) -> notes: checked once a process


def validate_task(task: Task) -> list[str]:
    """Problems in [space] and [constraints] are the user's, before anything starts.

    Errors raise; what is legal but likely a slip (a default that breaks a rule) comes back
    as notes, which `strop run` prints before the run. A task is checked once a process.
    """
    key = (str(task.path), task.source)
    if key not in _validated:
        _validated[key] = _validate(task)
    return _validated[key]


def _validate(task: Task) -> list[str]:
    from agent.constraints import ConstraintError, constraints_for
    from agent.deadline import Deadline
    from agent.errors import TaskSpecError
    from agent.space import SpaceError
    from agent.task import locate

    try:
        space = Space.from_task(task)
        if not task.spec.constraints.rules:
            return []
        constraints = constraints_for(task, space)
        constraints.deadline = Deadline.after(2 * UPFRONT_SECONDS)  # the check together, then the defaults
        clash = constraints.clash(UPFRONT_SECONDS)
    except SpaceError as error:
        named = re.match(r"\[space\] (?:the `when` conditions of )?([A-Za-z_][A-Za-z0-9_]*)", str(error))
        key = f"space.{named.group(1)}" if named else "space"
        said = str(error).removeprefix("[space] ")
        said = said.removeprefix(f"{named.group(1)}: ") if named else said
        raise TaskSpecError(
            str(task.path), said, line=locate(task.source, tuple(key.split("."))), key=key
        ) from None
    except ConstraintError as error:
        said = [rule for rule in task.spec.constraints.rules if repr(rule) in str(error)]
        raise TaskSpecError(
            str(task.path), str(error), line=_rule_line(task.source, said), key="constraints.rules"
        ) from None
    if clash.rules:
        raise TaskSpecError(
            str(task.path),
            f"no point of [space] satisfies these rules together: {'; '.join(clash.rules)}",
            line=_rule_line(task.source, clash.rules),
            key="constraints.rules",
        )
    undecided = (
        []
        if clash.decided
        else [
            f"Z3 could not tell within {min(UPFRONT_SECONDS, task.spec.constraints.timeout):g}s whether any point "
            "of [space] keeps every [constraints] rule (non-linear rules over wide integer ranges may be "
            "undecidable): each candidate is checked, and one Z3 cannot prove within the rules' timeout is "
            "refused as unproven"
        ]
    )
    return [*undecided, *_default_notes(task, space, constraints)]


def _rule_line(source: str, rules: list[str]) -> int | None:
    """The task file's line of the first of `rules` (one rule a line in a long list), else the
    line of `rules =`: errors about a task file name its line, as `agent.task` does."""
    from agent.task import locate

    start = locate(source, ("constraints", "rules"))
    if start is None:
        return None
    lines = source.splitlines()
    for number in range(start, len(lines) + 1):
        line = lines[number - 1]
        if number > start and line.lstrip().startswith("["):
            break  # the next table: the rules list has ended
        if any(f'"{rule}"' in line or f"'{rule}'" in line for rule in rules):
            return number
    return start


def _default_notes(task: Task, space: Space, constraints: Any) -> list[str]:
    """A note for each rule that a `[space]` default breaks (legal, but likely a slip).

    A params file that leaves a value out gets its default: experiment 0 then runs against
    the rules, and nothing said so before its verdict. Only rules that read a default the
    task writes count: the midpoints strop picks for the others are nobody's choice.
    """
    from agent.constraints import ConstraintError

    point = space.default()
    written = {name for name, spec in task.spec.space.items() if spec.default is not None and name in point}
    if not written:
        return []
    try:
        violated = set(constraints.check(point).violated)
    except (ConstraintError, ValueError):
        return []  # the run's own checks report what a rule cannot decide
    together = ", ".join(f"{name}={json.dumps(value)}" for name, value in point.items())
    notes = []
    for rule in constraints.rules:
        names = sorted(rule.expression.names & written)
        if rule.text not in violated or not names:
            continue
        defaults = ", ".join(f"{name} = {json.dumps(point[name])}" for name in names)
        notes.append(
            f"[space] default {defaults} breaks [constraints] {rule.text} (the defaults together: "
            f"{together}): a params file that leaves {'it' if len(names) == 1 else 'them'} out runs "
            "experiment 0 against the rule; candidates keep to the rules"
        )
    return notes


def _drive(
    run: Run,
    index: RunIndex,
    overrides: Overrides,
    sink: Sink | None,
    resumed: bool,
    proposer: Any = None,
    started: float | None = None,
) -> LoopResult:
    lock = run.runner_lock  # `Run.start` holds it already; a resumed run takes it here
    lock_file = Path(lock.lock_file)
    if resumed:
        lock_file.touch()  # its mtime: what `_clear_stale_stop` compares with (see there)
    try:
        lock.acquire()
    except Timeout:
        raise RunBusyError(f"run {run.record.id} is being run by another process") from None
    if resumed:
        _clear_stale_stop(run.folder, lock_file.stat().st_mtime_ns)
    ctx: LoopContext | None = None
    nodes: Nodes | None = None
    try:
        try:
            ctx = make_context(run, index, overrides, sink, proposer)
        except UserError as error:  # a cluster not reachable, a bad option: the run exists, say which
            _stopped_by(error, run)
            raise
        ctx.started = started
        _count_unrecorded(run, ctx.emit, crashed=True)  # before any call: a resume's budgets see them
        if resumed:
            removed = clear_stale_locks(run.repo, run.record.id)
            if removed:
                ctx.emit(Note(f"removed stale git locks left by a crash: {', '.join(removed)}"))
            run.evaluator()  # from the snapshot taken at the run's start
        else:
            run.evaluator()
        counted_at = time.time()
        elapsed = (_elapsed_so_far(run) if resumed else 0.0) + max(0.0, counted_at - (started or counted_at))

        def ready() -> None:
            ctx.emit(
                RunStarted(
                    run=run.record.id,
                    task=run.task.name,
                    proposer=ctx.proposer.name,
                    strategy=ctx.strategy.name,
                    budget=ctx.budget.note(_usage_so_far(run, ctx.budget, elapsed)),
                    resumed=resumed,
                )
            )

        try:
            nodes = Nodes(ctx)
            with noticed_interrupts():
                _invoke(nodes, run, ctx.max_steps, on_ready=ready)
        except UserError as error:  # a wrong key, model or URL: stop now, resumable once fixed
            _keep_elapsed(run, elapsed + time.time() - counted_at)
            _stopped_by(error, run)
            raise
        except Exception as error:
            if _step_guard(error):  # records the run stopped, resumable, rather than an internal error
                _keep_elapsed(run, elapsed + time.time() - counted_at)
                guard = UserError(f"the loop passed its step guard ({ctx.max_steps} steps): a bug of strop's")
                _stopped_by(guard, run)
                raise guard from None
            if not disk_full(error, places=(Path(run.repo.repo.common_dir), run.folder)):
                raise
            stopped = (
                f"the run stopped: a disk it writes to is full ({one_line(error)}); "
                f"nothing recorded is lost: free some space, then `strop resume {run.record.id}`"
            )
            with contextlib.suppress(OSError):  # the run log is on a full disk too, most likely
                RunLog(run.folder / "run.log")(Note(stopped))
            raise DiskFull(stopped) from error
        ctx.memory.close()  # an ingestion still running stops (issue: `[knowledge] sources` vs --time)
        for text in ctx.memory.notes:
            ctx.emit(Note(text))
        ctx.memory.notes.clear()
        _count_unrecorded(run, ctx.emit, crashed=False)
        records = run.records()
        return LoopResult(
            run.record.id, run.record.status, run.record.stop_reason, run.best(records), records
        )
    finally:
        if nodes is not None:
            nodes.close()
        if ctx is not None:
            with contextlib.suppress(Exception):  # stopped by an error or Ctrl-C: calls no candidate holds
                _count_unrecorded(run, ctx.emit, crashed=False)
            ctx.memory.close()  # never left writing the store while the process exits
            ctx.executor.close()
        lock.release(force=True)


def _step_guard(error: Exception) -> bool:
    from langgraph.errors import GraphRecursionError

    return isinstance(error, GraphRecursionError)


def _journal(run: Run) -> Any:
    from agent.llm.journal import FOLDER, CallJournal

    return CallJournal(run.folder / FOLDER)


def _count_unrecorded(run: Run, emit: Sink, crashed: bool) -> None:
    """Add the model calls still reserved in the run's journal (`agent.llm.journal`) to its record.

    At a start or resume (`crashed`) they are calls a crash cut while in flight; at the run's end,
    calls whose candidate was never saved (an error or Ctrl-C stopped the run while they were
    made). Either way no experiment's record holds them and the endpoint had their prompts: they
    count in the run's totals and budgets (`RunRecord.unrecorded`), a call cut in flight at its
    prompt's estimate, one that had ended at its own count; once: the files go after the record
    holding their sum is saved (a crash in between counts them twice, never not at all).
    """
    journal = _journal(run)
    cost, files = journal.sweep()
    if not files:
        return
    run.record.unrecorded = run.record.unrecorded + cost
    run.save()
    journal.forget(files)
    if not cost.tokens and not cost.usd:
        return  # calls the endpoint refused (by status): counted as calls, with nothing to say
    calls = "1 model call" if cost.calls == 1 else f"{cost.calls} model calls"
    why = (
        "cut by a crash" if crashed else "that no experiment recorded (the run stopped while they were made)"
    )
    usd = f", ${cost.usd:.4f}" if cost.usd else ""
    if cost.completion_tokens == 0 and cost.estimated >= cost.prompt_tokens:
        counted = f"+{cost.prompt_tokens} prompt tokens (estimated{usd})"
    else:  # some of them had ended, with a count of their own, before the crash
        counted = (
            f"+{cost.tokens} tokens ({cost.prompt_tokens} prompt + {cost.completion_tokens} completion, "
            f"{cost.estimated} estimated{usd})"
        )
    emit(
        Note(
            f"{counted} of {calls} {why} added to the run's total; completion tokens of a call cut "
            "in flight are unknown, not counted"
        )
    )


FAILED = "failed"
"""A run's status once an error the user fixes stopped it (a wrong key, model or URL, a lost
cluster): it has ended, with why in its stop reason, and `strop resume` continues it as it is."""


def _record_failure(run: Run, reason: str) -> None:
    """The run's record says it stopped and why (`FAILED`, the error's line as its stop reason).

    Left `running`, such a run read as killed or crashed in `strop runs` and `strop log`, the
    reason only a note in its run.log. Best effort: when the record cannot be written (git
    broken, disk full), the error that stopped the run still reaches the user.
    """
    from agent.records import now_iso

    run.record.status = FAILED
    run.record.stop_reason = " ".join(reason.split())
    run.record.finished = now_iso()
    with contextlib.suppress(Exception):
        run.save()


def _stopped_by(error: UserError, run: Run) -> None:
    """Record the run as failed by `error`, with what to do next, in its log and in the error's own
    line (the screen, --json and --quiet all show it). A cluster that could not be reached left
    a run "interrupted", with 0 experiments and no word of it, at every try."""
    advice = _resume_advice(error, run.record.id)
    stopped = f"the run stopped: {error}; {advice}"
    with contextlib.suppress(OSError):
        RunLog(run.folder / "run.log")(Note(stopped))
    _record_failure(run, f"{error}; {advice}")
    error.args = (stopped,)  # same type: callers may tell a cluster gone from a bad key


def _resume_advice(error: UserError, run_id: str) -> str:
    """What the user does next: a lost cluster needs no fix, only a resume (here or on a new one)."""
    if isinstance(error, ClusterGone):
        return (
            f"the evaluations in flight stay pending: `strop resume {run_id}` continues them "
            "(add --executor local to finish on this machine)"
        )
    return f"fix it, then `strop resume {run_id}`"


def _invoke(nodes: Nodes, run: Run, max_steps: int, on_ready: Any = None) -> None:
    from agent.loop.checkpoints import PrunedSaver

    connection = sqlite3.connect(str(run.folder / CHECKPOINTS), check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")  # survives a SIGKILL: see the docstring
    try:
        saver = PrunedSaver(connection)
        graph = build_graph(nodes, saver)
        config = {"configurable": {"thread_id": run.record.id}, "recursion_limit": max_steps + 100}
        snapshot = graph.get_state(config)
        continuing = snapshot.values.get("finished") and run.record.status == "running"
        if snapshot.values.get("finished") and not continuing:
            return  # the graph already ended
        if on_ready is not None:
            on_ready()
        # `snapshot.next` is no guide: a node that finished just before a crash leaves its
        # writes pending on the last checkpoint and no next node; invoking with None
        # applies them and goes on. A run given more budget starts again at `decide`,
        # its counters carried over.
        start = None if snapshot.values else initial_state(run.record.id)
        if continuing:
            start = {**snapshot.values, "finished": False, "stop_reason": "", "slots": []}
        graph.invoke(start, config, durability="sync")
    finally:
        connection.close()


def _usage_so_far(run: Run, budget: RunBudget, elapsed: float) -> Any:
    """What a (resumed) run has used before this stretch: its recorded experiments and time.

    Counted as the loop counts them (rejected attempts too when the budget says so), so a
    resumed run's banner says how many experiments are really left: those the time budget
    cut (`stopped`) are not done, this stretch evaluates them again (`Nodes.select`).
    """
    from agent.budget import Usage

    skip = (Status.PENDING, Status.STOPPED)
    if not budget.counts_rejections:
        skip = (*skip, Status.REJECTED)
    done = sum(1 for record in run.records() if record.status not in skip)
    return Usage(experiments=done, elapsed=elapsed)
