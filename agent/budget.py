"""Run budgets: how many experiments, how much wall time, how many tokens and dollars.

Pure logic: the loop measures a `Usage` and asks `RunBudget.decide`; the answer is
go on or stop, always with a reason in words, which the run records.

What counts as an experiment: one that was committed and *evaluated* (experiment 0
included). With an LLM proposer every attempt counts, evaluated or rejected (each one
paid for model calls; the turns inside one attempt are the same experiment), so
`experiments = 3` means three attempts; one whose model call the token or cost budget left
could not pay for was never sent and is none: the run stops naming that budget
(`Usage.unaffordable`), with nothing recorded for it. With the offline proposer a candidate refused
by the constraint check costs nothing and does not count. Either way
`[constraints] max_rejections` in a row stops the run, naming the last reason, so a
proposer stuck in a corner cannot loop forever.
Wall time is the time the run has been *running* (summed over resumes), not the
time since it started. The loop turns it into one `Deadline` (agent.deadline) that
every LLM call and evaluation is clamped to, with the hidden-test `final` phase's time
reserved before it (`final_reserve`), and confirmation's (`confirm_reserve`); `overrun` says by
how much a budget was missed. Confirmations are never experiments: they count no experiment.
A resume's own time (`strop resume RUN --time T`) is a stretch of its own: the reserve is judged
against T, not the run's total, and when what it must do cannot fit in T the stop line says how
much to give (`time_to_give`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from agent.task import BudgetSpec


@dataclass(frozen=True)
class Usage:
    experiments: int = 0  # evaluated, experiment 0 included
    elapsed: float = 0.0  # seconds of running, over every resume
    tokens: int = 0
    cost: float = 0.0
    rejections_in_a_row: int = 0
    stop_requested: bool = False
    last_rejection: str = ""  # the reason of the latest rejection, for the stop message
    out_of_time: bool = False  # the run's deadline (less the final phase's reserve) has passed
    unaffordable: str = ""  # the latest model call was not sent: the token or cost budget left cannot pay
    before: float = 0.0  # seconds earlier stretches ran: this one (a resume) has the budget less them
    short: str = ""  # out of time before this stretch started anything: what does not fit, what to give


@dataclass(frozen=True)
class BudgetDecision:
    go_on: bool
    reason: str


def experiment_cap(spec: BudgetSpec, experiments: int | None, time: float | None) -> int | None:
    """The run's experiment limit (None: none) from the task's `[budget]` and the command line's.

    `-n N` sets it, `-n 0` lifts it (`strop mle run --time` without `-n`). A `--time` given without
    `-n` over a task file that names no count lifts the default count, as a `time` written alone
    in the file does: `strop run TASK --time 20s` stopped after the default 20 experiments, in 6 s.
    """
    if experiments is not None:
        return experiments or None
    if time is not None and "experiments" not in spec.model_fields_set:
        return None
    return spec.experiments


class RunBudget:
    def __init__(
        self,
        spec: BudgetSpec,
        max_rejections: int = 50,
        experiments: int | None = None,
        counts_rejections: bool = False,
    ) -> None:
        self.spec = spec
        self.max_rejections = max_rejections
        self.experiments = experiments if experiments is not None else spec.experiments
        self.time = spec.time
        self.counts_rejections = counts_rejections  # LLM runs: every attempt is an experiment
        self.final = (
            True  # the task has a hidden-test `final` phase, which time is kept for (else closing only)
        )

    def with_overrides(self, experiments: int | None = None, time: float | None = None) -> RunBudget:
        """The command line's budget over the task's (`experiment_cap`)."""
        budget = RunBudget(self.spec, self.max_rejections, self.experiments, self.counts_rejections)
        budget.final = self.final
        budget.experiments = experiment_cap(self.spec, experiments, time)
        budget.time = time if time is not None else self.time
        return budget

    def tokens_left(self, usage: Usage) -> int | None:
        return None if self.spec.tokens is None else max(0, self.spec.tokens - usage.tokens)

    def usd_left(self, usage: Usage) -> float | None:
        return None if self.spec.cost is None else max(0.0, self.spec.cost - usage.cost)

    def experiments_left(self, usage: Usage) -> int | None:
        return None if self.experiments is None else max(0, self.experiments - usage.experiments)

    def decide(self, usage: Usage) -> BudgetDecision:
        """Stop at the first exhausted limit, in a fixed order; otherwise go on."""
        if usage.stop_requested:
            return BudgetDecision(False, "stopped on request (strop stop)")
        if self.experiments is not None and usage.experiments >= self.experiments:
            return BudgetDecision(
                False, f"experiment budget spent: {usage.experiments} of {self.experiments}"
            )
        if self.time is not None and (usage.elapsed >= self.time or usage.out_of_time):
            return BudgetDecision(False, self._time_spent(usage, self.time))
        if usage.unaffordable:
            return BudgetDecision(False, usage.unaffordable)
        if self.spec.tokens is not None and usage.tokens >= self.spec.tokens:
            return BudgetDecision(False, f"token budget spent: {usage.tokens} of {self.spec.tokens}")
        if self.spec.cost is not None and usage.cost >= self.spec.cost:
            return BudgetDecision(
                False, f"cost budget spent: ${usage.cost:.4f} of ${_dollars(self.spec.cost)}"
            )
        if usage.rejections_in_a_row >= self.max_rejections:
            last = f"; the last: {usage.last_rejection[:200]}" if usage.last_rejection else ""
            return BudgetDecision(
                False, f"{usage.rejections_in_a_row} candidates in a row were rejected{last}"
            )
        return BudgetDecision(True, self.note(usage))

    def _time_spent(self, usage: Usage, time: float) -> str:
        """`time budget spent: 24.1s of 68.2s (this resume: 0.9s of 45s): …`: the run's total, then
        this stretch's own time and budget (a resume's `--time`), then why time is left unused."""
        parts = []
        if usage.before > 0:
            parts.append(
                f"this resume: {usage.elapsed - usage.before:.1f}s of {round(time - usage.before, 1):g}s"
            )
        if usage.elapsed < time and not usage.short:
            parts.append(f"the rest is kept for {'the final phase and ' if self.final else ''}closing")
        said = f"time budget spent: {usage.elapsed:.1f}s of {round(time, 1):g}s"
        said += f" ({'; '.join(parts)})" if parts else ""
        return f"{said}: {usage.short}" if usage.short else said

    def note(self, usage: Usage) -> str:
        """The budget left, in words, for prompts and progress lines."""
        parts = []
        if self.experiments is not None:
            parts.append(f"experiments left: {self.experiments_left(usage)} of {self.experiments}")
        if self.time is not None:
            parts.append(f"time left: {max(0.0, self.time - usage.elapsed):.0f}s")
        if self.spec.tokens is not None:
            parts.append(f"tokens left: {max(0, self.spec.tokens - usage.tokens)}")
        if self.spec.cost is not None:
            parts.append(f"cost left: ${max(0.0, self.spec.cost - usage.cost):.4f}")
        return "; ".join(parts) or "no budget limit"


def _dollars(usd: float) -> str:
    """A budget in dollars as written: `0.50`, `0.003` (to the cent, a budget under one read `$0.00`)."""
    return f"{usd:.2f}" if round(usd, 2) == usd else f"{usd:.6g}"


def final_reserve(
    eval_seconds: list[float],
    timeout: float,
    time_budget: float | None,
    best_seconds: float | None = None,
    refit: bool = False,
    folds: int = 1,
) -> float:
    """Seconds to keep for the hidden-test `final` phase: 1.5 x the evaluation it will repeat, plus 1 s.

    `time_budget` is the time this stretch has: the run's, or a resume's own `--time` (judged by
    the run's total over every stretch, a third of it outgrew a short resume: `strop resume --time
    45s` kept 23 s of its 44 s and stopped at once, with the time it needed unsaid).

    With `folds`, an evaluation ran both stages once per fold and the final phase runs them once:
    the times given are divided by `folds`.

    With `refit` (the final phase reads `final_public`, e.g. more training rows) it is 3 x: the
    refit may take 60% of it (1.8 x, for a fit on a quarter more rows), and if it fails the
    evaluation as selected runs in the rest (see `evaluators.staged`).

    `final` re-runs the best experiment, so its own evaluation time counts (`best_seconds`), not
    only the recent median: a slow ensemble that leads among cheap recent tries would otherwise
    find too little time left and lose the run's one final score. Before any evaluation it is the
    evaluator's timeout, at most a sixth of the time budget. Never more than a third of the time
    budget, so a slow evaluator cannot leave the search no time at all. (`final` itself is clamped
    to the run's deadline, so a short reserve costs its result, not time.)
    """
    recent = sorted(seconds / folds for seconds in eval_seconds[-5:])
    best_seconds = best_seconds / folds if best_seconds else None
    if not recent:
        return max(0.0, min(timeout, time_budget / 6 if time_budget is not None else timeout))
    guess = (3.0 if refit else 1.5) * max(recent[len(recent) // 2], best_seconds or 0.0) + 1.0
    cap = time_budget / 3 if time_budget is not None else guess
    return max(0.0, min(guess, cap))


def confirm_reserve(
    eval_seconds: list[float],
    contenders: int,
    times: int,
    timeout: float,
    time_budget: float | None,
    lanes: int = 1,
) -> float:
    """Seconds to keep for confirmation (`[evaluator] confirm`): `times` rounds, each of
    ceil(`contenders` / `lanes`) evaluations one after the other (a round's run `lanes` at once), of
    1.5 x the recent median (`typical_seconds`; before any, the evaluator's timeout), at most half the
    time budget, so that confirming cannot leave the search no time. 0 when confirmation is off.

    It is an estimate: confirmations that do not fit the time left are not started (each contender
    keeps what it was measured so far), so a short reserve costs measurements, not the deadline.
    """
    if times <= 0 or contenders <= 0:
        return 0.0
    each = typical_seconds(eval_seconds) or timeout
    serial = math.ceil(contenders / max(1, lanes))  # a round's evaluations that follow one another
    guess = 1.5 * serial * times * each + 1.0  # as `final_reserve`: a checkout and a sandbox each
    return max(0.0, min(guess, time_budget / 2)) if time_budget is not None else guess


CUT_GROWTH = 1.5
"""An evaluation a deadline cut after s seconds needed more than s: it is expected to take 1.5 s."""


def cut_need(cut_seconds: float, timeout: float) -> float:
    """Seconds an evaluation cut after `cut_seconds` is expected to need when run again.

    More than it ran (it was not done), at most its evaluator's timeout, which ends it anyway.
    Judged by what it ran alone, a resume started it with time for no more, and the deadline cut
    it again: the whole resume spent for nothing.
    """
    return max(cut_seconds, min(CUT_GROWTH * cut_seconds, timeout))


def time_to_give(
    need: float, fixed: float, reserve_for: Callable[[float], float], step: float = 5.0
) -> float:
    """The `--time` (a multiple of `step` seconds) in which `need` seconds of evaluation fit.

    `fixed`: the seconds a stretch spends whatever it is given (its start-up, closing);
    `reserve_for(T)`: what a stretch of T seconds keeps for the final phase (`final_reserve`).
    A tenth more for a machine slower than the last time.
    """
    total = step
    while total < 1e6 and total - fixed - reserve_for(total) < 1.1 * need:
        total += step
    return total


def seconds_word(seconds: float) -> str:
    """`60s`, `2m`, `1m30s`: a duration as `--time` takes it."""
    whole = int(math.ceil(seconds))
    if whole < 120:
        return f"{whole}s"
    minutes, rest = divmod(whole, 60)
    return f"{minutes}m{rest}s" if rest else f"{minutes}m"


def typical_seconds(eval_seconds: list[float], count: int = 9) -> float:
    """The median of the latest `count` evaluations, in the order they ran (0 before any).

    What the next evaluation is expected to take, so that one is not started when the time left is
    shorter. The latest, not the slowest: the median of the 9 slowest of a run is its slow tail, and
    judged by it a run whose search moved to cheaper candidates stopped early with time to spare.
    """
    recent = sorted(eval_seconds[-count:])
    return recent[len(recent) // 2] if recent else 0.0


def overrun(name: str, used: float, limit: float, unit: str = "s") -> str:
    """`time: 20.4s of 20s (0.4s over, +2.0%)`: how a spent budget compares with its limit."""
    delta = used - limit
    word = "over" if delta > 0 else "under"
    share = f", {delta / limit:+.1%}" if limit else ""
    if unit == "$":
        return f"{name}: ${used:.4f} of ${limit:.4f} (${abs(delta):.4f} {word}{share})"
    if unit == "s":
        return f"{name}: {used:.1f}s of {round(limit, 1):g}s ({abs(delta):.1f}s {word}{share})"
    return f"{name}: {used:g} of {limit:g} ({abs(delta):g} {word}{share})"
