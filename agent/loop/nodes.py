"""The nodes of the run loop. Each one is idempotent: run twice, it does the work once.

LangGraph re-runs the node that was interrupted by a crash, from the last checkpoint.
So every node first looks at what already exists (a candidate file for this turn, a
commit whose note says this turn, a verdict already recorded) and only does what is
missing. Git is the truth for experiments; the state only says which are in flight.

    decide   → stop (finish) or go on (select)         run budgets, `strop stop`
    select   → parents and modes for K lanes            search strategy
    retrieve → context for each lane's proposer        knowledge seam
    propose  → one candidate file per lane and turn     proposer
    check    → constraints (Z3): pass, repair or reject
    commit   → the candidate on branch strop/<run>/<exp> (a further commit for turn > 1)
    evaluate → the evaluator in the sandbox, lanes in parallel
    record   → verdicts and turn decisions in the records; another turn goes back to propose
    learn    → lessons (knowledge seam); the batch is done
    finish   → confirmation (`[evaluator] confirm`): the contenders measured again;
               hidden-test `final` on the best, lanes removed, run record closed

Time: the run's time budget becomes one deadline (`agent.loop.stretch`): LLM calls and
evaluations end by the search deadline, which keeps the confirmation's and the `final`
phase's reserves free; confirmations end by the deadline less the `final` reserve, and
`final` itself ends by the run's deadline. A resume is a stretch of its own. With `parallel`
lanes and an LLM proposer, the lanes' model calls run at once (up to `[llm] concurrency`), each
holding its worst case from the token and cost budgets left before it is sent (`agent.allowance`).

Schedules (`[search] schedule`, `--schedule`): `batch` (the default) runs the lanes in
lock-step, each batch waiting for its slowest evaluation, so a seeded run records the same
experiments on every executor. `async` keeps every lane busy: `evaluate` dispatches what is
committed and returns as soon as one evaluation ends; that lane is recorded and learned from
and a new experiment is selected, proposed and committed for it while the others are still
evaluating (their slots stay `committed`, their futures live in `Nodes`, not in the
checkpoint). The driver's serial work and the batch's wait for its slowest lane then overlap
other lanes' evaluations; the price is that proposals depend on which evaluation ended first.
After a crash, `committed` slots with no future are dispatched again, as in `batch`.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from agent.atomic_file import write_atomically
from agent.budget import (
    RunBudget,
    Usage,
    overrun,
)
from agent.constraints import Constraints
from agent.deadline import Deadline
from agent.errors import UnreadableRecord, UserError
from agent.executors import EvaluationJob, Executor, LocalExecutor
from agent.loop.broken_start import broken_start
from agent.loop.candidates import candidate_path, load_candidate, save_candidate
from agent.loop.events import (
    EvaluationStarted,
    ExperimentFinished,
    ExperimentStarted,
    Note,
    ProposalAsked,
    RunStopped,
    Sink,
)
from agent.loop.interrupts import raise_if_interrupted
from agent.loop.memory import LoopMemory
from agent.loop.state import LoopState, Slot, new_slot
from agent.loop.stretch import Stretch
from agent.proposers.base import ProposalRequest, Proposer
from agent.records import ExperimentRecord, NotARecord
from agent.run import Candidate, Run, UnsafePathError, safe_path, write_files
from agent.search.tree import Node, Strategy
from agent.space import Space
from evaluators.verdict import Status, Verdict

BASELINE_IDEA = "baseline: the workspace as it is"


def baseline_idea(run: Any) -> str:
    """Experiment 0's idea: the workspace as it is, or the commit the run was given to start from
    (a nightly's warm start is last night's best: it read "the workspace as it is", which it is not)."""
    if getattr(run, "base_given", False):
        return f"baseline: commit {run.base_commit[:10]}, the start this run was given (not {run.base_branch} as it is)"
    return BASELINE_IDEA


RECUT = "recut"  # a slot's `turn_state` key: the cut verdict's time, on a slot that evaluates it again
FIRST_KNOWLEDGE_GUESS = 15.0  # seconds the first real knowledge call may take (it loads the embedder)


@dataclass
class LoopContext:
    """The collaborators the nodes use: none of them is in the checkpointed state."""

    run: Run
    proposer: Proposer
    strategy: Strategy
    space: Space
    constraints: Constraints | None
    budget: RunBudget
    memory: LoopMemory
    emit: Sink
    parallel: int = 1
    turns: Any = None  # agent.turns.TurnPolicy, for proposers that work in turns
    max_steps: int = 100_000
    clock: Callable[[], float] = time.monotonic
    concurrency: int = 1  # model calls at once across lanes (LLM proposers)
    started: float | None = None  # epoch seconds the command started; None: when the loop starts
    executor: Executor = field(default_factory=LocalExecutor)  # where evaluations run (agent.executors)
    schedule: str = "batch"  # batch: lanes in lock-step; async: each lane goes on when it is done
    confirm: int = 0  # re-evaluations of each contender at the search's end (`agent.confirmation`)
    confirm_top: int = 3  # how many leading experiments are contenders (experiment 0 always is)
    journal: Any = None  # agent.llm.journal.CallJournal: the model calls in flight, reserved on disk

    @property
    def folder(self) -> Path:
        return self.run.folder

    @property
    def metric(self) -> str:
        return self.run.record.metric


class Nodes:
    def __init__(self, ctx: LoopContext) -> None:
        self.ctx = ctx
        self._knowledge_seconds: list[float] = []  # how long knowledge calls took in this process
        # async schedule: evaluations in flight, by (experiment, turn), with the record they conclude
        self._flight: dict[tuple[int, int], tuple[Future[Verdict], ExperimentRecord]] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._copies: dict[int, tuple[ExperimentRecord, ExperimentRecord]] = {}  # see `_records`
        stored = ctx.run.stored_records()
        self.stretch = Stretch(ctx, stored)  # this stretch's clock, deadlines and reserves
        # the newest experiment before this stretch: a time refusal there is not this stretch's
        self._before = max((r.id for r in stored), default=-1)
        self._unsent = ""  # why a new attempt's model call was not sent (`_without_unsent`): the run stops

    def close(self) -> None:
        """Let go of the async evaluations' threads (nothing is in flight after `finish`)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    # ---------------------------------------------------------------- helpers
    def _records(self) -> dict[int, ExperimentRecord]:
        """Copies of the run's records, each made once per version of its record.

        Every node reads every record: a copy of all of them per node was 9 copies of the run
        per experiment, 0.26 s of the driver's time an experiment at 2,000 (O(n²) a run).
        Nodes share the copies until a record changes, so no node changes one in place
        (`dataclasses.replace` and `Run.save_record` make new ones).
        """
        raise_if_interrupted()  # every node reads the records first: a dropped Ctrl-C stops here
        copies: dict[int, tuple[ExperimentRecord, ExperimentRecord]] = {}
        for stored in self.ctx.run.stored_records():
            kept = self._copies.get(stored.id)
            copies[stored.id] = kept if kept is not None and kept[0] is stored else (stored, stored.copy())
        self._copies = copies
        return {exp: copy for exp, (_, copy) in copies.items()}

    def _usage(self, state: LoopState, records: dict[int, ExperimentRecord], elapsed: float) -> Usage:
        counted = (
            (Status.PENDING,) if self.ctx.budget.counts_rejections else (Status.PENDING, Status.REJECTED)
        )
        # an experiment the time budget cut and this stretch evaluates again counts once that is done:
        # a run whose experiment budget the cut one filled would end on resume without evaluating it
        evaluated = [r for r in records.values() if r.status not in counted and not self.stretch.recut(r)]
        # and the calls a crash cut while in flight: no record holds them, the endpoint billed them
        cost = sum((r.cost for r in records.values()), self.ctx.run.record.unrecorded)
        rejected = [r for r in records.values() if r.status is Status.REJECTED]
        last = max(rejected, key=lambda r: r.id).reason if rejected else ""
        out_of_time = bool(self.stretch.cannot_finish(records, self.stretch.deadlines(state, records)[0]))
        return Usage(
            experiments=len(evaluated),
            elapsed=elapsed,
            tokens=cost.tokens,
            cost=cost.usd,
            rejections_in_a_row=state["rejections"],
            stop_requested=(self.ctx.folder / "stop").exists(),
            last_rejection=last,
            out_of_time=out_of_time,
            unaffordable=self._unsent or _unaffordable(records, self._before),
            before=self.stretch.base or 0.0,
            short=self.stretch.too_short(records, elapsed)
            if out_of_time and not self.stretch.decided
            else "",
        )

    def limits(self, state: LoopState) -> Any:
        """What the next model call may use: the search deadline, and the tokens and dollars left."""
        from agent.allowance import Allowance
        from agent.proposers.llm import Limits

        records = self._records()
        usage = self._usage(state, records, self.stretch.now_elapsed(state))
        tokens, usd = self.ctx.budget.tokens_left(usage), self.ctx.budget.usd_left(usage)
        return Limits(
            deadline=self.stretch.deadlines(state, records)[0],
            tokens_left=tokens,
            usd_left=usd,
            allowance=Allowance(tokens, usd),
        )

    def _lane(self, slot: Slot) -> Path:
        return self.ctx.run.repo.lane(self.ctx.run.record.id, slot["lane"])

    def _best(self, records: dict[int, ExperimentRecord]) -> ExperimentRecord | None:
        return self.ctx.run.best(list(records.values()))

    # ------------------------------------------------------------------ decide
    def decide(self, state: LoopState) -> dict[str, Any]:
        records = self._records()
        first = self.stretch.base is None  # the first node of this stretch
        elapsed = self.stretch.advance(state)
        usage = self._usage({**state, "elapsed": elapsed}, records, elapsed)
        decision = self.ctx.budget.decide(usage)
        busy = any(slot["stage"] == "committed" for slot in state["slots"])
        self.stretch.idle = first and not decision.go_on and not busy
        self.stretch.decided = True
        reason = "" if decision.go_on else decision.reason
        if not reason:
            reason = broken_start(records.values(), str(self.ctx.run.task.path)) or ""
        if not reason:
            reason = self._exhausted(records)
        if decision.go_on and state["step"] >= self.ctx.max_steps:
            reason = f"step guard: {state['step']} loop steps"
        return {"step": state["step"] + 1, "elapsed": elapsed, "stop_reason": reason}

    def _exhausted(self, records: dict[int, ExperimentRecord]) -> str:
        """The proposer's word that no point is left to try (evolve, a small space all tried), or "".

        Not while an experiment waits to be evaluated (again): pending after a crash, or cut
        by an earlier stretch's time budget; `select` evaluates those first.
        """
        exhausted = getattr(self.ctx.proposer, "exhausted", None)
        if exhausted is None or any(
            r.status is Status.PENDING or self.stretch.recut(r) for r in records.values()
        ):
            return ""
        return exhausted(list(records.values())) or ""

    def _untried(self, records: dict[int, ExperimentRecord], lanes: int) -> int:
        """Of `lanes` new lanes, how many the proposer has an untried point for (all, unless it says)."""
        untried_left = getattr(self.ctx.proposer, "untried_left", None)
        count = untried_left(list(records.values()), lanes) if untried_left is not None else None
        return lanes if count is None else min(lanes, count)

    # ------------------------------------------------------------------ select
    def select(self, state: LoopState) -> dict[str, Any]:
        run = self.ctx.run
        records = self._records()
        next_exp = max([state["next_exp"], *[r.id + 1 for r in records.values()]])
        busy = [slot for slot in state["slots"] if slot["stage"] != "done"]  # async lanes evaluating
        in_flight = {slot["exp"] for slot in busy}
        free = [lane for lane in range(self.ctx.parallel) if lane not in {slot["lane"] for slot in busy}]
        orphans = [r for r in records.values() if r.status is Status.PENDING and r.id not in in_flight]
        cut = [r for r in records.values() if self.stretch.recut(r)]
        slots: list[Slot] = []
        for lane, record in zip(free, sorted([*orphans, *cut], key=lambda r: r.id), strict=False):
            slots.append(self._again(record, lane))
        if not slots and not busy and 0 not in records:
            slots.append(new_slot(0, 0, None, "baseline", baseline_idea(self.ctx.run.record)))
            next_exp = max(next_exp, 1)
        elif not slots:
            usage = self._usage(state, records, state["elapsed"])
            left = self.ctx.budget.experiments_left(usage)
            if busy:  # async: the lanes still evaluating count against the budget already
                count = len(free) if left is None else max(0, min(len(free), left - len(busy)))
            else:
                count = self.ctx.parallel if left is None else max(1, min(self.ctx.parallel, left))
            count = self._untried(records, count)  # 3 lanes, 1 point left: 1 lane, not 2 repeats
            nodes = [Node.of(r, self.ctx.metric, run.record.direction) for r in records.values()]
            rng = random.Random(f"{run.task.spec.search.seed}:{next_exp}")
            taken = []
            for lane in free[:count]:
                selection = self.ctx.strategy.select(nodes, rng, taken)
                taken.append(selection)
                parent = selection.parent if selection.parent in records else (0 if 0 in records else None)
                slots.append(
                    new_slot(next_exp, lane, parent, selection.mode, selection.why, selection.partner)
                )
                next_exp += 1
        for slot in slots:
            self.ctx.emit(
                ExperimentStarted(slot["exp"], slot["parent"], slot["mode"], slot["turn"], slot["why"])
            )
        return {"step": state["step"] + 1, "slots": [*busy, *slots], "next_exp": next_exp}

    def _again(self, record: ExperimentRecord, lane: int) -> Slot:
        """A slot that evaluates a committed experiment again, its commit unchanged: one left
        pending by a crash, or one the run's time budget cut in an earlier stretch (`Stretch.cut`).

        A cut one carries its verdict's time (`RECUT`) so that `evaluate` re-runs that verdict
        only, never the fresh one a crash left unrecorded in the checkpoint.
        """
        if record.status is Status.STOPPED:
            self.stretch.cut.discard(record.id)
            why = "cut by the run's time budget before; evaluated again now"
        else:
            why = "committed before a crash; evaluated now"
        slot = new_slot(record.id, lane, record.parent, "recovered", why)
        slot.update(stage="committed", turn=max(1, record.turns))
        if record.status is Status.STOPPED:
            slot["turn_state"] = {RECUT: record.finished or ""}
        return slot

    # ---------------------------------------------------------------- retrieve
    def retrieve(self, state: LoopState) -> dict[str, Any]:
        records = self._records()
        slots = []
        for slot in state["slots"]:
            if slot["stage"] == "new" and slot["mode"] != "baseline" and not slot["context"]:
                if self._knowledge_too_slow(
                    state, records, f"no context retrieved for experiment {slot['exp']}"
                ):
                    slots.append(slot)
                    continue
                text = self._timed(
                    lambda slot=slot: self.ctx.memory.retrieve(
                        records.get(slot["parent"] or 0), self.ctx.run.task.spec.task.goal
                    )
                )
                if text:
                    path = self.ctx.folder / "context" / f"{slot['exp']}-{slot['turn']}.txt"
                    write_atomically(path, text)
                    slot = {**slot, "context": str(path)}
            slots.append(slot)
        return {"step": state["step"] + 1, "slots": slots}

    # ----------------------------------------------------------------- propose
    def propose(self, state: LoopState) -> dict[str, Any]:
        records = self._records()
        pending: list[ExperimentRecord] = []
        slots = []
        if self.ctx.constraints:  # no Z3 check or repair of this step outlasts the search
            self.ctx.constraints.deadline = self.stretch.deadlines(state, records)[0]
        if hasattr(self.ctx.proposer, "limits") and any(s["stage"] == "new" for s in state["slots"]):
            # taken once, in the loop's thread (lanes' calls run in threads that must not read git):
            # every lane's call of this step holds its worst case from the same allowance
            limits = self.limits(state)
            self.ctx.proposer.limits = lambda: limits  # type: ignore[attr-defined]
        if self._concurrent(state):
            self._propose_concurrently(state, records)
        for slot in state["slots"]:
            if slot["stage"] != "new":
                slots.append(slot)
                continue
            path = candidate_path(self.ctx.folder, slot["exp"], slot["turn"])
            if not path.exists():
                candidate, notes = self._propose_one(state, slot, records, pending)
                self._save_candidate(path, slot, candidate, notes)
            candidate, _ = load_candidate(path)
            for decision in candidate.decisions:
                if decision.startswith("fallback:"):  # the LLM lane handed this one to the offline proposer
                    self.ctx.emit(Note(f"experiment {slot['exp']}: {decision}"))
            if candidate.params is not None:
                pending.append(
                    ExperimentRecord(
                        run=self.ctx.run.record.id,
                        id=slot["exp"],
                        parent=slot["parent"],
                        branch="",
                        commit="",
                        params=candidate.params,
                    )
                )
            slots.append({**slot, "stage": "proposed", "candidate": str(path)})
        kept, unsent = self._without_unsent(slots, records)
        if not unsent:
            return {"step": state["step"] + 1, "slots": slots}
        # the dropped ids are the newest: the next experiment takes the first of them (ids stay 0..n)
        return {"step": state["step"] + 1, "slots": kept, "next_exp": min(slot["exp"] for slot in unsent)}

    def _without_unsent(
        self, slots: list[Slot], records: dict[int, ExperimentRecord]
    ) -> tuple[list[Slot], list[Slot]]:
        """`slots` less the new attempts whose model call was never sent (the token or cost budget
        left cannot pay for it), and those left out.

        Such an attempt cost nothing and did nothing: recorded, it was a rejected experiment that
        never existed (`strop log`: "1 rejected (4 attempts)", the budget line "the 1 rejected
        too"). It is left out, its candidate file removed (a resume asks again: a refusal costs
        nothing), and the refusal kept for the next budget decision, which stops the run with it
        (`_unsent`). Only those after every other slot and record, so that experiment ids stay
        contiguous (`strop audit`); one before a kept lane (parallel lanes whose calls raced for
        the allowance) is recorded as before, its reason saying it was not sent.
        """
        refused = {slot["exp"]: why for slot in slots if (why := _never_sent(slot))}
        last = max([*records, *(slot["exp"] for slot in slots if slot["exp"] not in refused)], default=-1)
        unsent = [slot for slot in slots if slot["exp"] in refused and slot["exp"] > last]
        for slot in unsent:
            why = refused[slot["exp"]]
            Path(slot["candidate"]).unlink(missing_ok=True)
            self._unsent = self._unsent or why
            self.ctx.emit(
                Note(
                    f"experiment {slot['exp']} not evaluated and not recorded: its model call was not sent ({why})"
                )
            )
        return [slot for slot in slots if slot not in unsent], unsent

    def _concurrent(self, state: LoopState) -> bool:
        new = [
            s for s in state["slots"] if s["stage"] == "new" and s["mode"] not in ("baseline", "recovered")
        ]
        return self.ctx.concurrency > 1 and len(new) > 1 and getattr(self.ctx.proposer, "multi_turn", False)

    def _propose_concurrently(self, state: LoopState, records: dict[int, ExperimentRecord]) -> None:
        """Ask the proposer for every new lane at once (model calls overlap); save each candidate.

        Lanes are checked out one after another first (git), then the calls run in threads.
        A configuration error stops the run after the other lanes' answers are saved.
        """
        work = []
        for slot in state["slots"]:
            path = candidate_path(self.ctx.folder, slot["exp"], slot["turn"])
            if slot["stage"] == "new" and slot["mode"] not in ("baseline", "recovered") and not path.exists():
                work.append((path, slot, self._request(state, slot, records, [])))
        stop: BaseException | None = None
        with ThreadPoolExecutor(max_workers=min(self.ctx.concurrency, len(work))) as pool:
            futures = [
                (path, slot, pool.submit(self._call_proposer, request)) for path, slot, request in work
            ]
            for path, slot, future in futures:
                try:
                    candidate, notes = future.result()
                except UserError as error:
                    stop = stop or error
                    continue
                self._save_candidate(path, slot, candidate, notes)
        if stop is not None:
            raise stop

    def _save_candidate(self, path: Path, slot: Slot, candidate: Candidate, notes: dict[str, Any]) -> None:
        """Write the candidate file, then let go of the reservations of its model calls (`agent.llm.journal`).

        The file holds the calls' spend from now on (a resume uses it, never asks again), so their
        reservations go: a crash before this line counts them at the next start, one after it in the
        record. A proposer that failed (its candidate carries no cost) keeps its calls' reservations
        as their count: their prompts, estimated.
        """
        journal = self.ctx.journal
        if journal is None:
            save_candidate(path, candidate, notes)
            return
        tag = journal.tag_of(slot["exp"], slot["turn"])
        if notes.get("failed"):
            candidate = replace(candidate, cost=candidate.cost + journal.pending(tag))
        save_candidate(path, candidate, notes)
        journal.settle(tag)

    def _base_commit(self, slot: Slot, records: dict[int, ExperimentRecord]) -> str:
        """The commit a slot's candidate applies to: the attempt so far, the parent, or the base."""
        if slot["turn"] > 1 and slot["exp"] in records:
            return records[slot["exp"]].commit
        if slot["parent"] is not None and slot["parent"] in records:
            return records[slot["parent"]].commit
        return self.ctx.run.record.base_commit

    def _propose_one(
        self,
        state: LoopState,
        slot: Slot,
        records: dict[int, ExperimentRecord],
        pending: list[ExperimentRecord],
    ) -> tuple[Candidate, dict[str, Any]]:
        if slot["mode"] == "baseline":
            lane = self._lane(slot)
            self.ctx.run.repo.checkout_detached(lane, self._base_commit(slot, records))
            params = self._workspace_point(lane) if self.ctx.space else None
            return Candidate(idea=baseline_idea(self.ctx.run.record), proposer="baseline", params=params), {}
        return self._call_proposer(self._request(state, slot, records, pending))

    def _workspace_point(self, lane: Path) -> dict[str, Any] | None:
        """The point of `[space]` the workspace runs as it is, or None when it writes none exactly.

        Experiment 0 was recorded as the point its files read as once completed with the
        defaults and clipped into the space; with no params file (the code's own defaults ran)
        that point was then never tried ("all 3 points evaluated", the best one never run).
        Only a workspace that writes every active parameter, each a legal value, ran a point.
        """
        space = self.ctx.space
        written = space.written(lane, self.ctx.run.task.spec.proposer)
        try:
            point = space.complete(written)
        except (ValueError, TypeError):  # a NaN, null, list or object written: no point
            return None
        return point if point == written and not space.outside(written) else None

    def _request(
        self,
        state: LoopState,
        slot: Slot,
        records: dict[int, ExperimentRecord],
        pending: list[ExperimentRecord],
    ) -> ProposalRequest:
        """The lane checked out at the slot's base, and the proposal request for it."""
        self.ctx.emit(ProposalAsked(slot["exp"], slot["turn"], self.ctx.proposer.name))
        lane = self._lane(slot)
        self.ctx.run.repo.checkout_detached(lane, self._base_commit(slot, records))
        usage = self._usage(state, records, self.stretch.now_elapsed(state))
        note = self.ctx.budget.note(usage)
        if self.ctx.turns is not None:
            from agent.turns import TurnState

            turn_state = (
                TurnState.from_dict(slot["turn_state"]) if slot["turn_state"] else self.ctx.turns.start()
            )
            note += "; " + self.ctx.turns.reminder(turn_state, slot["turn"])
        context = Path(slot["context"]).read_text() if slot["context"] else ""
        return ProposalRequest(
            task=self.ctx.run.task,
            exp_id=slot["exp"],
            parent=records.get(slot["parent"]) if slot["parent"] is not None else None,
            parent_checkout=lane,
            history=[*records.values(), *pending],
            context=context,
            budget_note=note,
            turn=slot["turn"],
            seed=self.ctx.run.task.spec.search.seed,
            mode=slot["mode"],
            partner=records.get(slot["partner"]) if slot["partner"] is not None else None,
            attempt=records.get(slot["exp"]) if slot["turn"] > 1 else None,
        )

    def _call_proposer(self, request: ProposalRequest) -> tuple[Candidate, dict[str, Any]]:
        try:
            candidate = self.ctx.proposer.propose(request)
        except UserError:
            raise  # a wrong key, model or URL (or the same error N times): no later call can succeed
        except Exception as error:  # a proposer's failure is this experiment's verdict, not the run's end
            reason = f"the proposer failed: {type(error).__name__}: {error}"
            return Candidate(idea=reason, proposer=self.ctx.proposer.name), {"failed": reason[:2000]}
        return candidate, {}

    # ------------------------------------------------------------------- check
    def check(self, state: LoopState) -> dict[str, Any]:
        records = self._records()
        slots = []
        for slot in state["slots"]:
            if slot["stage"] != "proposed":
                slots.append(slot)
                continue
            path = Path(slot["candidate"])
            candidate, notes = load_candidate(path)
            if "check" not in notes:
                candidate, notes["check"] = self._check_one(slot, candidate, notes, records)
                save_candidate(path, candidate, notes)
            slots.append({**slot, "stage": "checked"})
        return {"step": state["step"] + 1, "slots": slots}

    def _check_one(
        self, slot: Slot, candidate: Candidate, notes: dict[str, Any], records: dict[int, ExperimentRecord]
    ) -> tuple[Candidate, dict[str, str]]:
        if notes.get("failed"):
            return candidate, {"outcome": "rejected", "reason": notes["failed"]}
        if not candidate.files and slot["mode"] != "baseline":
            return candidate, {"outcome": "rejected", "reason": _no_edit_reason(candidate)}
        lane = self._lane(slot)
        self.ctx.run.repo.checkout_detached(lane, self._base_commit(slot, records))
        if slot["mode"] != "baseline" and _unchanged(lane, candidate.files):
            reason = "the candidate is identical to its parent: its files change nothing"
            return replace(candidate, files={}), {"outcome": "rejected", "reason": reason}
        try:
            for relative in candidate.files:
                safe_path(lane, relative)
        except UnsafePathError as error:
            return replace(candidate, files={}), {"outcome": "rejected", "reason": f"refused: {error}"}
        if slot["mode"] != "baseline" and self.ctx.space and candidate.params is None:
            outside = self._outside_space(lane, candidate)
            self.ctx.run.repo.checkout_detached(lane, self._base_commit(slot, records))
            if outside:
                return candidate, {"outcome": "rejected", "reason": "params: " + "; ".join(outside)}
        constraints = self.ctx.constraints
        if slot["mode"] == "baseline" or constraints is None:
            return candidate, {"outcome": "ok"}
        point, broken = candidate.params, []
        if point is None:
            proposer = self.ctx.run.task.spec.proposer
            before = self.ctx.space.written(lane, proposer)
            write_files(lane, candidate.files)
            point = self.ctx.space.read(lane, proposer)  # clipped into the space, defaults for the missing
            broken = constraints.broken_as_written(self.ctx.space.written(lane, proposer), point, before)
            self.ctx.run.repo.checkout_detached(lane, self._base_commit(slot, records))
        verdict = constraints.check(point)
        if verdict.passed and broken:  # the code reads what the files hold, not the space's clipped point
            return candidate, {"outcome": "rejected", "reason": "constraints: " + "; ".join(broken)}
        if verdict.passed:
            return candidate, {"outcome": "ok"}
        if self.ctx.run.task.spec.constraints.on_violation == "repair" and not verdict.unknown:
            repair = constraints.repair(point)
            if repair.point is not None:
                files = {
                    **candidate.files,
                    **self.ctx.space.materialise(repair.point, lane, self.ctx.run.task.spec.proposer),
                }
                changes = ", ".join(f"{k} {a}→{b}" for k, (a, b) in repair.changed.items())
                decision = (
                    f"constraints: repaired ({verdict.feedback}) to the nearest feasible point: {changes}"
                )
                idea = f"{candidate.idea} [repaired: {changes}]"
                repaired = replace(
                    candidate, idea=idea, files=files, params=repair.point,
                    decisions=[*candidate.decisions, decision],
                )  # fmt: skip
                return repaired, {"outcome": "repaired", "reason": decision}
            return candidate, {
                "outcome": "rejected",
                "reason": f"constraints: {verdict.feedback}; {repair.reason}",
            }
        return candidate, {"outcome": "rejected", "reason": f"constraints: {verdict.feedback}"}

    def _outside_space(self, lane: Path, candidate: Candidate) -> list[str]:
        """The `[space]` values the candidate's files change to values outside the declared space."""
        proposer = self.ctx.run.task.spec.proposer
        before = self.ctx.space.written(lane, proposer)
        write_files(lane, candidate.files)
        return self.ctx.space.outside(self.ctx.space.written(lane, proposer), before)

    # ------------------------------------------------------------------ commit
    def commit(self, state: LoopState) -> dict[str, Any]:
        run = self.ctx.run
        records = self._records()
        slots = []
        for slot in state["slots"]:
            if slot["stage"] != "checked":
                slots.append(slot)
                continue
            candidate, notes = load_candidate(Path(slot["candidate"]))
            record = records.get(slot["exp"])
            if record is None or record.turns < slot["turn"]:
                record = self._commit_one(slot, candidate, records)
            check = notes.get("check", {})
            if check.get("outcome") == "rejected" and record.status is Status.PENDING:
                reason = check.get("reason", "rejected")
                record = run.reject(record, reason.splitlines()[0][:300], feedback=reason)
            stage = "committed" if record.status is Status.PENDING else "evaluated"
            slots.append({**slot, "stage": stage})
        return {"step": state["step"] + 1, "slots": slots}

    def _commit_one(
        self, slot: Slot, candidate: Candidate, records: dict[int, ExperimentRecord]
    ) -> ExperimentRecord:
        run = self.ctx.run
        decisions = list(candidate.decisions)
        if slot["turn"] == 1:
            if slot["mode"] != "baseline":
                decisions.insert(0, f"search: {slot['mode']}" + (f" ({slot['why']})" if slot["why"] else ""))
            parent = records.get(slot["parent"]) if slot["parent"] is not None else None
            turn_one = replace(candidate, turns=1, decisions=decisions)
            return run.commit_candidate(slot["exp"], parent, turn_one, slot["lane"])
        attempt = self._attempt_before(slot, records)
        lane = self._lane(slot)
        # detached: the branch moves to the new commit only with its record (`publish`), as in turn 1
        run.repo.checkout_detached(lane, attempt.commit)
        write_files(lane, candidate.files)
        subject = candidate.idea.strip().splitlines()[0][:60] if candidate.idea.strip() else "no change"
        commit = run.repo.commit(
            lane, f"strop {run.record.id}/{slot['exp']} turn {slot['turn']}: {subject}\n\n{candidate.idea}"
        )
        record = replace(
            attempt,
            commit=commit,
            idea=candidate.idea,
            status=Status.PENDING,
            metrics={},
            reason="",
            feedback="",
            finished=None,
            params=candidate.params if candidate.params is not None else attempt.params,
            cost=attempt.cost + candidate.cost,
            turns=slot["turn"],
            decisions=[*attempt.decisions, *decisions],
            log_path="",
            log_digest="",
        )
        run.save_record(record, publish=True)
        return record

    def _attempt_before(self, slot: Slot, records: dict[int, ExperimentRecord]) -> ExperimentRecord:
        """The attempt's record as the previous turn left it (found again after a crash)."""
        record = records.get(slot["exp"])
        if record is not None and record.turns == slot["turn"] - 1:
            return record
        base = slot["turn_state"].get("base")
        run_id = self.ctx.run.record.id
        try:
            found = self.ctx.run.repo.read_note(str(base)) if base else None
        except NotARecord as error:
            raise UnreadableRecord(
                f"experiment {run_id}/{slot['exp']}: the note of turn {slot['turn'] - 1}'s commit "
                f"{str(base)[:12]} is not a record ({error}); `strop audit {run_id}` lists what is wrong"
            ) from None
        if found is None:
            raise RuntimeError(f"experiment {slot['exp']}: cannot find turn {slot['turn'] - 1} to build on")
        return found

    # ---------------------------------------------------------------- evaluate
    def evaluate(self, state: LoopState) -> dict[str, Any]:
        if self.ctx.schedule == "async":
            return self._evaluate_async(state)
        run = self.ctx.run
        records = self._records()
        evaluator = run.evaluator()
        deadline = self.stretch.deadlines(state, records)[0]
        todo: list[tuple[Slot, ExperimentRecord, EvaluationJob]] = []
        skipped: set[int] = set()
        for slot in state["slots"]:
            record = self._awaiting(slot, records.get(slot["exp"]))
            if slot["stage"] == "committed" and record is not None:
                job = self._job(slot, record, records, deadline)
                if job is None:
                    skipped.add(slot["exp"])
                    continue
                todo.append((slot, record, job))

        verdicts = self.ctx.executor.evaluate_all(evaluator, [job for _, _, job in todo])
        for (_, record, _), verdict in zip(todo, verdicts, strict=True):
            run.conclude(record, verdict)  # in this thread: the index connection is not shared
        slots = [
            ({**slot, "stage": "done" if slot["exp"] in skipped else "evaluated"})
            if slot["stage"] == "committed"
            else slot
            for slot in state["slots"]
        ]
        return {"step": state["step"] + 1, "slots": slots}

    def _awaiting(self, slot: Slot, record: ExperimentRecord | None) -> ExperimentRecord | None:
        """The record a committed slot is to evaluate, None when its verdict is in already.

        A pending record as it is; a record the time budget cut in an earlier stretch, picked
        again by `select` (its `RECUT` names that verdict), with a decision that says it is
        evaluated again: its provenance shows the cut and the fresh evaluation of the same commit.
        That is this process's one new try too (a slot from the checkpoint of a killed one):
        cut again, `select` leaves it.
        """
        if record is None or record.status is Status.PENDING:
            return record
        cut = slot["turn_state"].get(RECUT)
        if record.status is not Status.STOPPED or cut is None or cut != (record.finished or ""):
            return None
        self.stretch.cut.discard(record.id)
        decision = f"re-evaluated on resume: the run's time budget had cut its evaluation ({record.reason})"
        return replace(record, decisions=[*record.decisions, decision])

    def _job(
        self, slot: Slot, record: ExperimentRecord, records: dict[int, ExperimentRecord], deadline: Deadline
    ) -> EvaluationJob | None:
        """The slot's lane checked out at its commit, as a job; None (and a note) when time is too short."""
        why_not = self.stretch.cannot_finish(records, deadline, record)
        if why_not:  # left pending: `strop resume` with more time evaluates it
            self.ctx.emit(Note(f"experiment {slot['exp']} not evaluated: {why_not}"))
            return None
        lane = self._lane(slot)
        self.ctx.run.repo.checkout_detached(lane, record.commit)  # its files; lanes hold no branch
        self.ctx.emit(EvaluationStarted(slot["exp"], slot["turn"]))
        return EvaluationJob(lane, _log_name(slot), deadline=deadline.at)

    def _evaluate_async(self, state: LoopState) -> dict[str, Any]:
        """Dispatch every committed slot not yet in flight; return once one has ended (at once
        when a slot needs no evaluation: rejected by the checks, or skipped for lack of time).

        Verdicts are concluded here, in the loop's thread (git and the index are single-writer);
        slots still evaluating stay `committed` for the next pass.
        """
        run = self.ctx.run
        records = self._records()
        evaluator = run.evaluator()
        deadline = self.stretch.deadlines(state, records)[0]
        skipped: set[int] = set()
        concluded = False
        for slot in state["slots"]:
            key = (slot["exp"], slot["turn"])
            if slot["stage"] != "committed" or key in self._flight:
                continue
            record = self._awaiting(slot, records.get(slot["exp"]))
            if record is None:
                concluded = True  # before a crash: marked evaluated below
                continue
            job = self._job(slot, record, records, deadline)
            if job is None:
                skipped.add(slot["exp"])
                continue
            self._flight[key] = (self._threads().submit(self._evaluate_one, evaluator, job), record)
        # a slot with nothing to wait for (rejected before evaluation, or skipped) is recorded now
        ready = skipped or concluded or any(slot["stage"] == "evaluated" for slot in state["slots"])
        if self._flight and not ready:
            wait([future for future, _ in self._flight.values()], return_when=FIRST_COMPLETED)
        for key, (future, record) in sorted(self._flight.items()):
            if future.done():
                del self._flight[key]
                run.conclude(record, future.result())  # an executor's error ends the run, as in batch
        slots = []
        for slot in state["slots"]:
            if slot["stage"] == "committed" and (slot["exp"], slot["turn"]) not in self._flight:
                slot = {**slot, "stage": "done" if slot["exp"] in skipped else "evaluated"}
            slots.append(slot)
        return {"step": state["step"] + 1, "slots": slots}

    def _threads(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.ctx.parallel, thread_name_prefix="lane")
        return self._pool

    def _evaluate_one(self, evaluator: Any, job: EvaluationJob) -> Verdict:
        return self.ctx.executor.evaluate_all(evaluator, [job])[0]

    # ------------------------------------------------------------------ record
    def record(self, state: LoopState) -> dict[str, Any]:
        run = self.ctx.run
        records = self._records()
        # up to now: `state["elapsed"]` is the decide step's, before this batch's calls and evaluations
        usage = self._usage(state, records, self.stretch.now_elapsed(state))
        best = self._best(records)
        slots = []
        for slot in state["slots"]:
            if slot["stage"] != "evaluated":
                slots.append(slot)
                continue
            record = records[slot["exp"]]
            stage, turn_state, reason = "done", slot["turn_state"], ""
            if self.ctx.turns is not None and slot["mode"] not in ("baseline", "recovered"):
                go_on, turn_state, reason = self._turn_decision(slot, record, usage)
                if reason and reason not in record.decisions:
                    record = replace(record, decisions=[*record.decisions, reason])
                if go_on:
                    stage = "new"
            run.save_record(record)  # also heals an index entry a crash left behind
            metric = record.metrics.get(self.ctx.metric) if record.status is Status.OK else None
            self.ctx.emit(
                ExperimentFinished(
                    exp=record.id,
                    turn=slot["turn"],
                    status=record.status.value,
                    metric=metric,
                    reason=record.reason,
                    idea=record.idea,
                    best_exp=best.id if best else None,
                    best_metric=best.metrics.get(self.ctx.metric) if best else None,
                    done=usage.experiments,
                    budget=self.ctx.budget.experiments,
                    decisions=[reason] if reason else [],
                )
            )
            if stage == "new":
                slot = {
                    **slot, "stage": "new", "turn": slot["turn"] + 1, "candidate": "",
                    "turn_state": {**turn_state, "base": record.commit},
                }  # fmt: skip
            else:
                slot = {**slot, "stage": "done", "turn_state": turn_state}
            slots.append(slot)
        return {"step": state["step"] + 1, "slots": slots}

    def _turn_decision(
        self, slot: Slot, record: ExperimentRecord, usage: Usage
    ) -> tuple[bool, dict[str, Any], str]:
        from agent.turns import TurnOutcome, TurnState

        policy = self.ctx.turns
        path = self.ctx.folder / "turns" / f"{slot['exp']}.json"
        outcomes = json.loads(path.read_text()) if path.exists() else []
        candidate, notes = load_candidate(Path(slot["candidate"])) if slot["candidate"] else (None, {})
        outcome = {
            "turn": slot["turn"],
            "success": record.status is Status.OK,
            "score": record.metrics.get(self.ctx.metric) if record.status is Status.OK else None,
            "error": None if record.status is Status.OK else (record.reason or record.status.value),
            "extend": notes.get("extend") or (_extend_request(candidate) if candidate else None),
        }
        outcomes = [o for o in outcomes if o["turn"] < slot["turn"]] + [outcome]
        write_atomically(path, json.dumps(outcomes))
        known = {k: v for k, v in slot["turn_state"].items() if k in ("limit", "extensions")}
        state = TurnState.from_dict(known) if known else policy.start()
        decision = policy.decide(state, [TurnOutcome(**o) for o in outcomes], self._parent_outcome(slot))
        reason = f"turn {slot['turn']}: {decision.reason}"
        go_on = decision.go_on
        # another turn is the same experiment: only time, tokens, cost and `strop stop` can refuse it
        run_level = self.ctx.budget.decide(replace(usage, experiments=0))
        if go_on and not run_level.go_on:
            go_on = False
            reason += f"; but the run's budget is spent ({run_level.reason})"
        return go_on, decision.state.to_dict(), reason

    def _parent_outcome(self, slot: Slot) -> Any:
        """The parent's verdict as turn 0, so a limit of 1 can still be judged for progress."""
        from agent.turns import TurnOutcome

        parent = self._records().get(slot["parent"]) if slot["parent"] is not None else None
        if parent is None:
            return None
        ok = parent.status is Status.OK
        return TurnOutcome(
            turn=0,
            success=ok,
            score=parent.metrics.get(self.ctx.metric) if ok else None,
            error=None if ok else (parent.reason or parent.status.value),
        )

    # ------------------------------------------------------------------- learn
    def learn(self, state: LoopState) -> dict[str, Any]:
        records = self._records()
        rejections = state["rejections"]
        crashed = False
        busy = [slot for slot in state["slots"] if slot["stage"] != "done"]  # async lanes evaluating
        for slot in state["slots"]:
            record = records.get(slot["exp"])
            if record is None or slot["stage"] != "done":
                continue
            rejections = rejections + 1 if record.status is Status.REJECTED else 0
            parent = records.get(record.parent) if record.parent is not None else None
            if not self._knowledge_too_slow(state, records, f"no lesson kept from experiment {record.id}"):
                self._timed(lambda r=record, p=parent: self.ctx.memory.learn(r, p, _log_excerpt(r)))
            crashed = crashed or record.status in (Status.BUGGY, Status.TIMEOUT)
        if crashed and self.ctx.memory.available:
            self._refresh_exclusions()
        for text in self.ctx.memory.notes:
            self.ctx.emit(Note(text))
        self.ctx.memory.notes.clear()
        return {"step": state["step"] + 1, "slots": busy, "rejections": rejections}

    def _timed(self, call: Callable[[], Any]) -> Any:
        started = time.monotonic()
        try:
            return call()
        finally:
            self._knowledge_seconds.append(time.monotonic() - started)

    def _knowledge_too_slow(self, state: LoopState, records: dict[int, ExperimentRecord], what: str) -> bool:
        """True (and a note) when a knowledge call would likely outlast the search deadline.

        Knowledge is not interruptible, so it is skipped near the deadline: the estimate is the
        recent calls' median once the model is loaded (`ready`, or a call took a second or more),
        else `FIRST_KNOWLEDGE_GUESS`. While a memory still loads its model on its own thread its
        calls return at once: nothing to skip.
        """
        if not self.ctx.memory.available:
            return False
        ready = getattr(self.ctx.memory, "ready", None)
        deadline = self.stretch.deadlines(state, records)[0]
        if deadline.at is None:
            if ready is False or getattr(self.ctx.memory, "ingested", True) is False:
                self.ctx.memory.wait()  # no time budget: waiting for the model and the sources costs nothing
            return False
        if ready is False:
            return False  # the model loads on its own thread: calls return at once until it is ready
        loaded = bool(ready) or any(s >= 1.0 for s in self._knowledge_seconds)
        recent = sorted(self._knowledge_seconds[-5:])
        estimate = (recent[len(recent) // 2] if recent else 0.0) if loaded else FIRST_KNOWLEDGE_GUESS
        if deadline.left() >= estimate:
            return False
        self.ctx.emit(
            Note(
                f"{what}: the time budget has {deadline.left():.1f}s left, knowledge takes about {estimate:.0f}s"
            )
        )
        return True

    def _refresh_exclusions(self) -> None:
        """Failing regions learned from this run's crashes join the constraints (Z3) at once."""
        from agent.constraints import constraints_for

        learned = self.ctx.memory.exclusions()
        known = {rule.text for rule in self.ctx.constraints.rules} if self.ctx.constraints else set()
        fresh = [rule for rule in learned if rule.text not in known]
        if not fresh:
            return
        extra = [r for r in self.ctx.constraints.rules if r.origin != "task"] if self.ctx.constraints else []
        constraints = constraints_for(self.ctx.run.task, self.ctx.space, [*extra, *fresh])
        constraints.deadline = self.ctx.constraints.deadline if self.ctx.constraints else None
        self.ctx.constraints = constraints
        use = getattr(self.ctx.proposer, "use_constraints", None)
        if use is not None:
            use(constraints)
        for rule in fresh:
            self.ctx.emit(Note(f"constraints: excluding a failing region ({rule.origin}): {rule.text}"))

    # ------------------------------------------------------------------ finish
    def finish(self, state: LoopState) -> dict[str, Any]:
        run = self.ctx.run
        reason = state["stop_reason"] or "finished"
        status = "stopped" if reason.startswith("stopped") else "done"
        self.stretch.cut.clear()  # not evaluated again in this stretch: the budget line counts them as used
        self._confirm(state)
        due = self._best(self._records())
        if due is not None and due.final_metrics is None and run.task.evaluator.has_final:
            self.stretch.idle = False  # the final phase runs now: its time is the run's
        # stored with the run's end: a crash between that write and this node's checkpoint left
        # a run that says it is done (resume refuses it) without its budget line
        run.record.budget_report = self._budget_report(state)
        best = _finish(run, status, reason, self.stretch.deadlines(state, self._records())[1])
        report = self._budget_report(state)  # again, with the final phase's time
        if report != run.record.budget_report:
            run.record.budget_report = report
            run.save()
        (self.ctx.folder / "stop").unlink(missing_ok=True)
        final = best.final_metrics.get(self.ctx.metric) if best and best.final_metrics else None
        self.ctx.emit(
            RunStopped(
                run=run.record.id,
                reason=reason,
                best_exp=best.id if best else None,
                best_metric=best.metrics.get(self.ctx.metric) if best else None,
                final_metric=final,
            )
        )
        # the final phase's time counts too: a resume with more time starts from here
        return {"step": state["step"] + 1, "finished": True, "elapsed": self.stretch.spent(state)}

    def _confirm(self, state: LoopState) -> None:
        """Measure the contenders again (only the re-evaluations missing: a crash re-runs this node),
        on the run's lanes and executor, by the run's deadline less the final phase's reserve; then
        say what it found."""
        from agent.confirmation import CONFIRMING, confirm, contenders, missing, summary_lines

        if self.ctx.confirm <= 0:
            return
        run, records = self.ctx.run, self._records()
        chosen = contenders(
            list(records.values()), self.ctx.metric, run.record.direction, self.ctx.confirm_top
        )
        todo = missing(chosen, self.ctx.confirm)
        if todo:
            self.stretch.idle = False  # confirmations run now: their time is the run's
            ids = ", ".join(str(r.id) for r in chosen)
            self.ctx.emit(Note(f"{CONFIRMING} {len(todo)} re-evaluations of experiments {ids}"))
            run_end = self.stretch.deadlines(state, records)[1]
            deadline = run_end.minus(self.stretch.final_reserve(records, self.stretch.seconds()))
            typical = self.stretch.need(records, [])
            asked = self.ctx.folder / "stop"
            outcome = confirm(
                run,
                chosen,
                self.ctx.confirm,
                deadline,
                lambda r: r.eval_seconds or typical,
                asked.exists,
                lanes=self.ctx.parallel,
                executor=self.ctx.executor,
                clock=self.ctx.clock,
            )
            took = f"{outcome.seconds:.1f}s"
            if outcome.lanes > 1:
                took += f" on {outcome.lanes} lanes, {outcome.evaluating:.1f}s of evaluation"
            said = f"confirmation: {outcome.ran} of {len(todo)} re-evaluations ran ({took})"
            if outcome.stopped:
                said += (
                    f"; {outcome.not_started} not started: `strop stop` asked the run to stop "
                    f"(`strop resume {run.record.id} --experiments N` measures them at its end)"
                )
            elif outcome.not_started:
                said += f"; {outcome.not_started} not started: the time budget has too little left"
            self.ctx.emit(Note(said))
        records = self._records()
        best = self._best(records)
        ordered = [records[r.id] for r in chosen if r.id in records]
        for line in summary_lines(ordered, best, self.ctx.metric, run.record.direction):
            self.ctx.emit(Note(f"confirmation: {line}"))

    def _budget_report(self, state: LoopState) -> str:
        """Each limited budget against what the run used: by how much it over- or under-ran."""
        records = self._records()
        usage = self._usage(state, records, self.stretch.spent(state))
        budget = self.ctx.budget
        parts = []
        if budget.time is not None:
            parts.append(overrun("time", usage.elapsed, budget.time))
            if usage.before > 0:
                own = f"{usage.elapsed - usage.before:.1f}s of {round(budget.time - usage.before, 1):g}s"
                parts.append(f"this resume: {own}")
        if budget.experiments is not None:
            parts.append(
                overrun("experiments", usage.experiments, budget.experiments, unit="")
                + _rejections_counted(records, budget.counts_rejections)
            )
        confirmations = [c for r in records.values() for c in r.confirmations]
        if confirmations:
            seconds = sum(c.seconds for c in confirmations)
            cut = sum(1 for c in confirmations if c.status == Status.STOPPED)
            measured = f"{len(confirmations) - cut} re-evaluations" + (
                f" (and {cut} cut by time)" if cut else ""
            )
            # summed over lanes (`--parallel` runs a round at once): the evaluations' own seconds
            parts.append(f"confirmation: {measured}, {seconds:.1f}s of evaluation (not experiments)")
        if budget.spec.tokens is not None:
            parts.append(overrun("tokens", usage.tokens, budget.spec.tokens, unit=""))
        if budget.spec.cost is not None:
            parts.append(overrun("cost", usage.cost, budget.spec.cost, unit="$"))
        return "; ".join(parts)

    # --------------------------------------------------------------- routing
    @staticmethod
    def after_decide(state: LoopState) -> str:
        if not state["stop_reason"]:
            return "select"
        # async lanes still evaluating finish first: a stop never drops an experiment in flight
        return "evaluate" if any(slot["stage"] == "committed" for slot in state["slots"]) else "finish"

    @staticmethod
    def after_record(state: LoopState) -> str:
        return "propose" if any(slot["stage"] == "new" for slot in state["slots"]) else "learn"


def _no_edit_reason(candidate: Candidate) -> str:
    """Why a candidate changes nothing: the LLM proposer says why in its decisions."""
    try:
        from agent.proposers.llm import no_edit_reason
    except ImportError:
        return "the proposer returned no change"
    return no_edit_reason(candidate) or "the proposer returned no change"


def _extend_request(candidate: Candidate) -> str | None:
    """The model's request for more turns, when the proposer recorded one."""
    try:
        from agent.proposers.llm import extend_request
    except ImportError:
        return None
    return extend_request(candidate)


def _never_sent(slot: Slot) -> str:
    """Why a proposed new attempt's model call was never sent (the run's budget cannot pay for it),
    "" for any other slot: one that made a call (a probe, a retry: it cost tokens), has an edit or
    a point, is experiment 0 or evaluates an experiment again."""
    if slot["stage"] != "proposed" or slot["turn"] != 1 or slot["mode"] in ("baseline", "recovered"):
        return ""
    candidate, notes = load_candidate(Path(slot["candidate"]))
    if candidate.files or candidate.params is not None or candidate.cost.calls or notes.get("failed"):
        return ""
    from agent.proposers.decisions import out_of_budget

    return out_of_budget(candidate) or ""


def _unaffordable(records: dict[int, ExperimentRecord], before: int = -1) -> str:
    """The run budget's refusal of the latest experiment's model call ("" when none).

    The token or cost budget left cannot pay for it; or the time left is shorter than the wait
    the endpoint asked for (`Retry-After`) or the backoff before a retry: the next experiment's
    call would send again at once what the endpoint asked to wait for (a 429 with `Retry-After:
    100000` made a 25 s run send 12 requests in 0.8 s and burn its experiments). The run stops
    on it; `strop resume --time` continues it, so a time refusal counts only in the stretch
    that met it (experiments after `before`). A call cancelled at the deadline says so too,
    and the time budget's own line wins then (`RunBudget.decide` checks time first).
    """
    if not records:
        return ""
    from agent.proposers.llm import OUT_OF_BUDGET

    latest = records[max(records)]
    for decision in latest.decisions:
        said = decision.removeprefix(OUT_OF_BUDGET)
        if said != decision and (latest.id > before or "token budget" in said or "cost budget" in said):
            return said
    return ""


def _unchanged(lane: Path, files: dict[str, str | None]) -> bool:
    """True when writing `files` into `lane` would change nothing (same text, deletions of absent files)."""
    for relative, text in files.items():
        target = lane / relative
        if text is None:
            if target.exists():
                return False
            continue
        try:
            if not target.is_file() or target.read_text() != text:
                return False
        except (OSError, UnicodeDecodeError):
            return False
    return True


def _finish(run: Run, status: str, reason: str, deadline: Deadline) -> ExperimentRecord | None:
    """`Run.finish`, its `final` phase clamped to the run's deadline when `Run.finish` takes one;
    the best's record then says which outputs that phase graded (`_graded`)."""
    import inspect

    before = run.made_evaluator
    if before is not None and getattr(before, "graded", ""):
        before.graded = ""  # type: ignore[attr-defined]  # a final phase of an earlier finish
    if deadline.at is not None and "deadline" in inspect.signature(run.finish).parameters:
        best = run.finish(status, reason, deadline=deadline.at)
    else:
        best = run.finish(status, reason)
    return _graded(run, best)


def _graded(run: Run, best: ExperimentRecord | None) -> ExperimentRecord | None:
    """The best with its final phase's own words on what it graded added to its decisions.

    A two-stage evaluator says it in `graded` (`evaluators.staged`): the run on the final phase's
    public data (a refit), the outputs the experiment's selection run made (when the refit gave
    no verdict in time), or a new run as selected. One line in the record, for `strop show`;
    nothing when no final phase ran in this finish.
    """
    said = getattr(run.made_evaluator, "graded", "")
    if best is None or not said:
        return best
    best = replace(best, decisions=[*best.decisions, said])
    run.save_record(best)
    return best


def _log_name(slot: Slot) -> str:
    return str(slot["exp"]) if slot["turn"] == 1 else f"{slot['exp']}-t{slot['turn']}"


def _log_excerpt(record: ExperimentRecord) -> str:
    """What a lesson learns of a failure: the verdict as the proposer read it, never the log.

    The log holds all a scorer printed (only its last error line may reach the proposer: it
    reads private answers) and the host's paths (the user's name, strop's home); a lesson's
    text reaches later runs' prompts, other tasks' too. Whole (the verdict's feedback is a
    tail of at most `FEEDBACK_CHARS` already): memory finds the credentials in it before it
    cuts it, and a key cut from its `BEGIN` line first was kept, its body unrecognised.
    """
    return record.feedback or record.reason


def _rejections_counted(records: dict[int, ExperimentRecord], counted: bool) -> str:
    """Whether the experiments used include the attempts rejected before evaluation: "1 of 3"
    beside 50 rejected attempts reads as a bug unless it says which attempts it counts."""
    rejected = sum(1 for record in records.values() if record.status is Status.REJECTED)
    if not rejected:
        return ""
    if counted:
        return f", every attempt counted, the {rejected} rejected too"
    return f", {rejected} rejected before evaluation not counted"


def note(ctx: LoopContext, text: str) -> None:
    ctx.emit(Note(text))
