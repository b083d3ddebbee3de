"""Run budgets: each limit stops the run with its reason; rejections do not count as experiments."""

from __future__ import annotations

from agent.budget import RunBudget, Usage
from agent.task import BudgetSpec


def test_each_limit_stops_with_its_reason() -> None:
    budget = RunBudget(BudgetSpec(experiments=5, time=60, tokens=1000, cost=0.5), max_rejections=3)
    assert budget.decide(Usage(experiments=4, elapsed=10)).go_on
    cases = {
        "experiment budget spent: 5 of 5": Usage(experiments=5),
        "time budget spent: 61s of 60s": Usage(elapsed=61),
        "token budget spent: 1000 of 1000": Usage(tokens=1000),
        "cost budget spent: $0.5000 of $0.50": Usage(cost=0.5),
        "3 candidates in a row were rejected by the constraints": Usage(rejections_in_a_row=3),
        "stopped on request (strop stop)": Usage(stop_requested=True),
    }
    for reason, usage in cases.items():
        decision = budget.decide(usage)
        assert not decision.go_on and decision.reason == reason


def test_note_says_what_is_left_and_overrides_apply() -> None:
    budget = RunBudget(BudgetSpec(experiments=5, time=60)).with_overrides(experiments=9)
    assert budget.note(Usage(experiments=2, elapsed=20)) == "experiments left: 7 of 9; time left: 40s"
    assert RunBudget(BudgetSpec(experiments=None)).note(Usage()) == "no budget limit"
