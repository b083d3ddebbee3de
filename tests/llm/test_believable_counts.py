"""Token counts, prices and waits a budget can trust: the real `openai` client, the scripted server.

A usage of 0 tokens for every call let a token budget never fire; a running usage (vLLM's
continuous usage stats) was taken as the answer's final count; `max_tokens` was planned with a
prompt estimate a server could count past, so a budget was overshot; `price_input = inf` was
accepted and crashed every budgeted call; `Retry-After: inf` stopped a run without a time budget
"by the run's time budget".
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from agent.deadline import Deadline
from agent.errors import TaskSpecError
from agent.llm import ChatMessage, LLMClient
from agent.llm.errors import LLMBudgetSpent
from agent.llm.scripted_server import RecordedRequest, Reply, ScriptedServer
from agent.llm.tokens import estimate_prompt_tokens, prompt_tokens_upper
from agent.task import LLMSpec, load_task

ROOT = Path(__file__).resolve().parents[2]
FINISH = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
ANSWER = "Raise VALUE.\n\nmodel.py\n```python\n<<<<<<< SEARCH\nVALUE = 1\n=======\nVALUE = 2\n>>>>>>> REPLACE\n```\n"
# about 1,950 characters of code and prose, as a short strop prompt
PROMPT = [
    ChatMessage("system", "You improve code. Answer with a plan and SEARCH/REPLACE blocks. " * 6),
    ChatMessage(
        "user", "model.py\n```python\n" + "def f(x):\n    return x * 2 + 1  # doubled\n" * 36 + "```\n"
    ),
]


def client_for(server: ScriptedServer, **spec: object) -> LLMClient:
    values: dict[str, object] = {"base_url": server.base_url, "model": "m", "max_retries": 1}
    values.update({"request_timeout": 5.0, **spec})
    return LLMClient(LLMSpec.model_validate(values), environ={}, sleep=lambda s: None)


def content(text: str, **usage: int) -> dict[str, object]:
    chunk: dict[str, object] = {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
    if usage:
        chunk["usage"] = usage
    return chunk


# ------------------------------------------------------------------ 1: counts below what the text costs
def test_a_usage_of_zero_tokens_is_not_believed() -> None:
    """{"prompt_tokens": 0, "completion_tokens": 0} for a ~600-token prompt and an answer: 0 tokens spent."""
    with (
        ScriptedServer([Reply.text(ANSWER, prompt_tokens=0, completion_tokens=0)]) as server,
        client_for(server) as client,
    ):
        reply = client.complete(PROMPT)
    cost = reply.cost
    assert cost.prompt_tokens == estimate_prompt_tokens(PROMPT) > 400
    assert cost.completion_tokens >= 20
    assert cost.estimated == cost.prompt_tokens + cost.completion_tokens


def test_a_token_budget_fires_against_a_server_that_counts_nothing() -> None:
    """7 calls ran under `tokens = 5000`, the budget line saying "tokens: 0 of 5000"."""

    def zero(request: RecordedRequest) -> Reply:
        return Reply.text(ANSWER, prompt_tokens=0, completion_tokens=0)

    budget, spent, calls = 5000, 0, 0
    with ScriptedServer(zero) as server, client_for(server) as client:
        for _ in range(20):
            try:
                reply = client.complete(PROMPT, tokens_left=budget - spent)
            except LLMBudgetSpent:
                break
            spent += reply.cost.tokens
            calls += 1
    assert 1 <= calls <= 7 and 0 < spent <= budget, (calls, spent)


def test_an_honest_small_count_is_still_believed() -> None:
    with (
        ScriptedServer([Reply.text("ok", prompt_tokens=3, completion_tokens=1)]) as server,
        client_for(server) as client,
    ):
        reply = client.complete([ChatMessage("user", "hello")])
    assert (reply.cost.prompt_tokens, reply.cost.completion_tokens, reply.cost.estimated) == (3, 1, 0)


# ------------------------------------------------------------------ 2: a running usage is not the final one
def test_a_running_usage_is_not_taken_for_the_final_one() -> None:
    """Each chunk carried a running usage (1, 2, … 48), the finish chunk none, the usage after it 50:
    the client stopped reading at the finish and counted 48, not estimated."""
    chunks = [content(f"w{i:02d} ", prompt_tokens=9, completion_tokens=i + 1) for i in range(48)]
    final = {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 50}}
    with ScriptedServer([Reply.events(*chunks, FINISH, final)]) as server, client_for(server) as client:
        reply = client.complete([ChatMessage("user", "count")])
    assert (reply.cost.prompt_tokens, reply.cost.completion_tokens, reply.cost.estimated) == (9, 50, 0)
    assert reply.attempts == 1 and reply.log.timeouts == 0


def test_a_running_usage_never_followed_by_the_final_one_counts_at_least_the_estimate() -> None:
    """A stream whose only usage ran behind its text (3 tokens for 40 chunks) counts its text, marked estimated."""
    chunks = [content("word ", prompt_tokens=9, completion_tokens=min(i + 1, 3)) for i in range(40)]
    with ScriptedServer([Reply.events(*chunks, FINISH)]) as server, client_for(server) as client:
        reply = client.complete([ChatMessage("user", "count")])
    assert reply.text == "word " * 40
    assert reply.cost.completion_tokens >= 40 and reply.cost.estimated >= reply.cost.completion_tokens


# ------------------------------------------------------------------ 3: max_tokens planned with a bound
def writes_all_it_may(prompt_tokens: int):  # noqa: ANN201
    """A model that writes every token `max_tokens` allows, and counts the prompt as `prompt_tokens`."""

    def answer(request: RecordedRequest) -> Reply:
        asked = int((request.body or {}).get("max_tokens") or 0)
        return Reply.text("x" * 64, prompt_tokens=prompt_tokens, completion_tokens=asked)

    return answer


def test_a_token_budget_is_not_overshot_by_the_prompts_miscount() -> None:
    """chars/3 said ~650 tokens for the prompt, the server counted 1,000: 1,050 of 900 spent.

    A budget that pays for the prompt at a token per byte plans the first call so; one that does
    not plans it at the estimate (refusing it would end the run with nothing tried: see
    `LLMClient.budget_prompt_tokens`), and one that cannot pay even that refuses it."""
    assert prompt_tokens_upper(PROMPT) < 1000
    with ScriptedServer(writes_all_it_may(1000)) as server, client_for(server) as client:
        with pytest.raises(LLMBudgetSpent, match="at most"):
            client.complete(PROMPT, tokens_left=prompt_tokens_upper(PROMPT) + 8)
        assert server.completions == []  # not sent: it could not be paid for
        for _ in range(3):  # the first call, then ones planned with what the server counted
            reply = client.complete(PROMPT, tokens_left=2500)
            assert reply.cost.tokens <= 2500, (reply.cost, reply.log.max_tokens)
        # what the server counted is learned: the last calls were allowed more than the first
        sent = [int((r.body or {})["max_tokens"]) for r in server.completions]
        assert sent[-1] > sent[0] and sent[-1] >= 1400, sent


def test_a_first_call_the_budget_pays_for_by_estimate_is_sent() -> None:
    """Planned at a token per byte, a 3,000-token budget refused a 4,000-character prompt's first
    call (about 1,350 tokens), and the run ended with nothing tried."""
    from agent.llm import ChatMessage
    from agent.llm.tokens import prompt_tokens_bound

    prompt = [ChatMessage("system", "s" * 100), ChatMessage("user", "word " * 800)]
    assert prompt_tokens_upper(prompt) + 1000 < 3000 < prompt_tokens_bound(prompt)
    with ScriptedServer(writes_all_it_may(1000)) as server, client_for(server) as client:
        reply = client.complete(prompt, tokens_left=3000)
    assert len(server.completions) == 1 and reply.cost.tokens <= 3000, reply.cost


def test_a_cost_budget_is_not_overshot_by_the_prompts_miscount() -> None:
    with (
        ScriptedServer(writes_all_it_may(1000)) as server,
        client_for(server, price_input=10.0, price_output=10.0) as client,
    ):
        reply = client.complete(PROMPT, usd_left=0.025)
    assert reply.cost.usd <= 0.025, (reply.cost, reply.log.max_tokens)


# ------------------------------------------------------------------ 4: prices and cost budgets are finite
def task_text(tmp_path: Path, budget: str = "", llm: str = "") -> Path:
    (tmp_path / "ws").mkdir(exist_ok=True)
    path = tmp_path / "task.toml"
    path.write_text(
        f'[task]\nname = "t"\ngoal = "g"\nworkspace = "{tmp_path / "ws"}"\n'
        '[evaluator]\ncommand = "python evaluate.py"\nmetric = "score"\ndirection = "maximize"\n'
        f"[budget]\nexperiments = 2\n{budget}\n"
        f'[llm]\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m"\n{llm}\n'
    )
    return path


@pytest.mark.parametrize(
    ("budget", "llm", "key"),
    [
        ("", "price_input = inf", "llm.price_input"),
        ("", "price_output = nan", "llm.price_output"),
        ("", "price_input = 1e300", "llm.price_input"),
        ("cost = inf", "", "budget.cost"),
    ],
)
def test_a_price_or_cost_budget_that_is_not_finite_is_refused(
    tmp_path: Path, budget: str, llm: str, key: str
) -> None:
    """`price_input = inf` showed `$inf` and failed every experiment with an OverflowError."""
    with pytest.raises(TaskSpecError) as caught:
        load_task(task_text(tmp_path, budget, llm))
    assert key in str(caught.value)


def test_an_infinite_price_stops_the_command_with_exit_2(tmp_path: Path) -> None:
    path = task_text(tmp_path, "cost = 1.0", "price_input = inf")
    env = {"STROP_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "run", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2 and "price_input" in done.stderr and "finite" in done.stderr, done.stderr


def test_a_price_at_the_edge_of_floats_does_not_crash_planning() -> None:
    with ScriptedServer([]) as server, client_for(server, price_input=0.0, price_output=1e-300) as client:
        assert client.plan_max_tokens(PROMPT, usd_left=1e300) == client.spec.max_tokens


# ------------------------------------------------------------------ 5: a Retry-After no server can mean
@pytest.mark.parametrize("asked", [math.inf, 1e12])
def test_an_absurd_retry_after_is_treated_as_absent(asked: float) -> None:
    """`Retry-After: inf` with no time budget: "stopped by the run's budget (the run's time budget
    ends before the next retry…)", though the run had no time budget."""
    script = [Reply.error(429, "slow down", retry_after=asked), Reply.text("ok", 3, 1)]
    waits: list[float] = []
    with ScriptedServer(script) as server:
        spec = LLMSpec(base_url=server.base_url, model="m", request_timeout=5.0, max_retries=1)
        with LLMClient(spec, environ={}, sleep=waits.append) as client:
            reply = client.complete([ChatMessage("user", "hello")])
    assert reply.text == "ok" and reply.attempts == 2
    assert len(waits) == 1 and 0 < waits[0] <= 30  # the backoff's own wait, as for a malformed header


def test_an_infinite_retry_after_under_a_time_budget_does_not_speak_of_waiting_forever() -> None:
    script = [Reply.error(429, "slow down", retry_after=math.inf), Reply.text("ok", 3, 1)]
    with ScriptedServer(script) as server:
        spec = LLMSpec(base_url=server.base_url, model="m", request_timeout=5.0, max_retries=1)
        with LLMClient(spec, environ={}, sleep=lambda s: None) as client:
            reply = client.complete([ChatMessage("user", "hello")], deadline=Deadline.after(600))
    assert reply.text == "ok" and reply.attempts == 2
