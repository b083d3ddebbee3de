"""The allowance lanes share: a call holds its worst case, waits for others when they hold what it
needs, and gives back what it did not spend. Real threads, no mocks."""

from __future__ import annotations

import threading
import time

from agent.allowance import Allowance, Hold
from agent.budget import RunBudget, Usage
from agent.deadline import Deadline
from agent.records import Cost
from agent.task import BudgetSpec


def test_a_call_holds_its_worst_case_and_gives_back_the_rest() -> None:
    allowance = Allowance(3000, None)
    first = allowance.hold(1100, 0.0)
    assert first == Hold(1100, None) and allowance.left() == Hold(1900, None)
    allowance.settle(first, Cost(100, 200))
    assert allowance.left() == Hold(2700, None)


def test_a_call_that_needs_what_another_holds_waits_for_it() -> None:
    allowance = Allowance(2000, 0.01)
    first = allowance.hold(1500, 0.008)
    got: list[Hold] = []
    waiter = threading.Thread(target=lambda: got.append(allowance.hold(1500, 0.008, Deadline.after(10))))
    waiter.start()
    time.sleep(0.6)
    assert not got, "the second call did not wait for the first to end"
    allowance.settle(first, Cost(900, 100, usd=0.004))  # spent 1000 tokens, $0.004
    waiter.join(5)
    assert got == [Hold(1000, 0.006)]  # what is left, once nothing else is in flight


def test_with_nothing_in_flight_a_call_gets_what_is_left_at_once() -> None:
    allowance = Allowance(500, None)
    started = time.monotonic()
    assert allowance.hold(1500, 0.0, Deadline.after(10)) == Hold(500, None)
    assert time.monotonic() - started < 0.2


def test_waiting_ends_at_the_deadline() -> None:
    allowance = Allowance(1000, None)
    allowance.hold(900, 0.0)
    started = time.monotonic()
    assert allowance.hold(900, 0.0, Deadline.after(0.3)) == Hold(100, None)
    assert time.monotonic() - started < 2


def test_a_cost_budget_under_a_cent_is_said_as_written() -> None:
    decision = RunBudget(BudgetSpec(cost=0.003)).decide(Usage(cost=0.0044))
    assert decision.reason == "cost budget spent: $0.0044 of $0.003"  # it read "of $0.00"
