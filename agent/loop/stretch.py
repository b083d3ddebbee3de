"""A run's stretch: the time one `strop run` or `strop resume` has, and what it must keep of it.

A run's time budget is spent in stretches (the first `strop run`, then each resume). This stretch
counts from when the command started (its start-up is the run's time too), reads the seconds the
earlier stretches ran from the loop's state (`base`), and from them makes the deadlines the nodes
work to: the search ends by the run's deadline less the confirmation's and the `final` phase's
reserves and `CLOSING`; `final` ends by the run's deadline less `CLOSING`. The reserves are judged
by the time this stretch has (`seconds`), an experiment an earlier stretch cut is expected to need
more than it ran (`cut_need`), and a stretch that cannot fit what it must do says how much time to
give (`too_short`) and, when its first decision stops it, does not count its start-up (`spent`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from agent.budget import confirm_reserve, cut_need, final_reserve, seconds_word, time_to_give, typical_seconds
from agent.deadline import Deadline
from agent.loop.state import LoopState
from agent.records import ExperimentRecord
from evaluators.verdict import Status

if TYPE_CHECKING:
    from agent.loop.nodes import LoopContext

CLOSING = 2.0  # seconds kept at the end for closing the run: records, lanes, the summary, exiting


class Stretch:
    """This stretch's clock and the time it keeps for the run's end; the nodes ask it for deadlines."""

    def __init__(self, ctx: LoopContext, stored: list[ExperimentRecord]) -> None:
        self.ctx = ctx
        # the first stretch counts from when the command started (its start-up is the run's time too)
        self.mark = ctx.clock() - (max(0.0, time.time() - ctx.started) if ctx.started else 0.0)
        # experiments an earlier stretch's time budget cut: this stretch evaluates each once more
        # (`Nodes.select`), once only, so a resume with too little time cannot cut the same one forever
        self.cut = {r.id for r in stored if r.status is Status.STOPPED}
        self.base: float | None = None  # the run's seconds when this stretch began (`seconds`)
        self.decided = False  # this stretch's first decision is made (it may have done work since)
        self.idle = False  # stopped by its first decision: nothing done, its seconds not counted

    def recut(self, record: ExperimentRecord) -> bool:
        """True for an experiment cut by an earlier stretch's time budget, not yet evaluated again."""
        return record.status is Status.STOPPED and record.id in self.cut

    def now_elapsed(self, state: LoopState) -> float:
        """Seconds the run has been running, up to now (the state's count plus this stretch)."""
        if self.base is None:
            self.base = state["elapsed"]
        return state["elapsed"] + (self.ctx.clock() - self.mark)

    def seconds(self) -> float | None:
        """The seconds this stretch has: the run's time budget less what earlier stretches ran
        (a resume's own `--time`; the whole budget for a run's first stretch)."""
        budget = self.ctx.budget.time
        return None if budget is None else max(0.0, budget - (self.base or 0.0))

    def reserve(self, records: dict[int, ExperimentRecord], stretch: float | None) -> float:
        """Seconds the confirmation and the `final` phase keep of a stretch of `stretch` seconds."""
        return self.final_reserve(records, stretch) + self.confirm_reserve(records, stretch)

    def confirm_reserve(self, records: dict[int, ExperimentRecord], stretch: float | None) -> float:
        """Seconds confirmation keeps (0 when off): `confirm` rounds of (contenders) typical
        evaluations, the run's lanes taking them `parallel` at a time, capped (`confirm_reserve`);
        experiment 0 is a contender unless it is among the top."""
        seconds = [r.eval_seconds for r in sorted(records.values(), key=lambda r: r.id) if r.eval_seconds]
        timeout = float(self.ctx.run.task.evaluator.timeout)
        return confirm_reserve(
            seconds, self.ctx.confirm_top + 1, self.ctx.confirm, timeout, stretch, lanes=self.ctx.parallel
        )

    def final_reserve(self, records: dict[int, ExperimentRecord], stretch: float | None) -> float:
        """Seconds the `final` phase keeps of a stretch of `stretch` seconds (0 without one)."""
        spec = self.ctx.run.task.evaluator
        if not getattr(spec, "has_final", bool(getattr(spec, "final", None))):
            return 0.0
        seconds = [r.eval_seconds for r in sorted(records.values(), key=lambda r: r.id) if r.eval_seconds]
        best = self.ctx.run.best(list(records.values()))
        return final_reserve(
            seconds,
            float(spec.timeout),
            stretch,
            best.eval_seconds if best else None,
            refit=bool(getattr(spec, "final_public", None)),
            folds=int(getattr(spec, "folds", 1)),
        )

    def waiting_cut(self, records: dict[int, ExperimentRecord]) -> list[ExperimentRecord]:
        """The experiments an earlier stretch cut that this one has still to evaluate again."""
        return [records[exp] for exp in sorted(self.cut) if exp in records and self.recut(records[exp])]

    def need(self, records: dict[int, ExperimentRecord], cut: list[ExperimentRecord]) -> float:
        """Seconds the next evaluation is expected to take: the recent median, or more for one cut
        before (it ran that long and was not done: `cut_need`)."""
        ran = sorted((r for r in records.values() if r.eval_seconds), key=lambda r: r.id)
        timeout = float(self.ctx.run.task.evaluator.timeout)
        return max(
            [
                typical_seconds([r.eval_seconds for r in ran]),
                *(cut_need(r.eval_seconds, timeout) for r in cut),
            ]
        )

    def too_short(self, records: dict[int, ExperimentRecord], elapsed: float) -> str:
        """Out of time at this stretch's first decision: what does not fit in it, and the `--time`
        that fits it (start-up as this one's, the final phase's reserve as `deadlines`); "" when
        no evaluation has run yet (nothing to size it by)."""
        stretch = self.seconds()
        if stretch is None:
            return ""
        cut = self.waiting_cut(records)
        need = self.need(records, cut)
        if not need:
            return ""  # no evaluation ran yet: nothing says how long one takes
        what = (
            f"experiment {cut[0].id} (cut after {cut[0].eval_seconds:.0f}s before: ~{need:.0f}s)"
            if cut
            else f"an evaluation (~{need:.0f}s)"
        )
        reserve = self.reserve(records, stretch)
        if reserve:
            what += f" and the final phase (~{reserve:.0f}s kept)"
        started = max(0.0, elapsed - (self.base or 0.0))
        give = time_to_give(need, started + CLOSING, lambda total: self.reserve(records, total))
        verb = "do" if reserve else "does"
        return (
            f"{what} {verb} not fit in {max(0.0, stretch - started):.0f}s: give --time {seconds_word(give)}"
        )

    def deadlines(self, state: LoopState, records: dict[int, ExperimentRecord]) -> tuple[Deadline, Deadline]:
        """(search, final): when the search must end (the run's deadline less the `final` phase's
        reserve and `CLOSING`), and when `final` must end (the run's deadline less `CLOSING`)."""
        budget = self.ctx.budget.time
        if budget is None:
            return Deadline(), Deadline()
        run = Deadline.after(budget - self.now_elapsed(state))
        reserve = CLOSING + self.reserve(records, self.seconds())
        return run.minus(reserve), run.minus(CLOSING)

    def advance(self, state: LoopState) -> float:
        if self.base is None:
            self.base = state["elapsed"]
        now = self.ctx.clock()
        elapsed = state["elapsed"] + (now - self.mark)
        self.mark = now
        return elapsed

    def cannot_finish(
        self, records: dict[int, ExperimentRecord], deadline: Deadline, record: ExperimentRecord | None = None
    ) -> str:
        """Why an evaluation is not started: the time left is below the recent median evaluation,
        or below what an experiment cut before needs (`record`, else those waiting: `need`)."""
        if deadline.at is None:
            return ""
        if record is None:
            cut = self.waiting_cut(records)
        else:
            cut = [record] if record.status is Status.STOPPED else []
        need = self.need(records, cut)
        left = deadline.left()
        if left <= 0.5 or left < need:
            took = (
                f"experiment {cut[0].id} needs about {need:.1f}s"
                if cut
                else f"a recent evaluation took {need:.1f}s"
            )
            return f"the time budget has {left:.1f}s left, {took}"
        return ""

    def spent(self, state: LoopState) -> float:
        """The run's seconds at its end: a stretch that did nothing (its first decision stopped it,
        e.g. too short a resume) adds none, so a retry with more time is not judged by it."""
        return (self.base or 0.0) if self.idle else self.now_elapsed(state)
