"""A resume's own time: its stop line says it beside the run's, and what to give when too short.

Pure logic (`agent.budget`); the loop's side is `tests/loop/test_resume_short.py`.
"""

from __future__ import annotations

from agent.budget import RunBudget, Usage, cut_need, final_reserve, seconds_word, time_to_give
from agent.task import BudgetSpec


def test_a_resume_stop_line_says_its_own_time_beside_the_runs() -> None:
    budget = RunBudget(BudgetSpec(time=30)).with_overrides(time=83.3)  # 23.3 s before, then --time 60s
    reason = budget.decide(Usage(elapsed=74.8, before=23.3, out_of_time=True)).reason
    assert reason == (
        "time budget spent: 74.8s of 83.3s "
        "(this resume: 51.5s of 60s; the rest is kept for the final phase and closing)"
    )
    assert budget.decide(Usage(elapsed=84.0, before=23.3)).reason == (
        "time budget spent: 84.0s of 83.3s (this resume: 60.7s of 60s)"
    )
    # a first stretch as before: no resume to speak of
    assert (
        RunBudget(BudgetSpec(time=30)).decide(Usage(elapsed=31)).reason == "time budget spent: 31.0s of 30s"
    )


def test_a_resume_too_short_says_what_does_not_fit_and_what_to_give() -> None:
    budget = RunBudget(BudgetSpec(time=30)).with_overrides(time=68.3)
    short = "experiment 0 (cut after 21s before: ~31s) and the final phase (~15s kept) do not fit in 44s: give --time 60s"
    reason = budget.decide(Usage(elapsed=24.3, before=23.3, out_of_time=True, short=short)).reason
    assert reason == f"time budget spent: 24.3s of 68.3s (this resume: 1.0s of 45s): {short}"


def test_an_evaluation_cut_before_needs_more_than_it_ran_at_most_its_timeout() -> None:
    assert cut_need(20.0, timeout=60) == 30.0
    assert cut_need(50.0, timeout=60) == 60.0  # the timeout ends it anyway
    assert cut_need(70.0, timeout=60) == 70.0  # never less than it ran


def test_the_time_to_give_fits_the_need_beside_the_reserve_that_time_keeps() -> None:
    """The strop resume of the red-team report: experiment 0 cut after 21 s, 1.4 s of start-up."""
    need = cut_need(21.0, timeout=60)

    def reserve(total: float) -> float:
        return final_reserve([21.0], timeout=60, time_budget=total)

    give = time_to_give(need, 1.4 + 2.0, reserve)
    assert give == 60 and give % 5 == 0
    assert give - 3.4 - reserve(give) >= need  # it fits
    assert (give - 5) - 3.4 - reserve(give - 5) < 1.1 * need  # and no smaller step does
    # a resume's reserve is a third of its own time, whatever the run used before
    assert final_reserve([21.0], timeout=60, time_budget=45) == 15


def test_durations_are_written_as_time_takes_them() -> None:
    assert [seconds_word(s) for s in (5, 59.2, 119, 120, 150, 3600)] == [
        "5s",
        "60s",
        "119s",
        "2m",
        "2m30s",
        "60m",
    ]
