"""Issue 19: every LLM attempt counts, unhealable errors stop the run, calls are accounted in full.

Real loop, real git, real `openai` client against the scripted server; only the model's words are fake.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.deadline import Deadline
from agent.llm import ChatMessage, LLMClient
from agent.llm.errors import LLMOutOfTime
from agent.llm.scripted_server import RecordedRequest, Reply, ScriptedServer
from agent.loop import Overrides, start_run
from agent.run_index import RunIndex
from agent.task import LLMSpec, load_task
from agent.turns import turn_history
from evaluators.verdict import Status
from tests.llm.support import git, git_workspace, llm_task_file


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    evaluate = 'import json, model\nprint(json.dumps({"score": model.VALUE}))\n'
    return git_workspace(tmp_path, {"model.py": "VALUE = 1\n", "evaluate.py": evaluate})


def task_file(
    tmp_path: Path, workspace: Path, server: ScriptedServer, experiments: int = 3, parallel: int = 1
) -> Path:
    return llm_task_file(tmp_path, workspace, server, "attempts", experiments, parallel)


def good(request: RecordedRequest) -> Reply:
    return Reply.text(
        "Raise VALUE.\n\nmodel.py\n```python\n<<<<<<< SEARCH\nVALUE = 1\n=======\nVALUE = 2\n>>>>>>> REPLACE\n```\n"
    )


@pytest.fixture
def index(isolated_home: Path) -> Iterator[RunIndex]:
    opened = RunIndex(isolated_home)
    yield opened
    opened.close()


def test_experiments_3_with_a_model_that_never_writes_code_ends_after_3(
    tmp_path: Path, workspace: Path, index: RunIndex, isolated_home: Path
) -> None:
    with ScriptedServer(lambda r: Reply.text("I think the code is fine as it is.")) as server:
        result = start_run(load_task(task_file(tmp_path, workspace, server)), isolated_home, index)
        calls = len(server.completions)
    assert [r.id for r in result.records] == [0, 1, 2]  # experiment 0 and two rejected attempts
    assert [r.status for r in result.records] == [Status.OK, Status.REJECTED, Status.REJECTED]
    assert calls == 2
    assert result.stop_reason == "experiment budget spent: 3 of 3"
    # the baseline (no model at all) and the failed attempts never enter the turn history
    assert turn_history(index, "attempts", "scripted") == []


def test_turn_history_holds_llm_successes_only_per_model(
    tmp_path: Path, workspace: Path, index: RunIndex, isolated_home: Path
) -> None:
    with ScriptedServer(good) as server:
        start_run(load_task(task_file(tmp_path, workspace, server, experiments=2)), isolated_home, index)
    assert turn_history(index, "attempts", "scripted") == [1]  # experiment 1 only, not experiment 0
    assert turn_history(index, "attempts", "another-model") == []


def test_a_401_stops_the_run_with_one_line_and_exit_2(
    tmp_path: Path, workspace: Path, isolated_home: Path
) -> None:
    with ScriptedServer(lambda r: Reply.error(401, "invalid api key")) as server:
        path = task_file(tmp_path, workspace, server, experiments=10)
        env = {**os.environ, "STROP_HOME": str(isolated_home), "OPENAI_API_KEY": "sk-wrong-0000"}
        done = subprocess.run(
            [sys.executable, "-m", "agent.cli", "run", str(path), "--quiet"],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        calls = len(server.completions)
    assert done.returncode == 2, done.stderr
    # besides the start-up warnings (local sandbox, one-stage evaluator), one line: the error, last
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert (
        errors == [lines[-1]]
        and errors[0].startswith("error: the run stopped: HTTP 401")
        and "strop resume" in errors[0]
    ), done.stderr
    assert "$OPENAI_API_KEY" in errors[0]
    assert "Traceback" not in done.stderr and "sk-wrong" not in done.stderr
    assert calls == 1  # no retry, no second attempt


def test_a_context_overflow_is_never_resent_unchanged(
    tmp_path: Path, workspace: Path, index: RunIndex, isolated_home: Path
) -> None:
    (workspace / "data.py").write_text("".join(f"ROW_{i} = {i * 7919 % 10007}\n" for i in range(3000)))
    git(workspace, "add", "-A")
    git(workspace, "commit", "-qm", "data")

    def answer(request: RecordedRequest) -> Reply:
        if len(request.prompt) > 12_000:
            return Reply.context_overflow(limit=4096, asked=len(request.prompt) // 3)
        return good(request)

    with ScriptedServer(answer) as server:
        result = start_run(
            load_task(task_file(tmp_path, workspace, server, experiments=2)), isolated_home, index
        )
        bodies = [r.raw for r in server.completions]
        sizes = [len(r.prompt) for r in server.completions]
    assert len(bodies) == len(set(bodies)), "a request was sent twice unchanged"
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] <= 12_000 < sizes[0]
    attempt = {r.id: r for r in result.records}[1]
    assert attempt.status is Status.OK and attempt.metrics["score"] == 2
    assert any("context overflow: prompt cut from" in d for d in attempt.decisions)


def test_a_slow_reply_past_the_deadline_is_cancelled_on_the_server_and_counted() -> None:
    with ScriptedServer([Reply.slow("word " * 400, chunk_delay=0.1)]) as server:
        client = LLMClient(LLMSpec(base_url=server.base_url, model="m", request_timeout=30.0), environ={})
        started = time.monotonic()
        with client, pytest.raises(LLMOutOfTime) as caught:
            client.complete([ChatMessage("user", "hello there")], deadline=Deadline.after(1.0))
        took = time.monotonic() - started
        time.sleep(0.5)  # the server notices the closed stream at its next write
        cancelled, sent = list(server.cancelled), dict(server.sent)
    assert took < 2.0
    assert cancelled == [1] and 3 <= sent[1] < 400  # stopped generating, long before the end
    error = caught.value
    assert error.log.cancelled == 1 and error.log.timeouts == 1
    assert error.cost.completion_tokens >= 3 and error.cost.estimated == error.cost.tokens > 0
    assert "cancelled" in error.log.line()


def test_finish_reason_length_is_recorded(
    tmp_path: Path, workspace: Path, index: RunIndex, isolated_home: Path
) -> None:
    def cut(request: RecordedRequest) -> Reply:
        return Reply.text(
            "Raise VALUE.\n\nmodel.py\n```python\n<<<<<<< SEARCH\nVALUE = 1\n", finish_reason="length"
        )

    with ScriptedServer(cut) as server:
        result = start_run(
            load_task(task_file(tmp_path, workspace, server, experiments=2)), isolated_home, index
        )
    attempt = {r.id: r for r in result.records}[1]
    said = "\n".join(attempt.decisions)
    assert "finish length" in said and "hit max_tokens (4096) and is incomplete" in said


def test_two_lanes_call_the_model_at_once(
    tmp_path: Path, workspace: Path, index: RunIndex, isolated_home: Path
) -> None:
    def slow_good(request: RecordedRequest) -> Reply:
        reply = good(request)
        return Reply.text(reply.content or "", delay=1.0)

    with ScriptedServer(slow_good) as server:
        path = task_file(tmp_path, workspace, server, experiments=3, parallel=2)
        start_run(load_task(path), isolated_home, index, Overrides(parallel=2))
        times = sorted(server.times.values())
    assert len(times) == 2
    (first_in, first_out), (second_in, _) = times
    assert second_in < first_out, f"the calls did not overlap: {times}"


def test_async_lanes_with_two_turns_each_finish_every_attempt(
    tmp_path: Path, workspace: Path, index: RunIndex, isolated_home: Path
) -> None:
    """A lane's next turn is proposed while the other lane evaluates; every turn is recorded once."""
    from agent.home import strop_home
    from agent.loop.audit import audit_run

    # each break and each fix new code: code another attempt already had is sent back, not evaluated
    fixes, breaks = itertools.count(9), itertools.count(1)

    def rising(request: RecordedRequest) -> Reply:
        """Breaks model.py on an attempt's first turn; fixes it, with a higher value, when told."""
        import re

        if "did not succeed" in request.prompt or "This version failed" in request.prompt:
            broken = re.findall(r"VALUE = \(\d+", request.prompt)[-1]
            edit = f"<<<<<<< SEARCH\n{broken}\n=======\nVALUE = {next(fixes)}\n>>>>>>> REPLACE"
        else:
            current = re.findall(r"VALUE = (\d+)", request.prompt)[-1]  # the file as the lane has it
            edit = f"<<<<<<< SEARCH\nVALUE = {current}\n=======\nVALUE = ({next(breaks)}\n>>>>>>> REPLACE"
        return Reply.text(f"Try this.\n\nmodel.py\n```python\n{edit}\n```\n", delay=0.2)

    with ScriptedServer(rising) as server:
        path = task_file(tmp_path, workspace, server, experiments=5, parallel=2)
        path.write_text(path.read_text().replace("turn_limit = 1", "turn_limit = 2"))
        result = start_run(load_task(path), isolated_home, index, Overrides(parallel=2, schedule="async"))
    records = result.records
    assert [r.id for r in records] == [0, 1, 2, 3, 4]
    assert all(r.status is not Status.PENDING for r in records)
    assert all(r.turns == 2 and r.status is Status.OK for r in records[1:])  # broken, then fixed
    assert result.stop_reason == "experiment budget spent: 5 of 5"
    assert audit_run(result.run_id, strop_home(), index, evaluated=5) == []


def test_the_same_error_5_times_in_a_row_stops_the_run_naming_it(
    tmp_path: Path, workspace: Path, index: RunIndex, isolated_home: Path
) -> None:
    from agent.llm.errors import LLMErrorsInARow

    with ScriptedServer(lambda r: Reply.error(422, "unsupported parameter")) as server:
        task = load_task(task_file(tmp_path, workspace, server, experiments=50))
        with pytest.raises(LLMErrorsInARow) as caught:
            start_run(task, isolated_home, index)
        # the endpoint probe's calls (auto mode asks it after 2 failed text attempts) are not in the streak
        calls = len([r for r in server.completions if "response_format" not in (r.body or {})])
    assert (
        calls == 5
        and "5 model calls in a row failed with the same kind of error (request refused)" in str(caught.value)
    )
    assert caught.value.exit_code == 2


def test_the_token_budget_is_enforced_before_the_call(
    tmp_path: Path, workspace: Path, index: RunIndex, isolated_home: Path
) -> None:
    def costly(request: RecordedRequest) -> Reply:
        return Reply.text(good(request).content or "", prompt_tokens=1000, completion_tokens=200)

    with ScriptedServer(costly) as server:
        path = task_file(tmp_path, workspace, server, experiments=50)
        path.write_text(path.read_text().replace("[budget]\n", "[budget]\ntokens = 3000\n"))
        result = start_run(load_task(path), isolated_home, index)
        sent = [(r.body or {}).get("max_tokens") for r in server.completions]
    used = sum(r.cost.tokens for r in result.records)
    # exp 1 applies; exp 2's edit does not apply and is sent back once: a third call, which the
    # 600 tokens left cannot pay for, so it is not sent, and the run stops naming the token budget
    assert len(sent) == 2 and used == 2400
    assert sent[0] < 4096 and sent[1] < sent[0]  # max_tokens lowered to what was left
    assert result.stop_reason.startswith("token budget: 600 tokens left cannot pay for a prompt")
