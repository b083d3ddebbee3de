"""The run-wide deadline: time left, expiry and clamping, on a pinned clock."""

from __future__ import annotations

import math
import time

from agent.deadline import Deadline


def test_no_deadline_is_unbounded() -> None:
    deadline = Deadline.after(None)
    assert deadline.at is None
    assert deadline.left() == math.inf
    assert not deadline.expired()
    assert deadline.clamp(30.0) == 30.0
    assert deadline.clamp(None) == math.inf
    assert not deadline.cuts(1e9)


def test_after_counts_from_now() -> None:
    deadline = Deadline.after(20, now=1000.0)
    assert deadline.at == 1020.0
    assert deadline.left(now=1005.0) == 15.0
    assert not deadline.expired(now=1019.9)
    assert deadline.expired(now=1020.0)
    assert deadline.left(now=1100.0) == 0.0  # never negative


def test_after_uses_the_wall_clock() -> None:
    before = time.time()
    deadline = Deadline.after(5)
    assert before + 5 <= deadline.at <= time.time() + 5
    assert 0 < deadline.left() <= 5


def test_clamp_takes_the_smaller() -> None:
    deadline = Deadline(1060.0)
    assert deadline.clamp(30.0, now=1000.0) == 30.0
    assert deadline.clamp(120.0, now=1000.0) == 60.0
    assert deadline.clamp(None, now=1000.0) == 60.0
    assert deadline.clamp(10.0, now=2000.0) == 0.0
    assert deadline.cuts(120.0, now=1000.0)
    assert not deadline.cuts(30.0, now=1000.0)


def test_earlier_and_minus() -> None:
    run, step = Deadline(100.0), Deadline(50.0)
    assert run.earlier(step) is step
    assert step.earlier(run) is step
    assert Deadline(None).earlier(step) is step
    assert run.earlier(Deadline(None)) is run
    assert run.minus(30.0) == Deadline(70.0)
    assert Deadline(None).minus(30.0) == Deadline(None)


def test_process_started_is_before_now_and_recent() -> None:
    from agent.deadline import process_started

    started = process_started()
    assert started <= time.time()
    assert time.time() - started < 24 * 3600  # this test process started today
