"""Run budgets: each limit stops the run with its reason; rejections do not count as experiments."""

from __future__ import annotations

from agent.budget import RunBudget, Usage
from agent.task import BudgetSpec


def test_each_limit_stops_with_its_reason() -> None:
    budget = RunBudget(BudgetSpec(experiments=5, time=60, tokens=1000, cost=0.5), max_rejections=3)
    assert budget.decide(Usage(experiments=4, elapsed=10)).go_on
    cases = {
        "experiment budget spent: 5 of 5": Usage(experiments=5),
        "time budget spent: 61.0s of 60s": Usage(elapsed=61),
        "time budget spent: 50.0s of 60s (the rest is kept for the final phase and closing)": Usage(
            elapsed=50, out_of_time=True
        ),
        "token budget spent: 1000 of 1000": Usage(tokens=1000),
        "cost budget spent: $0.5000 of $0.50": Usage(cost=0.5),
        "3 candidates in a row were rejected; the last: llm: no usable edit": Usage(
            rejections_in_a_row=3, last_rejection="llm: no usable edit"
        ),
        "3 candidates in a row were rejected": Usage(rejections_in_a_row=3),
        "stopped on request (strop stop)": Usage(stop_requested=True),
    }
    for reason, usage in cases.items():
        decision = budget.decide(usage)
        assert not decision.go_on and decision.reason == reason


def test_note_says_what_is_left_and_overrides_apply() -> None:
    budget = RunBudget(BudgetSpec(experiments=5, time=60)).with_overrides(experiments=9)
    assert budget.note(Usage(experiments=2, elapsed=20)) == "experiments left: 7 of 9; time left: 40s"
    assert RunBudget(BudgetSpec(experiments=None)).note(Usage()) == "no budget limit"


def test_every_attempt_counts_only_when_rejections_count() -> None:
    llm = RunBudget(BudgetSpec(experiments=3), counts_rejections=True).with_overrides(time=20)
    assert llm.counts_rejections and llm.time == 20 and llm.experiments == 3
    assert not RunBudget(BudgetSpec(experiments=3)).counts_rejections


def test_the_typical_evaluation_is_the_median_of_the_latest_not_of_the_slowest() -> None:
    """A run whose search moved to cheaper candidates must not be judged by its slow early tail:
    the median of the 9 slowest (10 s here) stopped such runs with a tenth of their time unused."""
    from agent.budget import typical_seconds

    assert typical_seconds([]) == 0.0
    assert typical_seconds([10.0] * 9 + [1.0] * 9) == 1.0
    assert typical_seconds([1.0] * 9 + [10.0] * 9) == 10.0
    assert typical_seconds([3.0, 9.0, 1.0]) == 3.0
    assert typical_seconds([7.0, 1.0, 2.0, 3.0], count=3) == 2.0


def test_final_reserve_and_overrun() -> None:
    from agent.budget import final_reserve, overrun

    assert final_reserve([], timeout=60, time_budget=30) == 5  # a sixth of the budget before any history
    assert final_reserve([30.0], timeout=60, time_budget=30) == 10  # a third of the budget at most
    assert final_reserve([], timeout=5, time_budget=30) == 5  # the evaluator's timeout before any run
    assert final_reserve([1.0, 9.0, 2.0], timeout=60, time_budget=300) == 1.5 * 2.0 + 1.0  # median
    # the best experiment is what `final` repeats: a slow leader among cheap recent tries counts
    assert final_reserve([1.0, 9.0, 2.0], timeout=60, time_budget=300, best_seconds=9.0) == 1.5 * 9.0 + 1.0
    assert final_reserve([1.0, 9.0, 2.0], timeout=60, time_budget=300, best_seconds=0.5) == 1.5 * 2.0 + 1.0
    # A final phase that refits on more rows first keeps time to run the selected one after it.
    assert final_reserve([1.0, 9.0, 2.0], timeout=60, time_budget=300, best_seconds=9.0, refit=True) == 28.0
    # An evaluation over 5 folds ran both stages five times; the final phase runs them once.
    assert final_reserve([5.0, 45.0, 10.0], 60, 300, best_seconds=45.0, refit=True, folds=5) == 28.0
    assert overrun("time", 20.4, 20) == "time: 20.4s of 20s (0.4s over, +2.0%)"
    assert (
        overrun("time", 43.9, 43.4154) == "time: 43.9s of 43.4s (0.5s over, +1.1%)"
    )  # a budget left on resume
    assert overrun("time", 19.0, 20) == "time: 19.0s of 20s (1.0s under, -5.0%)"
    assert overrun("experiments", 3, 3, unit="") == "experiments: 3 of 3 (0 under, +0.0%)"


def test_an_override_of_0_experiments_lifts_the_limit_and_none_keeps_the_tasks() -> None:
    """`strop mle run --time 10m` without -n stopped at 12 experiments, about 2 minutes in."""
    budget = RunBudget(BudgetSpec(experiments=12))
    assert budget.with_overrides(None, 600.0).experiments == 12
    assert budget.with_overrides(30, None).experiments == 30
    unlimited = budget.with_overrides(0, 600.0)
    assert unlimited.experiments is None and unlimited.time == 600.0
    assert unlimited.decide(Usage(experiments=500, elapsed=10.0)).go_on
    assert not unlimited.decide(Usage(experiments=500, elapsed=600.0)).go_on


def test_a_task_without_a_final_phase_keeps_time_for_closing_only() -> None:
    """The stop line said time was "kept for the final phase" of a task that has none."""
    budget = RunBudget(BudgetSpec(time=60))
    budget.final = False
    reason = budget.with_overrides(time=30).decide(Usage(elapsed=25, out_of_time=True)).reason
    assert reason == "time budget spent: 25.0s of 30s (the rest is kept for closing)"
