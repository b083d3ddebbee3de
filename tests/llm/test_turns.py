"""Turn policies on scripted sequences of turns: when each stops or extends, and the recorded why."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from agent.records import ExperimentRecord
from agent.run_index import RunIndex
from agent.task import BudgetSpec
from agent.turns import (
    TurnDecision,
    TurnOutcome,
    TurnPolicy,
    TurnState,
    p75,
    successful_turns,
    turn_history,
)
from evaluators.metric import Direction
from evaluators.verdict import Status


def drive(policy: TurnPolicy, script: Sequence[TurnOutcome]) -> list[TurnDecision]:
    """Play the scripted turns until the policy stops; the decisions made, in order."""
    state = policy.start()
    decisions: list[TurnDecision] = []
    done: list[TurnOutcome] = []
    for outcome in script:
        done.append(outcome)
        decision = policy.decide(state, done)
        decisions.append(decision)
        state = decision.state
        if not decision.go_on:
            break
    return decisions


def fail(turn: int, error: str = "ValueError: shapes differ", extend: str | None = None) -> TurnOutcome:
    return TurnOutcome(turn=turn, success=False, error=error, extend=extend)


def budget(**kwargs: object) -> BudgetSpec:
    return BudgetSpec.model_validate(kwargs)


def test_p75_interpolates_and_rounds_up() -> None:
    assert p75([1, 1, 2, 5]) == 3  # 2.75 -> 3
    assert p75([2, 2, 2, 2]) == 2
    assert p75([4]) == 4
    assert p75([1, 2, 3, 4, 5, 6, 7, 8, 9]) == 7


def test_unlimited_never_stops_for_turns_only_on_success() -> None:
    policy = TurnPolicy.from_budget(budget(turns="unlimited"))
    script = [fail(t) for t in range(1, 12)] + [TurnOutcome(12, True, score=0.9)]
    decisions = drive(policy, script)
    assert [d.go_on for d in decisions] == [True] * 11 + [False]
    assert (
        decisions[0].reason
        == "unlimited: turn 1 failed (error 'ValueError: shapes differ'); no turn limit, going on"
    )
    assert decisions[-1].reason == "unlimited: turn 12 succeeded (score 0.9)"
    assert policy.reminder(policy.start(), 5) == "this is turn 5; no turn limit"


def test_fixed_stops_at_the_limit_and_reminds_turns_left() -> None:
    policy = TurnPolicy.from_budget(budget(turns="fixed", turn_limit=3))
    decisions = drive(policy, [fail(1), fail(2), fail(3), fail(4)])
    assert len(decisions) == 3
    assert decisions[1].reason == (
        "fixed: turn 2 of 3 failed (error 'ValueError: shapes differ'); 1 turn(s) left (fixed at 3)"
    )
    assert decisions[2].reason == (
        "fixed: turn 3 of 3 failed (error 'ValueError: shapes differ'); turn limit reached (fixed at 3); stop"
    )
    assert not decisions[2].go_on
    state = policy.start()
    assert policy.reminder(state, 1) == "this is turn 1 of 3; turns left in this attempt after this one: 2"
    assert policy.reminder(state, 3).endswith("after this one: 0")


def test_fixed_ignores_extension_requests() -> None:
    policy = TurnPolicy.from_budget(budget(turns="fixed", turn_limit=1))
    decisions = drive(policy, [fail(1, extend="please")])
    assert not decisions[0].go_on and not decisions[0].extended


def test_success_ends_the_attempt_early() -> None:
    policy = TurnPolicy.from_budget(budget(turns="fixed", turn_limit=5))
    decisions = drive(policy, [fail(1), TurnOutcome(2, True, score=0.97)])
    assert [d.go_on for d in decisions] == [True, False]
    assert decisions[-1].reason == "fixed: turn 2 succeeded (score 0.97)"


def test_p75_uses_history_for_its_limit() -> None:
    policy = TurnPolicy.from_budget(budget(turns="p75", turn_limit=6), successes=[1, 1, 2, 5])
    assert policy.start_limit == 3
    decisions = drive(policy, [fail(t) for t in range(1, 6)])
    assert len(decisions) == 3
    assert decisions[-1].reason.endswith("turn limit reached (p75 of 4 successes in earlier runs); stop")


def test_p75_falls_back_to_turn_limit_without_enough_history() -> None:
    policy = TurnPolicy.from_budget(budget(turns="p75", turn_limit=2), successes=[7, 9])
    assert policy.start_limit == 2
    decisions = drive(policy, [fail(1), fail(2), fail(3)])
    assert len(decisions) == 2
    assert "turn_limit 2: 2 success(es) in earlier runs, p75 needs 3" in decisions[-1].reason


def test_dynamic_grants_an_extension_when_the_error_changed() -> None:
    policy = TurnPolicy.from_budget(
        budget(turns="dynamic", turn_limit=2, extension=2, max_extensions=1), successes=[]
    )
    script = [fail(1, "ImportError: no module x"), fail(2, "ValueError: bad shape", extend="shape bug left")]
    decisions = drive(policy, script)
    assert decisions[-1].go_on and decisions[-1].extended
    assert decisions[-1].state == TurnState(limit=4, extensions=1)
    assert decisions[-1].reason == (
        "dynamic: granted 2 more turn(s) (extension 1 of 1, limit now 4): the model asked for more turns "
        "('shape bug left') and the error changed: 'ImportError: no module x' → 'ValueError: bad shape'"
    )


def test_dynamic_grants_on_score_improvement_then_stops_when_extensions_are_used() -> None:
    policy = TurnPolicy.from_budget(
        budget(turns="dynamic", turn_limit=2, extension=1, max_extensions=1), direction=Direction.MINIMIZE
    )
    script = [
        TurnOutcome(1, False, score=0.50),
        TurnOutcome(2, False, score=0.40, extend="closing in"),
        TurnOutcome(3, False, score=0.30, extend="one more"),
        TurnOutcome(4, True, score=0.1),
    ]
    decisions = drive(policy, script)
    assert [d.go_on for d in decisions] == [True, True, False]
    assert "the score improved 0.5 → 0.4" in decisions[1].reason
    assert decisions[2].reason == (
        "dynamic: turn 3 of 3 failed (score 0.3); turn limit reached; the model asked for more turns "
        "('one more') but all 1 extension(s) are used; stop"
    )


def test_dynamic_stops_without_progress_even_when_asked() -> None:
    policy = TurnPolicy.from_budget(budget(turns="dynamic", turn_limit=2))
    decisions = drive(policy, [fail(1), fail(2, extend="I am sure it is close")])
    assert not decisions[-1].go_on
    assert decisions[-1].reason.endswith(
        "but turns 1 and 2 failed with the same error 'ValueError: shapes differ'; stop"
    )


def test_dynamic_stops_when_the_model_does_not_ask() -> None:
    policy = TurnPolicy.from_budget(budget(turns="dynamic", turn_limit=2))
    decisions = drive(policy, [fail(1, "A"), fail(2, "B")])
    assert decisions[-1].reason == (
        "dynamic: turn 2 of 2 failed (error 'B'); turn limit reached; the model did not ask for more turns; stop"
    )


def test_dynamic_a_worse_score_is_no_progress() -> None:
    policy = TurnPolicy.from_budget(budget(turns="dynamic", turn_limit=2))
    script = [TurnOutcome(1, False, score=0.9), TurnOutcome(2, False, score=0.8, extend="more")]
    decision = drive(policy, script)[-1]
    assert not decision.go_on and "the score did not improve (best so far 0.9)" in decision.reason


def test_dynamic_full_sequence_extends_twice_then_stops() -> None:
    policy = TurnPolicy.from_budget(
        budget(turns="dynamic", turn_limit=1, extension=1, max_extensions=2, turn_history_min=2),
        successes=[1, 1, 2],
    )
    assert policy.start_limit == 2  # p75 of [1, 1, 2] = 1.5 -> 2
    script = [
        fail(1, "E1"),
        fail(2, "E2", extend="new error"),  # limit 2 -> 3
        fail(3, "E3", extend="again"),  # limit 3 -> 4
        fail(4, "E4", extend="and again"),  # extensions used up
    ]
    decisions = drive(policy, script)
    assert [(d.go_on, d.extended, d.state.limit) for d in decisions] == [
        (True, False, 2),
        (True, True, 3),
        (True, True, 4),
        (False, False, 4),
    ]
    assert "all 2 extension(s) are used" in decisions[-1].reason
    last_turn = policy.reminder(TurnState(limit=2), 2)
    assert "EXTEND: <why>" in last_turn and "after this one: 0" in last_turn
    assert "EXTEND" not in policy.reminder(TurnState(limit=4, extensions=2), 4)


def test_turn_state_round_trips() -> None:
    state = TurnState(limit=5, extensions=1)
    assert TurnState.from_dict(state.to_dict()) == state


@pytest.mark.parametrize("status", [Status.OK, Status.BUGGY])
def test_history_comes_from_the_run_index(tmp_path, status: Status) -> None:  # type: ignore[no-untyped-def]
    from agent.records import RunRecord

    index = RunIndex(tmp_path)
    for run_id, task in (("r1", "digits"), ("r2", "other")):
        index.put_run(
            RunRecord(run_id, task, "t.toml", "/repo", "/ws", "main", "abc", "acc", Direction.MAXIMIZE)
        )
        index.put_experiment(  # experiment 0: the baseline, no LLM; it never enters the history
            ExperimentRecord(run_id, 0, None, "b0", "c", status=status, turns=1, proposer="baseline")
        )
        for exp in range(1, 4):
            index.put_experiment(
                ExperimentRecord(run_id, exp, 0, f"b{exp}", "c", status=status, turns=exp, proposer="llm")
            )
    expected = [1, 2, 3] if status is Status.OK else []
    assert sorted(turn_history(index, "digits")) == expected
    assert successful_turns(index.experiments("r2")) == expected


def test_dynamic_from_a_limit_of_1_judges_progress_against_the_parent() -> None:
    from agent.task import BudgetSpec
    from agent.turns import TurnOutcome, TurnPolicy

    policy = TurnPolicy.from_budget(BudgetSpec(turns="dynamic", turn_limit=1), successes=[1, 1, 1])
    assert policy.start_limit == 1
    state = policy.start()
    asked = TurnOutcome(turn=1, success=False, error="ValueError: bad", extend="one more to fix the parse")
    parent = TurnOutcome(turn=0, success=False, error="NameError: x")
    granted = policy.decide(state, [asked], parent)
    assert granted.go_on and granted.extended and "the error changed" in granted.reason
    same = policy.decide(state, [asked], TurnOutcome(turn=0, success=False, error="ValueError: bad"))
    assert not same.go_on and "same error" in same.reason
    alone = policy.decide(state, [asked])
    assert not alone.go_on and "one turn gives nothing to compare" in alone.reason
