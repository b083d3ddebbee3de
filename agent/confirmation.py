"""Confirmation: a run's contenders measured again at its end, so that its best is a mean, not a lucky draw.

A noisy metric (a runtime, a seeded score) is taken once per experiment, so the best of many
experiments is partly the luckiest draw (the winner's curse). With `[evaluator] confirm = N`,
when the search stops, the contenders (the `confirm_top` best by their single measurement, and
experiment 0, which every gain is judged against) are each evaluated N more times: the same full
selection evaluation of the same commit, in a fresh sandbox each time, round by round so that a
time budget cut leaves every contender about as measured. A run with `--parallel K` re-evaluates on
its K lanes, a round's contenders K at a time (each contender is in a round once, so no two of
its re-evaluations are ever in flight together and each log name is its own), on the run's
executor, as its experiments were. Each outcome is appended to its record
(`ExperimentRecord.confirmations`) as soon as it ends, in the caller's thread (git and the run
index have one writer): the finish node, run again after a crash, does only the ones missing. The best is then judged by the mean of the re-measurements
(`agent.records.best_experiment`): the first measurement, which made an experiment a contender,
is biased by that choice and left out.

The functions here are pure (which contenders, what is missing, the summary in words) but for
`confirm`, the thin part that checks a contender out and evaluates it.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from agent.executors import EvaluationJob, Executor, LocalExecutor
from agent.records import Confirmation, ExperimentRecord
from evaluators.metric import Direction, MetricValue
from evaluators.verdict import Status, Verdict

if TYPE_CHECKING:
    from agent.deadline import Deadline
    from agent.run import Run

CONFIRMING = "confirmation: measuring again:"
"""The note that starts a confirmation phase: the progress display says it is under way (a phase of
minutes otherwise read as the time between experiments)."""

LOG_MARK = "-c"
"""A confirmation's log is `N-cK-validate.log` (experiment N's K-th): no turn's log (`N-tT`) has it."""


@dataclass(frozen=True)
class Summary:
    """An experiment's re-measurements (each counted re-evaluation's value), the measurement that
    made it a contender (`first`, kept apart: see `agent.records.confirmed_values`), and what failed."""

    exp: int
    values: tuple[float, ...]
    failed: int = 0  # re-evaluations that gave no measurement (buggy, timeout, …)
    cut: int = 0  # re-evaluations the run's deadline cut: no measurement, no failure
    first: float | None = None

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return sum(self.values) / len(self.values) if self.values else math.nan

    @property
    def sd(self) -> float:
        """The sample standard deviation (0 for one measurement)."""
        if len(self.values) < 2:
            return 0.0
        mean = self.mean
        return math.sqrt(sum((v - mean) ** 2 for v in self.values) / (len(self.values) - 1))

    @property
    def low(self) -> float:
        return min(self.values) if self.values else math.nan

    @property
    def high(self) -> float:
        return max(self.values) if self.values else math.nan

    @property
    def confirmed(self) -> bool:
        """Re-measured at least once, and no re-evaluation failed."""
        return self.n >= 1 and not self.failed

    def describe(self, metric: str) -> str:
        """`experiment 3: score 0.9 when chosen; re-measured 3×: 0.81 ± 0.02 (0.79–0.83)`, and what
        failed or was cut."""
        chosen = f" {self.first:.6g} when chosen;" if self.first is not None else ""
        text = (
            f"experiment {self.exp}: {metric}{chosen} re-measured {self.n}×: {self.mean:.6g} ± {self.sd:.2g} "
            f"({self.low:.6g}–{self.high:.6g})"
        )
        if self.failed:
            text += f", {self.failed} re-evaluation(s) failed: ranked after every fully confirmed one"
        if self.cut:
            text += f", {self.cut} cut by the time budget"
        return text


def contenders(
    records: list[ExperimentRecord], metric: str, direction: Direction, top: int
) -> list[ExperimentRecord]:
    """The `top` scored experiments by their single measurement (ties: the earliest), and experiment
    0 when it scored; in id order. The first measurement never changes, so a re-run picks the same."""
    scored = [r for r in records if r.status is Status.OK and metric in r.metrics]
    ranked = sorted(scored, key=lambda r: (r.metric(metric, direction), -r.id), reverse=True)
    chosen = {r.id: r for r in ranked[:top]}
    chosen.update({r.id: r for r in scored if r.id == 0})
    return sorted(chosen.values(), key=lambda r: r.id)


def counted(record: ExperimentRecord) -> int:
    """Re-evaluations that ran to a verdict (one the deadline cut is tried again by a later finish)."""
    return sum(1 for c in record.confirmations if c.status != Status.STOPPED)


def rounds(chosen: list[ExperimentRecord], times: int) -> list[list[int]]:
    """The experiments to evaluate once more each, round by round: round k holds every contender
    with fewer than k re-evaluations, so a cut leaves the contenders about equally measured (empty
    rounds left out). A contender is in a round once: a round's evaluations can run at once."""
    done = {r.id: counted(r) for r in chosen}
    planned = [[r.id for r in chosen if done[r.id] < k] for k in range(1, times + 1)]
    return [ids for ids in planned if ids]


def missing(chosen: list[ExperimentRecord], times: int) -> list[int]:
    """The experiments to evaluate once more each, in order (`rounds`, one after the other)."""
    return [exp for ids in rounds(chosen, times) for exp in ids]


def summarise(record: ExperimentRecord, metric: str) -> Summary:
    """The re-measurements of `record`, its first measurement (when it scored) apart."""
    first = record.metrics.get(metric) if record.status is Status.OK else None
    values: list[float] = []
    failed = cut = 0
    for confirmation in record.confirmations:
        value = confirmation.value(metric)
        if confirmation.status == Status.STOPPED:
            cut += 1
        elif value is None:
            failed += 1
        else:
            values.append(value)
    return Summary(record.id, tuple(values), failed, cut, first)


def noise_verdict(best: Summary, base: Summary | None, direction: Direction, metric: str) -> str:
    """Whether the best's gain over experiment 0 is beyond the noise: their ranges do not overlap."""
    if base is None or not base.confirmed:
        return "experiment 0 was not re-measured in full: no word on the noise"
    if min(best.n, base.n) < 2:
        return "one re-measurement each: too few for a word on the noise (confirm = 2 or more gives one)"
    if best.exp == base.exp:
        return f"experiment 0 stays the best by its mean {metric}: no gain to confirm"
    if best.low <= base.high and base.low <= best.high:
        return (
            f"a tie within noise: experiment {best.exp}'s {metric} ({best.low:.6g}–{best.high:.6g}) "
            f"overlaps experiment 0's ({base.low:.6g}–{base.high:.6g})"
        )
    better = MetricValue(best.mean, direction) > MetricValue(base.mean, direction)
    word = "beyond the noise" if better else "worse than experiment 0 beyond the noise"
    return (
        f"{word}: every measurement of experiment {best.exp} ({best.low:.6g}–{best.high:.6g}) "
        f"{'beats' if better else 'trails'} every one of experiment 0 ({base.low:.6g}–{base.high:.6g})"
    )


def summary_lines(
    records: list[ExperimentRecord], best: ExperimentRecord | None, metric: str, direction: Direction
) -> list[str]:
    """The confirmation's outcome in words: one line per re-measured experiment, then the verdict."""
    measured = [summarise(r, metric) for r in records if r.confirmations]
    if not measured:
        return []
    lines = [s.describe(metric) for s in measured]
    base = next((s for s in measured if s.exp == 0), None)
    chosen = next((s for s in measured if best is not None and s.exp == best.id), None)
    flaky = [s.exp for s in measured if s.failed and (chosen is None or s.exp != chosen.exp)]
    if flaky:
        which = ", ".join(str(exp) for exp in flaky)
        lines.append(
            f"experiment(s) {which}: a re-evaluation failed, so they rank after every fully confirmed "
            "contender whatever their values (a candidate that fails now and then is not confirmed; "
            "`strop show RUN/N` says why it failed)"
        )
    if chosen is not None and chosen.confirmed:
        verdict = noise_verdict(chosen, base, direction, metric)
        if chosen.exp == 0 and flaky:
            verdict = "the only contender fully confirmed: the others had a re-evaluation fail"
        lines.append(f"best by mean: experiment {chosen.exp}; {verdict}")
        second = runner_up(chosen, measured, direction)
        if second is not None:
            lines.append(choice_verdict(chosen, second, metric))
    else:
        lines.append("no contender was fully confirmed: the best is by single measurement")
    return lines


def runner_up(best: Summary, measured: list[Summary], direction: Direction) -> Summary | None:
    """The fully confirmed contender next to the best by its mean (experiment 0 aside: the gain over
    it has a verdict of its own)."""
    others = [s for s in measured if s.exp not in (best.exp, 0) and s.confirmed]
    if not others:
        return None
    return max(others, key=lambda s: (MetricValue(s.mean, direction), -s.exp))


def choice_verdict(best: Summary, second: Summary, metric: str) -> str:
    """Whether the pick itself is clear: the best's gain over experiment 0 can be real while the
    runner-up is as good within the noise (then adopting either is as sound)."""
    if min(best.n, second.n) < 2:
        return (
            f"runner-up experiment {second.exp} ({metric} {second.mean:.6g}): too few re-measurements to tell"
        )
    if best.low <= second.high and second.low <= best.high:
        return (
            f"a tie within noise with the runner-up, experiment {second.exp} ({metric} {second.mean:.6g}, "
            f"{second.low:.6g}–{second.high:.6g}): the pick between them is not settled"
        )
    return f"clear of the runner-up, experiment {second.exp} ({metric} {second.mean:.6g}): no measurements overlap"


@dataclass(frozen=True)
class Outcome:
    """What one confirmation phase did: evaluations run, its wall-clock seconds, those not started,
    and the evaluations' own seconds summed (more than `seconds` when lanes ran them at once)."""

    ran: int = 0
    seconds: float = 0.0
    not_started: int = 0
    stopped: bool = False  # `strop stop` asked the run to stop: no more were started
    evaluating: float = 0.0
    lanes: int = 1


def confirm(
    run: Run,
    chosen: list[ExperimentRecord],
    times: int,
    deadline: Deadline,
    need: Callable[[ExperimentRecord], float],
    stop_asked: Callable[[], bool] = lambda: False,
    lanes: int = 1,
    executor: Executor | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Outcome:
    """Evaluate each contender until it has `times` re-evaluations (only what is missing), round by
    round, a round's on `lanes` lanes at once, each appended to its record when it ends; none is
    started once the time left (`deadline`) is shorter than it is expected to take (`need`), nor
    once `strop stop` asks the run to stop (`stop_asked`: (top + 1) x N evaluations may take an
    hour, which a stop must not have to wait). Those in flight then end and are recorded."""
    phase = _Phase(run, {r.id: r for r in chosen}, executor or LocalExecutor(), deadline, max(1, lanes))
    plan = rounds(chosen, times)
    began = clock()
    with ThreadPoolExecutor(max_workers=phase.lanes, thread_name_prefix="confirm") as pool:
        for ids in plan:
            phase.run_round(pool, deque(ids), need, stop_asked)
            if phase.halted:
                break
    if phase.error is not None:
        raise phase.error  # an executor's error ends the run, as an experiment's does; those done are saved
    total = sum(len(ids) for ids in plan)
    return Outcome(
        phase.ran, clock() - began, total - phase.started, phase.stopped, phase.evaluating, phase.lanes
    )


class _Phase:
    """One confirmation phase under way: lanes free, evaluations in flight, what was done.

    Checkouts (git) and record saves happen in the caller's thread; only the evaluations, which
    wait on sandboxed processes (or a cluster), run in the pool's threads."""

    def __init__(
        self,
        run: Run,
        current: dict[int, ExperimentRecord],
        executor: Executor,
        deadline: Deadline,
        lanes: int,
    ) -> None:
        self.run, self.current, self.executor, self.deadline, self.lanes = (
            run,
            current,
            executor,
            deadline,
            lanes,
        )
        self.evaluator = run.evaluator()
        self.ran = self.started = 0
        self.evaluating = 0.0
        self.halted = self.stopped = False  # no more starts: asked to stop, out of time, or an error
        self.error: Exception | None = None

    def run_round(
        self,
        pool: ThreadPoolExecutor,
        queue: deque[int],
        need: Callable[[ExperimentRecord], float],
        stop_asked: Callable[[], bool],
    ) -> None:
        """Start the round's evaluations on free lanes, record each as it ends; return when none is
        in flight and none is left to start (the next round starts only then: `rounds`)."""
        free = deque(range(self.lanes))
        flight: dict[Future[Verdict], tuple[int, int]] = {}
        while True:
            while queue and free and not self.halted:
                if self._refused(self.current[queue[0]], need, stop_asked):
                    break
                exp, lane = queue.popleft(), free.popleft()
                flight[pool.submit(self._evaluate, self._job(self.current[exp], lane))] = (exp, lane)
                self.started += 1
            if not flight:
                return
            done, _ = wait(flight, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: flight[f]):
                exp, lane = flight.pop(future)
                free.append(lane)
                self._record(exp, future)

    def _refused(
        self,
        record: ExperimentRecord,
        need: Callable[[ExperimentRecord], float],
        stop_asked: Callable[[], bool],
    ) -> bool:
        """True (and no more starts) once a stop is asked or the time left is shorter than `record` needs."""
        if stop_asked():
            self.halted = self.stopped = True
        elif self.deadline.at is not None and (
            self.deadline.left() <= 0.5 or self.deadline.left() < need(record)
        ):
            self.halted = True
        return self.halted

    def _job(self, record: ExperimentRecord, lane: int) -> EvaluationJob:
        """Lane `lane` checked out at the record's commit, as a job named for its next re-evaluation."""
        path = self.run.repo.lane(self.run.record.id, lane)
        self.run.repo.checkout_detached(path, record.commit)
        name = f"{record.id}{LOG_MARK}{len(record.confirmations) + 1}"
        return EvaluationJob(path, name, deadline=self.deadline.at)

    def _evaluate(self, job: EvaluationJob) -> Verdict:
        return self.executor.evaluate_all(self.evaluator, [job])[0]

    def _record(self, exp: int, future: Future[Verdict]) -> None:
        """The ended evaluation appended to its record and saved at once: a crash after it does not
        run it again. An executor's error stops further starts; it is raised once the rest end."""
        try:
            verdict = future.result()
        except Exception as error:  # a KeyboardInterrupt (a stop signal) goes up as it is
            self.error = self.error or error
            self.halted = True
            return
        confirmation = Confirmation(
            status=verdict.status.value,
            metrics=dict(verdict.metrics) if verdict.status is Status.OK else {},
            reason=verdict.reason,
            log_path=verdict.log_path,
            log_digest=verdict.log_digest,
            seconds=round(verdict.wall_time, 3),
        )
        record = self.current[exp]
        record = replace(record, confirmations=[*record.confirmations, confirmation])
        self.run.save_record(record)
        self.current[exp] = record
        self.ran += 1
        self.evaluating += verdict.wall_time
