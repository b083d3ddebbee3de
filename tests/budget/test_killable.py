"""Calls that cannot be interrupted in-process end at their limit: a killable child, really killed.

The Z3 check here is the one that held `strop evolve numerics` past its --time (issue 18):
a denominator check of an evolved float64 program for exp on [-1, 1] that ran 502 s in the
engine's process at `rlimit` 400 000 (measured under load ~8; tens of seconds on a quiet machine).
"""

from __future__ import annotations

import os
import time

import pytest

from agent.deadline import Deadline
from agent.domains.numerics.denominators import BoundedProver
from agent.domains.numerics.program import Node, Program
from agent.killable import CallFailed, CallTimedOut, KillableCall


def slow_z3_program() -> Program:
    """(p(x²) + x/q(x²)) / (p(x²) − x/q(x²)): its denominator vanishes near x = 0.52, which Z3 takes minutes to find."""
    c = lambda value: Node("const", (), value)  # noqa: E731
    return Program(
        (
            Node("x"),
            Node("mul", (0, 0)),
            c(0.000991920694944736),
            c(0.11137790475558917),
            Node("fma", (2, 1, 3)),
            c(1.0026509993067272),
            Node("fma", (4, 1, 5)),
            c(3.292675235627788e-05),
            c(0.013911827417394043),
            Node("fma", (7, 1, 8)),
            c(0.5013254996528292),
            Node("fma", (9, 1, 10)),
            Node("div", (0, 11)),
            Node("add", (6, 12)),
            Node("sub", (6, 12)),
            Node("div", (13, 14)),
        )
    )


def test_a_call_past_its_timeout_is_killed_and_the_next_call_gets_a_fresh_child() -> None:
    with KillableCall(time.sleep) as call:
        assert call.call(0.0, timeout=30) is None
        first = call._process.pid
        started = time.monotonic()
        with pytest.raises(CallTimedOut):
            call.call(3600, timeout=0.5)
        assert time.monotonic() - started < 10
        assert call.kills == 1
        with pytest.raises(ProcessLookupError):
            os.kill(first, 0)  # the child that slept is gone, not left running
        assert call.call(0.0, timeout=30) is None
        assert call._process.pid != first


def test_errors_come_back_and_no_time_means_no_call() -> None:
    with KillableCall(int) as call:
        assert call.call("42", timeout=30) == 42
        with pytest.raises(CallFailed, match="invalid literal"):
            call.call("forty-two", timeout=30)
        with pytest.raises(CallTimedOut):
            call.call("1", timeout=0)


def test_a_z3_check_that_ignores_its_rlimit_is_cut_at_the_provers_limit() -> None:
    prover = BoundedProver(seconds=2.0)
    started = time.monotonic()
    try:
        verdict = prover(slow_z3_program(), -1.0, 1.0, 400_000)
    finally:
        prover.close()
    assert verdict.status == "timeout"  # not a proof: the candidate is evaluated as usual
    assert time.monotonic() - started < 2.0 + 10  # + starting the child under load
    assert prover.kills == 1


def test_the_prover_never_outlives_the_search_deadline() -> None:
    prover = BoundedProver(seconds=60.0, deadline=Deadline.after(1.0))
    started = time.monotonic()
    try:
        verdict = prover(slow_z3_program(), -1.0, 1.0, 400_000)
        late = prover(slow_z3_program(), -1.0, 1.0, 400_000)
    finally:
        prover.close()
    assert verdict.status == late.status == "timeout"
    assert time.monotonic() - started < 1.0 + 10


def test_the_numerics_domain_evaluates_a_candidate_whose_check_was_cut() -> None:
    from agent.domains.numerics.domain import NumericsDomain

    prover = BoundedProver(seconds=1.0)
    domain = NumericsDomain(
        "exp",
        -1.0,
        1.0,
        "float64",
        max_cost=24,
        cost_model_name="ops",
        fit_points=64,
        score_points=128,
        prover=prover,
    )
    try:
        checked = domain.check(slow_z3_program())
    finally:
        prover.close()
    assert not isinstance(checked, str)  # not rejected: an unfinished check proves nothing
    assert domain.tally.timed_out == domain.tally.unknown == 1
