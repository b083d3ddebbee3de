"""Endpoints that misbehave in ways a long unattended run must survive: the real `openai` client, a real socket.

A body (or one streamed event) of hundreds of megabytes is not held whole; a stream that never
ends after a whole answer does not cost a timeout and a retry; token counts a server cannot
mean are not believed; a redirect stops the run with one line naming where it pointed; and
what an endpoint says in an error cannot drive the user's terminal.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx2
import pytest

from agent.llm import ChatMessage, LLMClient, LLMConfigError, LLMUnavailable
from agent.llm.bounded import MAX_BODY_BYTES, MAX_ERROR_BYTES, bound_bodies
from agent.llm.client import FINISH_GRACE
from agent.llm.scripted_server import Reply, ScriptedServer
from agent.llm.sse import bounded_events
from agent.llm.tokens import estimate_tokens, prompt_tokens_most
from agent.task import LLMSpec

HELLO = [ChatMessage("user", "hello")]
FINISH = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
USAGE = {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}}


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer([]) as running:
        yield running


def client_for(server: ScriptedServer, max_reply_chars: int = 400_000, **spec: object) -> LLMClient:
    values: dict[str, object] = {"base_url": server.base_url, "model": "tiny", "max_retries": 0}
    values.update({"request_timeout": 5.0, **spec})
    return LLMClient(LLMSpec.model_validate(values), environ={}, max_reply_chars=max_reply_chars)


def content(text: str) -> dict[str, object]:
    return {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}


def eventually(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    ends = time.monotonic() + seconds
    while not condition() and time.monotonic() < ends:
        time.sleep(0.02)
    return condition()


# ------------------------------------------------------------------ D1: bodies capped while read
def test_one_huge_streamed_event_is_not_read_past_the_cap(server: ScriptedServer) -> None:
    """100 MB in one event with no line break: the client stops at the cap and says why.

    Before, the whole event was buffered before the reply cap applied (1.5 GB took a run to
    9.35 GB). The server counts the blocks it wrote before the client closed the connection.
    """
    head = b'data: {"choices": [{"index": 0, "delta": {"content": "'
    block = b"x" * 65_536  # one block, sent 1,600 times: the server does not hold 100 MB either
    server.add(Reply.events(head, *([block] * 1600), b'"}, "finish_reason": "stop"}]}\n\n'))
    with client_for(server, max_reply_chars=10_000) as client, pytest.raises(LLMUnavailable) as raised:
        client.complete(HELLO)
    assert "a streamed event of more than 125,536 bytes" in str(raised.value)
    assert eventually(lambda: 1 in server.sent)
    assert server.sent[1] < 800, f"{server.sent[1]} of 1,600 blocks read: the event was read on"
    assert server.cancelled == [1]


def test_a_long_stream_of_small_events_is_not_capped_as_one(server: ScriptedServer) -> None:
    """The cap is per event: 3,000 reasoning chunks (about 270 KB, past the 71,536-byte cap) are read."""
    thinking = {"choices": [{"index": 0, "delta": {"reasoning_content": "thinking hard"}}]}
    server.add(Reply.events(*([thinking] * 3000), content("the answer"), FINISH))
    with client_for(server, max_reply_chars=1_000) as client:
        reply = client.complete(HELLO)
    assert reply.text == "the answer" and reply.cost.completion_tokens >= 3000


def test_an_event_boundary_split_between_two_reads_ends_the_event() -> None:
    events = [b"data: " + b"x" * 90 + b"\r\n\r", b"\ndata: " + b"y" * 90 + b"\n", b"\n"] * 50
    assert b"".join(bounded_events(events, 120)) == b"".join(events)
    with pytest.raises(ValueError, match="more than 120 bytes"):
        list(bounded_events([b"data: " + b"x" * 90 + b"\r\n", b"data: " + b"y" * 90], 120))


def test_a_huge_models_list_stops_at_the_cap() -> None:
    with (
        ScriptedServer([], model_info={"junk": "x" * (MAX_BODY_BYTES + (1 << 20))}) as server,
        client_for(server) as client,
        pytest.raises(LLMUnavailable, match=r"GET /models: a reply body of more than 16,777,216 bytes"),
    ):
        client.models()


def test_a_huge_error_body_is_cut_and_its_status_still_counts(server: ScriptedServer) -> None:
    """A 500 with 4 MB of body: retried as a 500. Read whole, its JSON would parse and be quoted."""
    server.add(Reply(status=500, body=b'{"error": {"message": "boom ' + b"x" * (4 << 20) + b'"}}'))
    with client_for(server) as client, pytest.raises(LLMUnavailable) as raised:
        client.complete(HELLO)
    assert "(HTTP 500: Error code: 500)" in str(raised.value) and "boom" not in str(raised.value)


def test_error_bodies_are_cut_while_read_not_after(server: ScriptedServer) -> None:
    server.add(Reply(status=500, body=b"x" * (4 << 20)))
    with httpx2.Client(event_hooks={"response": [bound_bodies()]}) as http:
        response = http.post(server.base_url + "/chat/completions", json={})
    assert response.status_code == 500 and len(response.content) == MAX_ERROR_BYTES


# ------------------------------------------------------------------ D7: a stream that never ends
def test_a_whole_answer_is_used_when_the_stream_never_ends(server: ScriptedServer) -> None:
    """Finish reason and usage came, then neither [DONE] nor the connection's end: the answer is had."""
    server.add(Reply.events(content("the answer"), FINISH, USAGE, done=False, hold=30))
    started = time.monotonic()
    with client_for(server, max_retries=1) as client:
        reply = client.complete(HELLO)
    assert time.monotonic() - started < 2.0, "it waited for the stream's end"
    assert reply.text == "the answer" and reply.finish_reason == "stop" and reply.attempts == 1
    assert (reply.cost.prompt_tokens, reply.cost.completion_tokens, reply.log.timeouts) == (7, 3, 0)
    assert len(server.completions) == 1


def test_an_answer_without_usage_is_used_a_grace_after_its_finish(server: ScriptedServer) -> None:
    server.add(Reply.events(content("the answer"), FINISH, done=False, hold=30))
    started = time.monotonic()
    with client_for(server, max_retries=1) as client:
        reply = client.complete(HELLO)
    # it waited the grace for a usage chunk, and ended well before the 5 s request timeout
    assert FINISH_GRACE - 0.1 <= time.monotonic() - started < 5.0
    assert reply.text == "the answer" and reply.attempts == 1 and reply.log.timeouts == 0
    assert not reply.usage_reported and reply.cost.estimated > 0


# ------------------------------------------------------------------ D4, D8: token counts
def test_a_big_chunk_without_usage_is_counted_by_its_text_up_to_max_tokens(server: ScriptedServer) -> None:
    text = "padding words here and there, " * 3000  # 90,000 characters in one chunk
    server.add(Reply.events(content(text), FINISH))
    with client_for(server) as client:
        reply = client.complete(HELLO)
    assert reply.text == text
    # by its text, not its 1 chunk; but never past max_tokens, as a reported usage is not believed past it
    assert reply.cost.completion_tokens == reply.log.max_tokens < estimate_tokens(text)
    assert reply.cost.estimated >= reply.cost.completion_tokens


def test_big_reasoning_chunks_without_usage_are_counted_by_their_length(server: ScriptedServer) -> None:
    thinking = {
        "choices": [{"index": 0, "delta": {"reasoning_content": "hmm, " * 8000}}]
    }  # 40,000 characters
    server.add(Reply.events(thinking, content("ok"), FINISH))
    with client_for(server) as client:
        reply = client.complete(HELLO)
    assert reply.text == "ok" and reply.cost.completion_tokens == reply.log.max_tokens  # 10,000 by length


def test_more_completion_tokens_than_max_tokens_are_not_believed(server: ScriptedServer) -> None:
    server.add(Reply.text("short", prompt_tokens=20, completion_tokens=10_000_000))
    with client_for(server, max_tokens=4096) as client:
        reply = client.complete(HELLO)
    assert (reply.cost.prompt_tokens, reply.cost.completion_tokens) == (20, 4096)
    assert reply.cost.estimated == 4096 and reply.log.max_tokens == 4096


def test_more_prompt_tokens_than_the_prompt_can_hold_are_not_believed(server: ScriptedServer) -> None:
    """10M prompt tokens for "hello": a token holds at least a byte; what a server adds has room."""
    server.add(Reply.text("short", prompt_tokens=10_000_000, completion_tokens=2))
    with client_for(server, price_input=1.0, price_output=1.0) as client:
        reply = client.complete(HELLO)
    most = prompt_tokens_most(HELLO)
    assert most < 10_000 and (reply.cost.prompt_tokens, reply.cost.completion_tokens) == (most, 2)
    assert reply.cost.estimated == most and reply.cost.usd < 0.01


@pytest.mark.parametrize(
    "usage", [{"prompt_tokens": 1e-9, "completion_tokens": 0.9}, {"prompt_tokens": 12.5}]
)
def test_fractional_usage_is_treated_as_missing(server: ScriptedServer, usage: dict[str, float]) -> None:
    server.add(Reply.events(content("the answer is here"), FINISH, {"choices": [], "usage": usage}))
    with client_for(server) as client:
        reply = client.complete(HELLO)
    assert not reply.usage_reported
    assert reply.cost.prompt_tokens > 0 and reply.cost.completion_tokens > 0
    assert reply.cost.estimated == reply.cost.prompt_tokens + reply.cost.completion_tokens


def test_integral_float_usage_is_believed(server: ScriptedServer) -> None:
    server.add(
        Reply.events(
            content("hi"), FINISH, {"choices": [], "usage": {"prompt_tokens": 9.0, "completion_tokens": 2.0}}
        )
    )
    with client_for(server) as client:
        reply = client.complete(HELLO)
    assert reply.usage_reported and (reply.cost.prompt_tokens, reply.cost.completion_tokens) == (9, 2)
    assert reply.cost.estimated == 0


# ------------------------------------------------------------------ D10: redirects
@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_stops_the_run_naming_where_it_pointed(server: ScriptedServer, status: int) -> None:
    location = "https://someone:hunter2@elsewhere.example/v1/chat/completions?api_key=sk-leak"
    server.add(Reply(status=status, body=b"", headers=(("Location", location),)))
    with client_for(server, max_retries=3) as client, pytest.raises(LLMConfigError) as raised:
        client.complete(HELLO)
    message = str(raised.value)
    assert message.startswith(
        f"HTTP {status}: the endpoint redirects to https://elsewhere.example/v1/chat/completions;"
    )
    assert "does not follow redirects" in message and "\n" not in message
    assert not any(secret in message for secret in ("someone", "hunter2", "sk-leak"))
    assert raised.value.attempts == 1 and len(server.completions) == 1


def test_a_relative_redirect_is_named_in_full(server: ScriptedServer) -> None:
    server.add(Reply(status=302, body=b"", headers=(("Location", "/other/v1/chat/completions"),)))
    with client_for(server) as client, pytest.raises(LLMConfigError) as raised:
        client.complete(HELLO)
    assert f"redirects to http://127.0.0.1:{server.port}/other/v1/chat/completions;" in str(raised.value)


# ------------------------------------------------------------------ D5: the endpoint's words, shown inert
ESCAPES = "boom \x1b]0;PWN-TITLE\x07\x1b[2J\x1b[31mRED\x9b1m\u202eevil"


@pytest.mark.parametrize("status", [404, 500])
def test_terminal_escapes_in_an_error_are_not_passed_on(server: ScriptedServer, status: int) -> None:
    server.add(Reply.error(status, ESCAPES))
    with client_for(server) as client, pytest.raises((LLMConfigError, LLMUnavailable)) as raised:
        client.complete(HELLO)
    message = str(raised.value)
    assert "boom" in message and "RED" in message
    assert not any(char in message for char in "\x1b\x07\x9b\u202e"), repr(message)
