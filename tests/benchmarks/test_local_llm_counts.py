"""The local-LLM benchmark reads the server's own counts from its log as the server did the work.

The log excerpt is real: llama-cpp-python 0.3.36 serving SmolLM2-135M to `strop run` in
structured mode (issue 19's 5% check), trimmed to the endpoint probe, two finished calls,
and two calls strop closed at its 120 s request timeout and sent again. A closed call prints
its `prefix-match hit, remaining N` line but no perf block, although the server evaluated
its whole prompt (the retry finds all of it in its cache); reading only perf blocks left
those prompts out and made strop look 7-20% high. The wholly cached retry and the counting
server's lines (`COUNTING_SERVER`, which also counts what a closed request generated) are
written in the same shapes.
"""

from __future__ import annotations

from benchmarks.local_llm import ServerCounts, server_counts

PERF = "llama_perf_context_print:"

PROBE_REFUSED_THEN_ANSWERED = f"""\
INFO:     127.0.0.1:48980 - "POST /v1/chat/completions HTTP/1.1" 500 Internal Server Error
INFO:     127.0.0.1:48980 - "POST /v1/chat/completions HTTP/1.1" 200 OK
{PERF}        load time =       0.40 ms
{PERF} prompt eval time =       0.05 ms /    38 tokens (    0.00 ms per token, 791666.67 tokens per second)
{PERF}        eval time =    1140.57 ms /    14 runs   (   81.47 ms per token,    12.27 tokens per second)
{PERF}       total time =   44644.98 ms /    52 tokens
{PERF}    graphs reused =         13
"""

FINISHED = f"""\
INFO:     127.0.0.1:44490 - "POST /v1/chat/completions HTTP/1.1" 200 OK
Llama.generate: 4 prefix-match hit, remaining 1074 prompt tokens to eval
{PERF}        load time =       0.40 ms
{PERF} prompt eval time =   43028.11 ms /  1074 tokens (   40.06 ms per token,    24.96 tokens per second)
{PERF}        eval time =    3630.28 ms /    45 runs   (   80.67 ms per token,    12.40 tokens per second)
{PERF}       total time =   91015.12 ms /  1119 tokens
{PERF}    graphs reused =         44
"""

CLOSED_WHILE_STREAMING_THEN_RETRIED = f"""\
INFO:     127.0.0.1:51810 - "POST /v1/chat/completions HTTP/1.1" 200 OK
Llama.generate: 322 prefix-match hit, remaining 791 prompt tokens to eval
disconnected
Disconnected from client (via refresh/close) Address(host='127.0.0.1', port=51810)
INFO:     127.0.0.1:43398 - "POST /v1/chat/completions HTTP/1.1" 200 OK
Llama.generate: 1112 prefix-match hit, remaining 1 prompt tokens to eval
{PERF}        load time =       0.40 ms
{PERF} prompt eval time =       0.00 ms /     1 tokens (    0.00 ms per token,      inf tokens per second)
{PERF}        eval time =   12763.91 ms /    54 runs   (  236.37 ms per token,     4.23 tokens per second)
{PERF}       total time =   23400.82 ms /    55 tokens
{PERF}    graphs reused =         54
"""

# the retry's request arrived before the server noticed the first one was closed
CLOSED_BEFORE_ANY_TOKEN_THEN_RETRIED = f"""\
INFO:     127.0.0.1:46534 - "POST /v1/chat/completions HTTP/1.1" 200 OK
Llama.generate: 322 prefix-match hit, remaining 940 prompt tokens to eval
INFO:     127.0.0.1:42622 - "POST /v1/chat/completions HTTP/1.1" 200 OK
disconnected
Disconnected from client (via refresh/close) Address(host='127.0.0.1', port=46534)
ERROR:    ASGI callable returned without completing response.
Llama.generate: 1261 prefix-match hit, remaining 1 prompt tokens to eval
{PERF}        load time =       0.40 ms
{PERF} prompt eval time =       0.00 ms /     1 tokens (    0.00 ms per token,      inf tokens per second)
{PERF}        eval time =   33479.60 ms /    40 runs   (  836.99 ms per token,     1.19 tokens per second)
{PERF}       total time =   49545.66 ms /    41 tokens
{PERF}    graphs reused =         38
"""


def test_finished_requests_count_their_cached_and_evaluated_prompt_and_their_decode_runs() -> None:
    counts = server_counts(PROBE_REFUSED_THEN_ANSWERED + FINISHED)
    # the probe was evaluated from scratch (no prefix line): its perf block sizes it
    assert counts == ServerCounts(requests=3, prompt_tokens=38 + 4 + 1074, generated=14 + 45)


def test_a_request_closed_while_streaming_counts_its_whole_prompt() -> None:
    counts = server_counts(CLOSED_WHILE_STREAMING_THEN_RETRIED)
    # both requests carried the same 1113-token prompt; the closed one evaluated all of it
    assert counts.prompt_tokens == (322 + 791) + (1112 + 1)
    assert counts.generated == 54 and counts.cut_off == 1 and counts.requests == 2


def test_a_request_closed_before_its_first_token_counts_its_whole_prompt() -> None:
    counts = server_counts(CLOSED_BEFORE_ANY_TOKEN_THEN_RETRIED)
    assert counts.prompt_tokens == (322 + 940) + (1261 + 1)
    assert counts.generated == 40 and counts.cut_off == 1 and counts.requests == 2


def test_a_perf_block_after_a_prefix_line_is_not_counted_twice() -> None:
    counts = server_counts(FINISHED + CLOSED_WHILE_STREAMING_THEN_RETRIED + FINISHED)
    assert counts.prompt_tokens == 2 * (4 + 1074) + (322 + 791) + (1112 + 1)
    assert counts.generated == 2 * 45 + 54


def test_a_request_after_a_closed_one_evaluated_from_scratch_is_sized_by_its_perf_block() -> None:
    fresh = FINISHED.replace("Llama.generate: 4 prefix-match hit, remaining 1074 prompt tokens to eval\n", "")
    counts = server_counts(CLOSED_WHILE_STREAMING_THEN_RETRIED.split("INFO:     127.0.0.1:43398")[0] + fresh)
    assert counts.prompt_tokens == (322 + 791) + 1074 and counts.generated == 45


# the retry's prompt is exactly what the closed request left in the cache: nothing to evaluate
CLOSED_BEFORE_ITS_FIRST_TOKEN_WAS_EVALUATED_THEN_RETRIED = f"""\
INFO:     127.0.0.1:51810 - "POST /v1/chat/completions HTTP/1.1" 200 OK
Llama.generate: 322 prefix-match hit, remaining 791 prompt tokens to eval
disconnected
Disconnected from client (via refresh/close) Address(host='127.0.0.1', port=51810)
INFO:     127.0.0.1:43398 - "POST /v1/chat/completions HTTP/1.1" 200 OK
Llama.generate: full prompt already cached, skipping reset
{PERF}        load time =       0.40 ms
{PERF} prompt eval time =       0.00 ms /     0 tokens (    -nan ms per token,      -nan tokens per second)
{PERF}        eval time =   12763.91 ms /    54 runs   (  236.37 ms per token,     4.23 tokens per second)
{PERF}       total time =   23400.82 ms /    54 tokens
{PERF}    graphs reused =         54
"""


def test_a_wholly_cached_retry_counts_the_prompt_the_closed_request_left() -> None:
    counts = server_counts(CLOSED_BEFORE_ITS_FIRST_TOKEN_WAS_EVALUATED_THEN_RETRIED)
    assert counts.prompt_tokens == 2 * (322 + 791) and counts.generated == 54
    assert counts.cut_off == 1 and counts.unsized == 0 and counts.requests == 2


def test_a_wholly_cached_prompt_with_no_earlier_size_is_said_to_be_unsized() -> None:
    retry = CLOSED_BEFORE_ITS_FIRST_TOKEN_WAS_EVALUATED_THEN_RETRIED.split("disconnected\n")[1]
    counts = server_counts(retry)  # a slice of the log that starts at the retry
    assert counts.unsized == 1 and counts.prompt_tokens == 0 and counts.generated == 54


def test_the_counting_server_gives_the_generation_of_a_closed_request() -> None:
    # COUNTING_SERVER's line per request, as printed beside the log of a closed request and its retry
    counted = (
        CLOSED_WHILE_STREAMING_THEN_RETRIED.replace(
            "disconnected\n", "disconnected\nllama-request: prompt 1113, generated 25\n"
        )
        + "llama-request: prompt 1113, generated 54\n"
    )
    counts = server_counts(counted)
    assert (counts.counted, counts.counted_prompt, counts.counted_generated) == (2, 2 * 1113, 25 + 54)
    assert counts.prompt_tokens == counts.counted_prompt  # the log's own lines agree on the prompts
    assert counts.generated == 54  # the perf log alone misses the closed request's 25
