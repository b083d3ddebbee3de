"""Model calls against the run's budgets: parallel lanes hold what a call may spend, a wait the
endpoint asks for that the time left cannot cover stops the run, and the turn line's time is now's.

Real loop, real git, the real `openai` client against the scripted server on 127.0.0.1;
only the model's words (and its token counts) are scripted.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from agent.llm.scripted_server import RecordedRequest, Reply, ScriptedServer
from agent.loop import Overrides, resume_run, start_run
from agent.run_index import RunIndex
from agent.task import load_task
from evaluators.verdict import Status
from tests.llm.support import FIXED_TURNS, llm_task_file

NO_CODE = "I think the code is fine as it is."


def maxed(request: RecordedRequest) -> Reply:
    """A model that always writes all the `max_tokens` it may (reported so), a little slowly."""
    body = request.body or {}
    asked = int(body.get("max_tokens") or 0)
    prompt = sum(len(str(message.get("content") or "")) for message in body.get("messages") or [])
    return Reply.text(NO_CODE, prompt_tokens=prompt // 4 + 8, completion_tokens=asked, delay=0.3)


@pytest.mark.parametrize(
    ("budget", "prices"),
    [("tokens = 12000", ""), ("cost = 0.012", "price_input = 1.0\nprice_output = 1.0\n")],
    ids=["tokens", "cost"],
)
def test_four_lanes_do_not_spend_past_the_budget(
    tmp_path: Path, workspace: Path, index: RunIndex, isolated_home: Path, budget: str, prices: str
) -> None:
    """Four lanes planned against one remainder with no call in flight counted: 3000 tokens
    became 7,600. Each call now holds its worst case before it is sent (a prompt at a token per
    byte until the endpoint has counted one: hence a budget of a few prompts)."""
    with ScriptedServer(maxed) as server:
        path = llm_task_file(
            tmp_path, workspace, server, "spend", 20, parallel=4, llm="max_tokens = 1000\n" + prices
        )
        path.write_text(path.read_text().replace("[budget]\n", f"[budget]\n{budget}\n"))
        result = start_run(load_task(path), isolated_home, index, Overrides(parallel=4))
        calls = len(server.completions)
    used = sum(r.cost.tokens for r in result.records)
    usd = sum(r.cost.usd for r in result.records)
    assert calls >= 2, f"the lanes made {calls} call(s): {result.stop_reason}"
    assert used <= 12000 and usd <= 0.012 + 1e-9, (used, usd, result.stop_reason)
    assert result.stop_reason.startswith(("token budget", "cost budget")), result.stop_reason


def test_a_wait_longer_than_the_time_left_stops_the_run_and_it_resumes(
    tmp_path: Path, workspace: Path, index: RunIndex, isolated_home: Path
) -> None:
    """`Retry-After: 100000` with 25 s to go: the run sent once and stopped saying so, where it
    used to send again at once for every experiment left, each rejected the same way."""
    busy = threading.Event()
    busy.set()

    def endpoint(request: RecordedRequest) -> Reply:
        if busy.is_set():
            return Reply.error(429, "slow down", retry_after=100000)
        return Reply.text(NO_CODE)

    with ScriptedServer(endpoint) as server:
        path = llm_task_file(
            tmp_path, workspace, server, "wait", 5, turns=FIXED_TURNS + '\ntime = "25s"', max_retries=3
        )
        result = start_run(load_task(path), isolated_home, index)
        sent = len(server.completions)
        busy.clear()  # the endpoint is back; the run continues when given more
        resumed = resume_run(result.run_id, isolated_home, index, more_time=30, experiments=3)
        sent_after = len(server.completions)
    assert sent == 1, f"{sent} requests: the run sent again before the wait it was asked for"
    assert [r.status for r in result.records] == [Status.OK, Status.REJECTED]
    cut = result.records[1]  # the run's budget ended it: no failure of the model's, as `strop log` said
    assert cut.idea == "stopped by the run's budget before the model answered", cut.idea
    assert cut.reason.startswith("the run's budget ended the model call"), cut.reason
    reason = result.stop_reason
    assert "ends before the next retry" in reason and "HTTP 429" in reason, reason
    assert "the endpoint asks to wait 100000s" in reason, reason
    assert re.search(r"; \d+s of the time budget left$", reason), reason
    assert sent_after == 2 and [r.id for r in resumed.records] == [0, 1, 2]
    assert resumed.stop_reason == "experiment budget spent: 3 of 3"


def test_the_turn_line_says_the_time_used_up_to_now(
    tmp_path: Path, workspace: Path, index: RunIndex, isolated_home: Path
) -> None:
    """A model call that hangs until the deadline: the turn line said "time budget spent: 2.0s
    of 25s" (the decide step's count, before the call) while the run ended at 23.1 s."""
    with ScriptedServer(lambda r: Reply.hang(30)) as server:
        turns = 'turns = "fixed"\nturn_limit = 2\ntime = "8s"'
        path = llm_task_file(tmp_path, workspace, server, "turnline", 5, turns=turns, request_timeout="30s")
        result = start_run(load_task(path), isolated_home, index)
    attempt = {r.id: r for r in result.records}[1]
    line = next(d for d in attempt.decisions if d.startswith("turn 1:"))
    said = re.search(r"but the run's budget is spent \(time budget spent: ([\d.]+)s of 8s", line)
    assert said, line
    final = re.match(r"time budget spent: ([\d.]+)s of 8s", result.stop_reason)
    assert final, result.stop_reason
    # the call ran to the search deadline (8 s less the 2 s kept for closing): the line says so
    assert float(said[1]) >= 5.0 and float(final[1]) - float(said[1]) < 1.5, (line, result.stop_reason)
