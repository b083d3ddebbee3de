"""The model client against the scripted server: the real `openai` package over a real socket."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest

from agent.llm import (
    Backoff,
    ChatMessage,
    LLMClient,
    LLMConfigError,
    LLMRequestRefused,
    LLMUnavailable,
)
from agent.llm.backoff import retry_after_seconds
from agent.llm.client import NO_KEY, estimate_prompt_tokens, safe_url
from agent.llm.scripted_server import Reply, ScriptedServer
from agent.task import LLMSpec

KEY = "sk-test-0123456789abcdef"
HELLO = [ChatMessage("system", "be brief"), ChatMessage("user", "hello")]


class Sleeps:
    """Records the waits the client asks for, and waits a token amount (tests stay fast)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer([]) as running:
        yield running


def make_client(
    server: ScriptedServer, sleeps: Sleeps | None = None, env: dict[str, str] | None = None, **spec: object
) -> LLMClient:
    values: dict[str, object] = {
        "base_url": server.base_url,
        "model": "tiny",
        "request_timeout": 2.0,
        "max_retries": 3,
        "price_input": 2.0,
        "price_output": 8.0,
    }
    values.update(spec)
    return LLMClient(
        LLMSpec.model_validate(values),
        environ={"OPENAI_API_KEY": KEY} if env is None else env,
        sleep=sleeps or Sleeps(),
        rng=random.Random(0),
        backoff=Backoff(base=0.5, cap=4.0),
    )


def test_completion_counts_the_tokens_the_server_reported(server: ScriptedServer) -> None:
    server.add(Reply.text("the answer", prompt_tokens=1234, completion_tokens=56))
    with make_client(server) as client:
        reply = client.complete(HELLO)
    assert reply.text == "the answer"
    assert (reply.cost.prompt_tokens, reply.cost.completion_tokens, reply.cost.calls) == (1234, 56, 1)
    assert reply.cost.usd == pytest.approx(1234 * 2.0 / 1e6 + 56 * 8.0 / 1e6)
    assert reply.attempts == 1 and reply.usage_reported and not reply.truncated
    body = server.completions[0].body or {}
    assert body["model"] == "tiny" and body["messages"][1] == {"role": "user", "content": "hello"}
    assert body["max_tokens"] == 4096


def test_429_waits_as_long_as_retry_after_says(server: ScriptedServer) -> None:
    server.add(Reply.error(429, retry_after=7), Reply.error(429, retry_after=0.25), Reply.text("ok", 3, 4))
    sleeps = Sleeps()
    with make_client(server, sleeps) as client:
        reply = client.complete(HELLO)
    assert reply.text == "ok" and reply.attempts == 3
    assert sleeps.waits == [7.0, 0.25]
    assert (reply.cost.prompt_tokens, reply.cost.completion_tokens) == (3, 4)


def test_500_is_retried_with_jittered_exponential_backoff(server: ScriptedServer) -> None:
    server.add(Reply.error(500), Reply.error(502), Reply.error(503), Reply.text("finally"))
    sleeps = Sleeps()
    with make_client(server, sleeps) as client:
        assert client.complete(HELLO).attempts == 4
    assert len(sleeps.waits) == 3
    for attempt, wait in enumerate(sleeps.waits, start=1):
        ceiling = min(4.0, 0.5 * 2 ** (attempt - 1))
        assert ceiling / 2 <= wait <= ceiling


def test_retries_are_bounded_and_the_error_names_the_last_failure(server: ScriptedServer) -> None:
    server.add(*[Reply.error(500, message=f"overloaded, your key {KEY} is fine")] * 3)
    with make_client(server, max_retries=2) as client, pytest.raises(LLMUnavailable) as caught:
        client.complete(HELLO)
    assert caught.value.attempts == 3 and len(server.completions) == 3
    assert "HTTP 500" in str(caught.value)
    assert KEY not in str(caught.value) and "[redacted]" in str(caught.value)


def test_a_hanging_response_times_out_and_is_retried(server: ScriptedServer) -> None:
    server.add(Reply.hang(60), Reply.text("awake"))
    started = time.monotonic()
    with make_client(server, request_timeout=0.5) as client:
        reply = client.complete(HELLO)
    assert reply.text == "awake" and reply.attempts == 2
    assert time.monotonic() - started < 10  # not the 60 s the server would hang


def test_a_trickling_response_hits_the_hard_deadline(server: ScriptedServer) -> None:
    # one byte every 0.2 s never trips a 0.5 s read timeout; only the hard deadline ends it
    server.add(Reply.trickling("slow" * 50, interval=0.2), Reply.text("fast"))
    started = time.monotonic()
    with make_client(server, request_timeout=0.5) as client:
        reply = client.complete(HELLO)
    assert reply.text == "fast" and reply.attempts == 2
    assert time.monotonic() - started < 10  # the trickle alone would take > 60 s


def test_a_huge_reply_is_cut_its_stream_closed_and_its_tokens_estimated(server: ScriptedServer) -> None:
    server.add(Reply.text("y" * 3_000_000, prompt_tokens=10, completion_tokens=750_000))
    with make_client(server) as client:
        reply = client.complete(HELLO)
    assert reply.truncated and len(reply.text) == client.max_reply_chars
    assert reply.finish_reason == "stop" or reply.finish_reason == "length"
    # the stream was closed at the cut, so the server's usage never came: the tokens read are estimated
    assert not reply.usage_reported
    assert reply.cost.completion_tokens == reply.log.max_tokens  # the text's estimate, at most max_tokens
    assert reply.cost.estimated == reply.cost.tokens


@pytest.mark.parametrize("first", ["streaming", "silent"])
def test_a_call_closed_at_the_timeout_counts_the_whole_prompt_the_server_evaluated(
    server: ScriptedServer, first: str
) -> None:
    # llama-cpp-python streams no usage, evaluates the whole prompt before it looks at the
    # connection, and keeps generating until its next write: a closed attempt cost its full
    # prompt plus the chunks read. (issue 19: the local-LLM benchmark compares this to the server)
    closed = (
        Reply(content="word " * 200, usage=False, chunk_delay=0.1) if first == "streaming" else Reply.hang(60)
    )
    server.add(closed, Reply.no_usage("done now"))
    with make_client(server) as client:  # a 2 s timeout: some 10 chunks read
        reply = client.complete(HELLO)
    time.sleep(0.3)  # the server notices the closed stream at its next write
    assert reply.text == "done now" and reply.attempts == 2 and reply.cost.calls == 2
    assert reply.log.timeouts == 1 and reply.log.cancelled == 1
    assert reply.cost.prompt_tokens == 2 * estimate_prompt_tokens(HELLO)
    read_before_close = reply.cost.completion_tokens - 2  # "done now": 2 chunks
    if first == "streaming":
        assert server.cancelled == [1] and 3 <= read_before_close <= server.sent[1]
    else:
        assert read_before_close == 0
    assert reply.cost.estimated == reply.cost.tokens


def test_malformed_json_is_retried(server: ScriptedServer) -> None:
    server.add(Reply.malformed(), Reply.malformed(b"<html>bad gateway</html>"), Reply.text("clean"))
    with make_client(server) as client:
        reply = client.complete(HELLO)
    assert reply.text == "clean" and reply.attempts == 3


def test_a_reply_without_usage_is_estimated_and_says_so(server: ScriptedServer) -> None:
    server.add(Reply.no_usage("local model answers"))
    with make_client(server) as client:
        reply = client.complete(HELLO)
    assert not reply.usage_reported and reply.cost.calls == 1
    assert reply.cost.completion_tokens == 5  # 19 chars streamed in 5 chunks
    assert reply.cost.prompt_tokens == (2 + 5) + (2 + 5) + 3  # "be brief", "hello", each framed, + reply
    assert reply.cost.estimated == reply.cost.tokens


@pytest.mark.parametrize(("prompt", "completion"), [(-1000, 25), (10**30, 25), (40, float("nan"))])
def test_a_usage_no_server_could_mean_is_estimated(server: ScriptedServer, prompt, completion) -> None:
    server.add(Reply.text("local model answers", prompt_tokens=prompt, completion_tokens=completion))
    with make_client(server) as client:
        reply = client.complete(HELLO)
    assert reply.cost.estimated == reply.cost.tokens and 0 < reply.cost.tokens < 100  # not -975, not 1e30
    assert reply.cost.usd >= 0


def test_the_key_spelt_with_json_escapes_is_redacted_too(server: ScriptedServer) -> None:
    import json

    escaped = "".join(f"\\u{ord(c):04x}" if i % 3 == 0 else c for i, c in enumerate(KEY))
    server.add(Reply.text('{"idea": "leak ' + escaped + '", "edits": []}'))
    with make_client(server) as client:
        reply = client.complete(HELLO)
    assert KEY not in json.dumps(json.loads(reply.text), ensure_ascii=False)  # parsed, it is not the key
    assert "[redacted]" in reply.text


def test_a_redirect_to_another_host_is_not_followed(server: ScriptedServer) -> None:
    with ScriptedServer([Reply.text("the other host answered")]) as other:
        moved = Reply(status=307, body=b"", headers=(("Location", other.base_url + "/chat/completions"),))
        server.add(*[moved] * 4)
        with make_client(server) as client, pytest.raises(LLMConfigError) as caught:
            client.complete(HELLO)
        assert other.remaining == 1  # the prompt never reached the host the user did not name
    assert "does not follow redirects" in str(caught.value) and server.remaining == 3  # not retried


def test_400_is_not_retried(server: ScriptedServer) -> None:
    server.add(Reply.error(400, "context too long"), Reply.text("never"))
    with make_client(server) as client, pytest.raises(LLMRequestRefused) as caught:
        client.complete(HELLO)
    assert caught.value.attempts == 1 and server.remaining == 1


def test_401_is_a_config_error_naming_the_variable_not_the_key(server: ScriptedServer) -> None:
    server.add(Reply.error(401, f"invalid key {KEY}"))
    with make_client(server) as client, pytest.raises(LLMConfigError) as caught:
        client.complete(HELLO)
    assert "$OPENAI_API_KEY" in str(caught.value) and KEY not in str(caught.value)
    assert caught.value.exit_code == 2


def test_the_key_goes_only_in_the_authorization_header(server: ScriptedServer) -> None:
    server.add(Reply.text("ok"))
    leaky = [ChatMessage("user", f"my key is {KEY}")]
    with make_client(server) as client:
        client.complete(leaky)
    request = server.completions[0]
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in request.raw.decode()
    assert "[redacted]" in request.prompt


def test_an_endpoint_without_a_key_works(server: ScriptedServer) -> None:
    server.add(Reply.text("local"))
    with make_client(server, env={}) as client:
        assert client.complete(HELLO).text == "local"
    assert server.completions[0].headers["authorization"] == f"Bearer {NO_KEY}"


def test_key_env_name_is_configurable(server: ScriptedServer) -> None:
    server.add(Reply.text("ok"))
    with make_client(server, env={"MY_LLM_TOKEN": "tok-9876543210"}, api_key_env="MY_LLM_TOKEN") as client:
        client.complete(HELLO)
    assert server.completions[0].headers["authorization"] == "Bearer tok-9876543210"


def test_connection_refused_is_retried_then_reported() -> None:
    with ScriptedServer([]) as gone:
        url = gone.base_url
    spec = LLMSpec(base_url=url, model="m", max_retries=1, request_timeout=2.0)
    sleeps = Sleeps()
    with LLMClient(spec, environ={}, sleep=sleeps) as client, pytest.raises(LLMUnavailable) as caught:
        client.complete(HELLO)
    assert caught.value.attempts == 2 and "connection error" in str(caught.value)


def test_retry_after_forms() -> None:
    assert retry_after_seconds({"Retry-After": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_seconds({"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480.0) == 10.0
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds({}) is None
    assert Backoff(retry_after_cap=60).delay(1, random.Random(0), retry_after=3600) == 60


def test_safe_url_drops_credentials() -> None:
    assert safe_url("https://user:pw@host.example:8443/v1?key=abc") == "https://host.example:8443/v1"


def test_a_responder_that_raises_is_a_500_and_is_kept() -> None:
    def responder(request: object) -> Reply:
        raise KeyError("oops")

    with ScriptedServer(responder) as broken:
        spec = LLMSpec(base_url=broken.base_url, model="m", max_retries=0)
        with LLMClient(spec, environ={}) as client, pytest.raises(LLMUnavailable):
            client.complete(HELLO)
    assert [type(e) for e in broken.errors] == [KeyError]


def test_max_tokens_is_lowered_to_the_token_budget_left(server: ScriptedServer) -> None:
    server.add(Reply.text("short", 10, 2))
    with make_client(server) as client:
        reply = client.complete(HELLO, tokens_left=500)
    sent = (server.completions[0].body or {})["max_tokens"]
    assert 16 <= sent < 500 and reply.log.max_tokens == sent


def test_a_request_the_budget_cannot_pay_is_not_sent(server: ScriptedServer) -> None:
    from agent.llm.errors import LLMBudgetSpent

    with make_client(server) as client:
        with pytest.raises(LLMBudgetSpent, match="token budget"):
            client.complete(HELLO, tokens_left=20)
        with pytest.raises(LLMBudgetSpent, match="cost budget"):
            client.complete(HELLO, usd_left=1e-6)  # $8 per 1M output tokens: not even 16 tokens
    assert server.completions == []


def test_a_context_overflow_is_classified_and_its_window_learned(server: ScriptedServer) -> None:
    from agent.llm.errors import LLMContextOverflow

    server.add(Reply.context_overflow(limit=2048, asked=3000))
    with make_client(server) as client:
        with pytest.raises(LLMContextOverflow) as caught:
            client.complete(HELLO)
        assert caught.value.limit == 2048 and client.context == 2048 and caught.value.attempts == 1
        server.add(Reply.text("fits"))  # the next request is fitted to the window before it is sent
        client.complete(HELLO)
    assert (server.completions[1].body or {})["max_tokens"] < 2048


def test_retries_never_sleep_past_the_deadline(server: ScriptedServer) -> None:
    from agent.deadline import Deadline
    from agent.llm.errors import LLMOutOfTime

    server.add(Reply.error(429, retry_after=30), Reply.text("too late"))
    sleeps = Sleeps()
    with make_client(server, sleeps) as client, pytest.raises(LLMOutOfTime, match="before the next retry"):
        client.complete(HELLO, deadline=Deadline.after(5))
    assert sleeps.waits == [] and len(server.completions) == 1


def test_a_retry_after_past_the_deadline_stops_at_once_even_above_the_cap(server: ScriptedServer) -> None:
    # the cap (120 s) only limits how long we would wait; a server asking for an hour when three
    # minutes are left will not answer in time, so waiting the capped 120 s first only wastes them
    from agent.deadline import Deadline
    from agent.llm.errors import LLMOutOfTime

    server.add(Reply.error(429, retry_after=3600), Reply.text("too late"))
    sleeps = Sleeps()
    started = time.monotonic()
    with make_client(server, sleeps) as client, pytest.raises(LLMOutOfTime, match="asks to wait 3600s"):
        client.complete(HELLO, deadline=Deadline.after(180))
    assert sleeps.waits == [] and len(server.completions) == 1
    assert time.monotonic() - started < 10
