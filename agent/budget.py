"""Run budgets: how many experiments, how much wall time, how many tokens and dollars.

Pure logic: the loop measures a `Usage` and asks `RunBudget.decide`; the answer is
go on or stop, always with a reason in words, which the run records.

What counts as an experiment: one that was committed and *evaluated* (experiment 0
included). A candidate refused by the constraint check is recorded but costs no
evaluation, so it does not count; `[constraints] max_rejections` in a row stops the
run instead, so a proposer stuck in an infeasible corner cannot loop forever.
Wall time is the time the run has been *running* (summed over resumes), not the
time since it started.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class BudgetDecision:
    go_on: bool
    reason: str


class RunBudget:
    def __init__(self, spec: BudgetSpec, max_rejections: int = 50, experiments: int | None = None) -> None:
        self.spec = spec
        self.max_rejections = max_rejections
        self.experiments = experiments if experiments is not None else spec.experiments
        self.time = spec.time

    def with_overrides(self, experiments: int | None = None, time: float | None = None) -> RunBudget:
        budget = RunBudget(self.spec, self.max_rejections, experiments or self.experiments)
        budget.time = time if time is not None else self.time
        return budget

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
        if self.time is not None and usage.elapsed >= self.time:
            return BudgetDecision(False, f"time budget spent: {usage.elapsed:.0f}s of {self.time:.0f}s")
        if self.spec.tokens is not None and usage.tokens >= self.spec.tokens:
            return BudgetDecision(False, f"token budget spent: {usage.tokens} of {self.spec.tokens}")
        if self.spec.cost is not None and usage.cost >= self.spec.cost:
            return BudgetDecision(False, f"cost budget spent: ${usage.cost:.4f} of ${self.spec.cost:.2f}")
        if usage.rejections_in_a_row >= self.max_rejections:
            return BudgetDecision(
                False, f"{usage.rejections_in_a_row} candidates in a row were rejected by the constraints"
            )
        return BudgetDecision(True, self.note(usage))

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
