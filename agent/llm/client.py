"""The model client: one chat completion from any OpenAI-compatible endpoint, counted and bounded.

A thin layer over the real `openai` package that adds what a long unattended run
needs and the package leaves to its caller:

- the key is read from the environment variable the task names (`[llm] api_key_env`)
  and lives only inside the `openai` client: never in a message, a record, a log or a
  sandbox; an endpoint with no key (a local server) gets a placeholder;
- every request is streamed, so a call strop gives up on is closed, and closing the
  stream stops llama.cpp and vLLM generating: no abandoned call keeps the server busy
  while retries queue behind it. An attempt ends at `request_timeout` or at the run's
  deadline, whichever comes first (a daemon thread and a hard wait back this up
  against a server that trickles bytes forever);
- retries on 429, 5xx, 408/409, timeouts, connection errors and unreadable replies,
  with exponential backoff and jitter, honouring `Retry-After`, but never sleeping
  past the deadline. The package's own retries are off: ours count attempts and take
  an injected sleep and random generator, so tests are exact and fast;
- before each request, `max_tokens` is lowered to what the context window (`[llm]
  context`, or learned from an overflow error) and the token and cost budgets left
  allow; when not even a short answer fits, the request is not sent;
- every attempt is counted, failed or abandoned ones too: tokens from the server's
  `usage` (OpenAI's names, or `input_tokens`/`output_tokens`, or Groq's `x_groq.usage`),
  else estimated (`estimate_prompt_tokens`; the larger of the streamed chunks and the
  estimate of their text, reasoning included) and marked `estimated`; a usage claiming
  more completion tokens than the `max_tokens` sent, or more prompt tokens than the
  prompt's bytes (and some slack) can be, is counted at that bound, marked too, and so is an
  estimate past `max_tokens`; `CallLog`
  keeps attempts, retries, timeouts, cancellations and `finish_reason`;
- replies longer than `max_reply_chars` are cut there (`truncated=True`) and the
  stream is closed, so a huge reply cannot blow up prompts, parsers or records; and no
  body is held whole before that cut can apply: one streamed event, a plain JSON reply,
  `GET /models` and error bodies are capped in bytes as they are read (`agent.llm.bounded`);
- an answer is whole once its finish reason and usage came (or `FINISH_GRACE` seconds
  after a finish reason without usage): a server that never sends `[DONE]` nor closes the
  stream does not cost a timeout and a retry;
- what a server sends besides text is not the answer: `reasoning_content` / `reasoning`
  chunks are counted, not read; tool calls (`content: null`) are named in `tool_calls`;
  lone surrogates (JSON `\ud800`) become U+FFFD, so no later write or commit can choke on
  them, and so do bytes in the stream that are not UTF-8 (`agent.llm.sse`). A server that answers the streamed request with one plain JSON completion
  (it does not stream) is read all the same;
- a 404, or a 400 saying the model does not exist or refusing streamed requests, is an
  `LLMConfigError`: one line, no retry; so is a 401/403, which names the key's variable
  (and says so when it is unset), and a redirect, which strop does not follow;
- what the endpoint says in an error is shown without control characters: an ESC
  sequence in it would drive the user's terminal.

The pieces it is built from live in their own modules: the message and reply types
(`agent.llm.chat`), token counts and prices (`agent.llm.tokens`), one attempt's stream
(`agent.llm.stream`), what an error status means (`agent.llm.status`), the key's redaction
(`agent.llm.redaction`) and the lenient SSE decoding (`agent.llm.sse`).
"""

from __future__ import annotations

import math
import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from agent.deadline import Deadline
from agent.llm.backoff import Backoff
from agent.llm.bounded import MAX_BODY_BYTES, bound_bodies, reply_bytes
from agent.llm.chat import CallLog, ChatMessage, LLMReply, Role, merge_system
from agent.llm.errors import (
    LLMBadResponse,
    LLMBudgetSpent,
    LLMConfigError,
    LLMContextOverflow,
    LLMError,
    LLMOutOfTime,
    LLMRequestRefused,
    LLMUnavailable,
)
from agent.llm.reachability import CHECK_SECONDS, why_unreachable
from agent.llm.redaction import Redactor, printable_line, safe_url
from agent.llm.sse import lenient_openai
from agent.llm.status import Quirk, Retryable, short, status_error
from agent.llm.stream import ReplyStream
from agent.llm.tokens import (
    MAX_CALL_TOKENS,
    MESSAGE_FRAMING,
    REPLY_FRAMING,
    believed_usage,
    estimate_prompt_tokens,
    estimate_tokens,
    least_tokens,
    price,
    prompt_tokens_bound,
    prompt_tokens_least,
    prompt_tokens_most,
    prompt_tokens_upper,
    usage_counts,
)
from agent.records import Cost
from agent.task import LLMSpec

__all__ = [  # the client, and what callers imported from this module before it was split
    "MAX_CALL_TOKENS",
    "MAX_REPLY_CHARS",
    "MESSAGE_FRAMING",
    "MIN_ANSWER_TOKENS",
    "NO_KEY",
    "REPLY_FRAMING",
    "CallLog",
    "ChatMessage",
    "LLMClient",
    "LLMReply",
    "Role",
    "estimate_prompt_tokens",
    "estimate_tokens",
    "merge_system",
    "price",
    "prompt_tokens_upper",
    "safe_url",
]

NO_KEY = "strop-no-key"  # sent when the key variable is unset: local endpoints accept anything
MAX_REPLY_CHARS = 400_000
MIN_ANSWER_TOKENS = 16  # below this, a request is not worth sending
RATIO_PROMPT_MIN = 256  # prompt tokens (estimated) from which a server's count teaches `prompt_ratio`
FINISH_GRACE = 2.0  # seconds a stream may stay open after its finish reason, for the usage or [DONE]
MAX_RETRY_AFTER = 7 * 86_400.0  # seconds: a longer `Retry-After` (or `inf`) is not a wait a server can mean
_SURROGATE = re.compile("[\ud800-\udfff]")


class LLMClient:
    """Chat completions from `spec.base_url` with `spec.model`. One instance per run is enough.

    Thread-safe for concurrent `complete` calls (parallel lanes): each call keeps its own
    state; only the learned context window is shared, and it only ever shrinks.
    """

    def __init__(
        self,
        spec: LLMSpec,
        *,
        environ: Mapping[str, str] | None = None,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        max_reply_chars: int = MAX_REPLY_CHARS,
    ) -> None:
        self.spec = spec
        self.backoff = backoff or Backoff()
        self.max_reply_chars = max_reply_chars
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        env = os.environ if environ is None else environ
        key = env.get(spec.api_key_env) or ""
        self._key_set = bool(key)
        self._redactor = Redactor(key)
        self.context: int | None = getattr(spec, "context", None)  # tokens; learned from overflow errors
        self.dropped: set[str] = set()  # optional parameters this endpoint refused: no longer sent
        self.system_role = True  # False once the endpoint's chat template refused the system role
        # the most prompt tokens the server counted per token of `prompt_tokens_upper`, over this
        # client's calls (None until it reported one it was believed): budgets plan with it
        self.prompt_ratio: float | None = None
        self._ratio_lock = threading.Lock()
        # where each attempt's prompt is reserved before it is sent (`agent.llm.journal`): a run's
        # loop sets it, so a call cut by a crash is still counted; None: nothing is written
        self.journal: Any = None
        self._client = self._openai(key or NO_KEY)

    def _openai(self, key: str) -> Any:
        import openai

        timeout = float(self.spec.request_timeout)
        # invalid UTF-8 in a stream is replaced, not a failed attempt (see agent.llm.sse)
        return lenient_openai(
            max_event_bytes=reply_bytes(self.max_reply_chars),
            api_key=key,
            base_url=self.spec.base_url,
            timeout=timeout,
            max_retries=0,
            organization=None,
            project=None,
            # a redirect would send the prompt (the user's code) to a host the user did not name
            http_client=openai.DefaultHttpxClient(
                follow_redirects=False,
                event_hooks={
                    "response": [bound_bodies(max(MAX_BODY_BYTES, reply_bytes(self.max_reply_chars)))]
                },
            ),
        )

    @property
    def where(self) -> str:
        return f"{self.spec.model} at {safe_url(self.spec.base_url)}"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- public
    def plan_max_tokens(
        self, messages: Sequence[ChatMessage], tokens_left: int | None = None, usd_left: float | None = None
    ) -> int:
        """`max_tokens` for this request: the task's, lowered to fit the context window and the budgets.

        Raises `LLMContextOverflow` (not sent: shrink the prompt) or `LLMBudgetSpent` (not sent: stop)
        when not even `MIN_ANSWER_TOKENS` fit.

        The context window is planned with the prompt's generous estimate (`prompt_tokens_upper`):
        an overflow is an error the server names, and the prompt is fitted again. The token and
        cost budgets are planned with `budget_prompt_tokens`, an upper bound on what the server
        will count, so a budget is not overshot by the prompt's miscount (a server counting a
        1,950-character prompt as 1,000 tokens where chars/3 said 650 spent 1,050 of 900).
        """
        prompt = prompt_tokens_upper(messages)
        allowed = self.spec.max_tokens
        if self.context is not None:
            allowed = min(allowed, self.context - prompt)
            if allowed < MIN_ANSWER_TOKENS:
                raise LLMContextOverflow(
                    f"the prompt (about {prompt} tokens) does not fit the {self.context}-token context "
                    f"window of {self.where}; not sent",
                    limit=self.context,
                )
        most = self.budget_prompt_tokens(messages, tokens_left, usd_left)
        estimated = "a token per byte" if most >= prompt_tokens_bound(messages) else "estimated"
        if tokens_left is not None:
            allowed = min(allowed, tokens_left - most)
            if allowed < MIN_ANSWER_TOKENS:
                raise LLMBudgetSpent(
                    f"token budget: {tokens_left} tokens left cannot pay for a prompt of about {prompt} "
                    f"tokens (at most {most}, {estimated}) and an answer of {MIN_ANSWER_TOKENS}; not sent"
                )
        if usd_left is not None and (self.spec.price_input or self.spec.price_output):
            prompt_usd = most * self.spec.price_input / 1e6
            per_token = self.spec.price_output / 1e6
            room = (usd_left - prompt_usd) / per_token if per_token else (1e9 if usd_left > prompt_usd else 0)
            # a price or budget past float's range (the task file refuses inf) must not crash `int`
            allowed = min(allowed, int(room) if math.isfinite(room) else (allowed if room > 0 else 0))
            if allowed < MIN_ANSWER_TOKENS:
                raise LLMBudgetSpent(
                    f"cost budget: ${usd_left:.4f} left cannot pay for a prompt of about {prompt} tokens "
                    f"(at most {most}, {estimated}) and an answer of {MIN_ANSWER_TOKENS}; not sent"
                )
        return allowed

    def budget_prompt_tokens(
        self, messages: Sequence[ChatMessage], tokens_left: int | None = None, usd_left: float | None = None
    ) -> int:
        """The prompt tokens budgets plan `messages` at: what the server may count.

        Once the endpoint has counted prompts, `prompt_tokens_upper` scaled by the largest ratio of
        its counts to that estimate (`prompt_ratio`, from prompts of `RATIO_PROMPT_MIN` tokens or
        more: a short one is mostly the server's own framing), within the byte bound. Before, the
        byte bound (`prompt_tokens_bound`, a token per byte: true for every tokenizer, 3-4 times
        the real count) when the budgets left (`tokens_left`, `usd_left`) can pay for it and an
        answer: a fixed chars/3 is low for some tokenizers (digits one by one, Chinese), and a
        server counting a 1,950-character prompt as 1,000 tokens overshot a 900-token budget.
        When they cannot, the estimate: refusing a first call the budget most likely pays for
        (a 3,000-token budget, a 1,000-token prompt) would end the run with nothing tried; that
        one call may overshoot by its prompt's miscount, every later one is planned with the
        endpoint's own counting.
        """
        bound = prompt_tokens_bound(messages)
        upper = prompt_tokens_upper(messages)
        if self.prompt_ratio is not None:
            return min(bound, math.ceil(upper * max(1.0, self.prompt_ratio)))
        if self._pays_for(bound, tokens_left, usd_left):
            return bound
        return upper

    def _pays_for(self, prompt: int, tokens_left: int | None, usd_left: float | None) -> bool:
        """Whether the budgets left pay for `prompt` tokens and the shortest answer."""
        if tokens_left is not None and prompt + MIN_ANSWER_TOKENS > tokens_left:
            return False
        if usd_left is not None and (self.spec.price_input or self.spec.price_output):
            return price(prompt, MIN_ANSWER_TOKENS, self.spec) <= usd_left
        return True

    def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        deadline: Deadline | None = None,
        tokens_left: int | None = None,
        usd_left: float | None = None,
        response_format: Mapping[str, Any] | None = None,
        seed: int | None = None,
        max_tokens: int | None = None,
        retries: int | None = None,
    ) -> LLMReply:
        """One completion, retried on transient failures within `deadline`; raises an `LLMError` otherwise.

        Whatever happens, the tokens of every attempt are counted: in the reply's `cost`, or in
        the raised error's `cost`. `response_format` asks for structured output (see
        `agent.llm.endpoint`); `seed` is sent unless the endpoint refused it once; `max_tokens`
        caps the answer below the task's `[llm] max_tokens`. An endpoint that refuses `seed`,
        `stream_options` or the system role is asked again at once without it, and remembered.
        `retries` replaces `[llm] max_retries` for this call (the endpoint probe uses 0).
        """
        max_retries = self.spec.max_retries if retries is None else retries
        deadline = deadline or Deadline()
        started = time.monotonic()
        spent = Cost()
        failures: list[str] = []
        timeouts = cancelled = attempts = 0
        sent_tokens = 0  # the latest attempt's max_tokens, for the log (`max_tokens` is the caller's cap)

        def log(finish: str = "") -> CallLog:
            return CallLog(
                attempts=attempts,
                seconds=round(time.monotonic() - started, 3),
                finish_reason=finish,
                max_tokens=sent_tokens,
                timeouts=timeouts,
                cancelled=cancelled,
                failures=tuple(failures),
                cost=replace(spent, retries=max(0, attempts - 1), timeouts=timeouts, cancelled=cancelled),
            )

        def fail(error: LLMError) -> LLMError:
            error.attempts = attempts
            error.log = log()
            error.cost = error.log.cost
            return error

        while True:
            if deadline.expired():
                last = f"; last: {failures[-1]}" if failures else ""
                raise fail(LLMOutOfTime(f"the run's time budget ran out before {self.where} answered{last}"))
            try:
                # a retry may spend only what the attempts before it left (they streamed tokens too)
                planned = self.plan_max_tokens(
                    messages,
                    None if tokens_left is None else tokens_left - spent.tokens,
                    None if usd_left is None else usd_left - spent.usd,
                )
            except LLMError as error:
                raise fail(error) from None
            cap = max(MIN_ANSWER_TOKENS, max_tokens) if max_tokens else planned
            max_tokens_sent = min(planned, cap)
            sent_tokens = max_tokens_sent
            attempts += 1
            limit = deadline.clamp(float(self.spec.request_timeout))
            stream = ReplyStream(self.max_reply_chars)
            extra: dict[str, Any] = {}
            if response_format is not None:
                extra["response_format"] = dict(response_format)
            if seed is not None and "seed" not in self.dropped:
                extra["seed"] = seed
            reserved = self._reserve(messages)
            try:
                self._attempt(messages, stream, limit, max_tokens_sent, extra)
                spent = spent + self._counted(reserved, self._attempt_cost(messages, stream, max_tokens_sent))
                cancelled += stream.cancelled
                return self._finish(stream, attempts, log)
            except Quirk as quirk:
                spent = spent + self._counted(
                    reserved, self._attempt_cost(messages, stream, max_tokens_sent, failed=True)
                )
                failures.append(short(str(quirk)))
                if not self._adapt(quirk.fix):
                    raise fail(LLMRequestRefused(f"{quirk} ({self.where})")) from None
            except Retryable as error:
                spent = spent + self._counted(
                    reserved, self._attempt_cost(messages, stream, max_tokens_sent, failed=True)
                )
                timeouts += error.timeout
                cancelled += stream.cancelled
                failures.append(short(str(error)))
                if error.timeout and deadline.expired():
                    raise fail(
                        LLMOutOfTime(
                            f"cancelled at the run's deadline: {self.where} had not answered "
                            f"({stream.chunks} chunks streamed)"
                        )
                    ) from None
                if attempts > max_retries:
                    raise fail(
                        LLMUnavailable(
                            f"no reply after {attempts} attempt(s) ({failures[-1]}) from {self.where}"
                        )
                    ) from None
                # `Retry-After: inf` (or a year) is not a wait a server can mean: as if absent, like a
                # malformed one; else a run without a time budget was stopped "by the time budget"
                asked_wait = error.retry_after
                if asked_wait is not None and not (
                    math.isfinite(asked_wait) and asked_wait <= MAX_RETRY_AFTER
                ):
                    asked_wait = None
                with self._rng_lock:
                    wait = self.backoff.delay(attempts, self._rng, asked_wait)
                # the server's own ask, uncapped: a Retry-After past the deadline means no answer in time,
                # whatever shorter wait the cap would have us try first
                needed = max(wait, asked_wait or 0.0)
                if deadline.at is not None and needed >= deadline.left():
                    asked = f"; the endpoint asks to wait {asked_wait:.0f}s" if asked_wait is not None else ""
                    raise fail(
                        LLMOutOfTime(
                            f"the run's time budget ends before the next retry ({failures[-1]}) of "
                            f"{self.where}{asked}"
                        )
                    ) from None
                self._sleep(wait)
            except LLMError as error:
                spent = spent + self._counted(
                    reserved, self._attempt_cost(messages, stream, max_tokens_sent, failed=True)
                )
                if isinstance(error, LLMContextOverflow) and error.limit:
                    self.learn_context(error.limit)
                failures.append(short(str(error)))
                raise fail(error) from None

    def models(self) -> list[dict[str, Any]]:
        """The endpoint's `GET /models` entries as dicts, extra fields kept (context windows live there).

        Raises `LLMConfigError` on 401/403, another `LLMError` when the list cannot be had.
        """
        import openai

        try:
            page = self._client.models.list(timeout=min(10.0, float(self.spec.request_timeout)))
            return [item.model_dump() for item in page.data]
        except openai.APIStatusError as error:
            status = int(getattr(error, "status_code", 0) or 0)
            if status in (401, 403):
                raise LLMConfigError(
                    f"HTTP {status}: the endpoint refused the key in ${self.spec.api_key_env}; set it in the "
                    f"environment ({self.where})"
                ) from None
            raise LLMRequestRefused(f"GET /models: HTTP {status} ({self.where})") from None
        except (openai.OpenAIError, ValueError, TypeError, AttributeError) as error:
            raise LLMUnavailable(f"GET /models: {self._describe(error)} ({self.where})") from None

    def unreachable(self, seconds: float = CHECK_SECONDS) -> str | None:
        """Why nothing answers at the base URL (refused, DNS, TLS, no connection), None when something does.

        One `GET /models` through the same transport (proxies, TLS) the calls use; see
        `agent.llm.reachability`. A run checks this before its first experiment.
        """
        return why_unreachable(self._client, seconds)

    def learn_context(self, limit: int) -> None:
        """Remember the model's context window (from an overflow error); it only ever shrinks."""
        self.context = limit if self.context is None else min(self.context, limit)

    # ---------------------------------------------------------------- internals
    def redact(self, text: str) -> str:
        """`text` with the key's value (if any) replaced; applied to everything a server sends back."""
        return self._redactor.redact(text)

    def _adapt(self, fix: str) -> bool:
        """Stop sending what the endpoint refused (`fix`); False when it was already stopped."""
        if fix == "system":
            if not self.system_role:
                return False
            self.system_role = False
            return True
        if fix in self.dropped:
            return False
        self.dropped.add(fix)
        return True

    def _reserve(self, messages: Sequence[ChatMessage]) -> Any:
        """Write the attempt's reservation before it is sent: its prompt, estimated, at the input price.

        Its completion is unknown until it answers (`_counted` then writes what it was counted);
        the loop removes the reservation once the call's count is durable (`agent.llm.journal`)."""
        if self.journal is None:
            return None
        prompt = estimate_prompt_tokens(messages)
        return self.journal.reserve(Cost(prompt, 0, price(prompt, 0, self.spec), calls=1, estimated=prompt))

    def _counted(self, reserved: Any, cost: Cost) -> Cost:
        """`cost`, the attempt's count, written over its reservation (see `_reserve`)."""
        if reserved is not None and self.journal is not None:
            self.journal.update(reserved, cost)
        return cost

    def _attempt(
        self,
        messages: Sequence[ChatMessage],
        stream: ReplyStream,
        limit: float,
        max_tokens: int,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """One streamed request, ended at `limit` seconds: by the read timeout, between chunks, or by force."""
        import openai

        sent = messages if self.system_role else merge_system(messages)
        payload = [{"role": m.role, "content": self.redact(m.content)} for m in sent]
        options: dict[str, Any] = dict(extra or {})
        if "stream_options" not in self.dropped:
            options["stream_options"] = {"include_usage": True}
        ends = time.monotonic() + limit
        box: dict[str, BaseException] = {}
        done = threading.Event()

        def consume() -> None:
            try:
                handle = self._client.chat.completions.create(
                    model=self.spec.model,
                    messages=payload,
                    temperature=self.spec.temperature,
                    max_tokens=max_tokens,
                    stream=True,
                    timeout=max(0.05, limit),
                    **options,
                )
                stream.handle = handle
                stream.opened.set()
                response = getattr(handle, "response", None)
                kind = str(getattr(response, "headers", {}).get("content-type", "")).lower()
                if response is not None and "json" in kind and "event-stream" not in kind:
                    stream.take_plain(response)  # a server that does not stream
                    return
                for chunk in handle:
                    stream.take(chunk)
                    if stream.complete:  # what may follow ([DONE], the connection's end) adds nothing
                        stream.close()
                        break
                    if stream.truncated or time.monotonic() >= ends or stream.cancelled:
                        stream.cancelled = stream.cancelled or not stream.truncated
                        stream.close()
                        break
            except BaseException as error:  # handed to the caller's thread below
                box["error"] = error
            finally:
                done.set()

        threading.Thread(target=consume, name="strop-llm-call", daemon=True).start()
        ended = _await(stream, done, limit + 0.5)
        if ended == "finished":
            return  # the answer had finished; the stream after it never ended
        if ended == "timeout":
            stream.cancelled = True
            stream.close()  # the worker's next read fails; the server sees the connection closed
            raise Retryable(f"no reply within {limit:.3g}s (stream closed)", timeout=True)
        if stream.cancelled and not stream.truncated:
            raise Retryable(f"no complete reply within {limit:.3g}s (stream closed)", timeout=True)
        error = box.get("error")
        if error is None:
            if not stream.chunks and not stream.finish and stream.usage is None:
                raise Retryable("unreadable reply: the stream held no completion")
            return
        try:
            raise error
        except openai.APITimeoutError:
            stream.cancelled = True  # the client closed the connection: the server stops too
            raise Retryable(f"timed out after {limit:.3g}s", timeout=True) from None
        except openai.APIConnectionError as error:
            raise Retryable(f"connection error: {self._describe(error)}") from None
        except openai.APIStatusError as error:
            raise self._status_error(error) from None
        except openai.APIResponseValidationError as error:
            raise Retryable(f"unreadable reply: {self._describe(error)}") from None
        except ValueError as error:  # an event that is not JSON
            raise Retryable(f"unreadable reply: {self._describe(error)}") from None
        except openai.OpenAIError as error:
            raise LLMBadResponse(f"{self._describe(error)} ({self.where})") from None

    def _attempt_cost(
        self, messages: Sequence[ChatMessage], stream: ReplyStream, max_tokens: int, failed: bool = False
    ) -> Cost:
        """Tokens of one attempt: the server's usage when it sent one, else estimated and marked so.

        An attempt refused by status (no stream opened) generated nothing and counts none. A
        usage claiming more completion tokens than `max_tokens` (the attempt's), or more prompt
        tokens than the prompt can hold, is counted at that bound, marked estimated: the server's
        number was not believed. Nor is one claiming fewer than the text must cost (a prompt
        below a token per 16 characters, 0 completion tokens for an answer), or a running usage
        (sent before the finish reason, never followed by the final one) below the answer's
        estimate: the estimate is counted, marked estimated.
        """
        # llama.cpp, vLLM, Ollama and OpenAI send one chunk per token, but a server may send many
        # tokens a chunk (one chunk of 90,000 characters), and a stream cut short may have lost its
        # last pieces: the larger of the two counts; but never more than the attempt allowed: the
        # server stops at `max_tokens` (a reply of 512 tokens was counted 682 by the text's estimate)
        written = estimate_tokens(stream.text) if stream.chunks else 0
        guess = (
            estimate_prompt_tokens(messages),
            min(max(stream.chunks, written) + stream.thinking_tokens, max_tokens),
        )
        # a count below what the text must cost is not believed (0 prompt tokens, 0 completion tokens
        # for an answer that came), nor a running usage (one before the finish) below the estimate
        least_completion = least_tokens(stream.chars) + least_tokens(stream.thinking_chars)
        least = (prompt_tokens_least(messages), least_completion if stream.usage_final else guess[1])
        usage = believed_usage(
            stream.usage, max_tokens, prompt_tokens_most(messages), least=least, estimate=guess
        )
        if usage is not None:
            prompt, completion = usage.prompt, usage.completion
            if prompt == usage_counts(stream.usage)[0] and prompt > 0:  # the server's own count, believed
                estimate = prompt_tokens_upper(messages)
                if estimate >= RATIO_PROMPT_MIN:
                    with self._ratio_lock:
                        self.prompt_ratio = max(prompt / estimate, self.prompt_ratio or 0.0)
            usd = price(prompt, completion, self.spec)
            return Cost(prompt, completion, usd, calls=1, estimated=usage.estimated)
        # a usage no server could mean (negative, fractional, NaN, text, past 10M) is not believed: estimated
        if failed and not stream.opened.is_set() and not stream.cancelled:
            return Cost(calls=1)
        prompt, completion = guess
        return Cost(
            prompt, completion, price(prompt, completion, self.spec), calls=1, estimated=prompt + completion
        )

    def _describe(self, error: BaseException) -> str:
        """The endpoint's words in `error`, for a message: one line, the key redacted, no control characters."""
        text = re.sub(r"\s+", " ", str(error)).strip() or type(error).__name__
        return printable_line(self.redact(text))[:300]

    def _status_error(self, error: Any) -> Exception:
        return status_error(error, self._describe(error), self.where, self.spec.api_key_env, self._key_set)

    def _finish(self, stream: ReplyStream, attempts: int, log: Callable[[str], CallLog]) -> LLMReply:
        text = stream.text
        finish = stream.finish or ("length" if stream.truncated else "")
        call = replace(log(finish), first_token=stream.first_token)
        return LLMReply(
            text=_SURROGATE.sub("\ufffd", self.redact(text)),
            model=stream.model or self.spec.model,
            cost=call.cost,
            attempts=attempts,
            seconds=round(call.seconds, 4),
            finish_reason=finish,
            usage_reported=believed_usage(stream.usage) is not None,
            truncated=stream.truncated,
            log=call,
            tool_calls=tuple(dict.fromkeys(stream.tools)),
        )


def _await(stream: ReplyStream, done: threading.Event, limit: float) -> str:
    """Wait for the worker reading `stream`: "done" when it ended, "timeout" at `limit` seconds, and
    "finished" (the stream closed) when the answer's finish reason came `FINISH_GRACE` seconds ago
    and the stream has not ended since: its usage, or its `[DONE]`, is not coming."""
    ends = time.monotonic() + limit
    while not done.wait(0.1):
        now = time.monotonic()
        if stream.finished_at is not None and now >= stream.finished_at + FINISH_GRACE:
            stream.close()  # the worker, if it ever wakes, finds it closed; what it says then is moot
            return "finished"
        if now >= ends:
            return "timeout"
    return "done"
