"""A run whose experiments all fail one way from experiment 0 stops and points at `strop eval`."""

from __future__ import annotations

from agent.loop.broken_start import broken_start
from agent.records import ExperimentRecord
from evaluators.verdict import Status

SCORER = 'scorer: the evaluator printed no JSON object line such as {"y": 0.93} on stdout'


def _record(
    exp: int, status: Status, reason: str = SCORER, proposer: str = "evolve", mode: str = ""
) -> ExperimentRecord:
    return ExperimentRecord("r", exp, None if exp == 0 else 0, f"b{exp}", "c", status=status, reason=reason,
                            proposer=proposer, mode=mode)  # fmt: skip


def test_five_alike_from_experiment_0_stop_with_the_error_and_strop_eval() -> None:
    records = [_record(i, Status.BUGGY) for i in range(5)]
    assert broken_start(records[:4], "/t/task.toml") is None  # four is not yet a pattern
    reason = broken_start(records, "/t/task.toml")
    assert reason is not None
    assert "experiment 0 (the workspace as it is)" in reason and SCORER in reason
    assert "strop show r/0" in reason and "strop eval /t/task.toml" in reason


def test_numbers_in_the_message_do_not_make_failures_differ_and_rejections_do_not_count() -> None:
    records = [_record(i, Status.BUGGY, f"ValueError: shape ({i}, 3) is wrong") for i in range(5)]
    records.insert(2, _record(9, Status.REJECTED, "constraints: violates x"))
    assert broken_start(records, "t") is not None


def test_one_score_a_second_kind_of_error_or_code_edits_keep_the_run_going() -> None:
    alike = [_record(i, Status.BUGGY) for i in range(6)]
    assert broken_start([*alike[:5], _record(5, Status.OK, "")], "t") is None
    assert broken_start([*alike[:4], _record(4, Status.BUGGY, "KeyError: 'x'")], "t") is None
    assert broken_start([*alike[:4], _record(4, Status.TIMEOUT, "timed out after 10s")], "t") is None
    edited = [alike[0], *(_record(i, Status.BUGGY, proposer="llm", mode="text") for i in range(1, 6))]
    assert broken_start(edited, "t") is None  # an LLM repairing a broken workspace may need more tries
    llm_params = [alike[0], *(_record(i, Status.BUGGY, proposer="llm", mode="params") for i in range(1, 6))]
    assert broken_start(llm_params, "t") is not None
    assert broken_start(alike[1:6], "t") is None  # experiment 0 not evaluated (yet): no verdict on the task
