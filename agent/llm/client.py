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
  else estimated (`estimate_prompt_tokens`, streamed chunks, reasoning chunks included)
  and marked `estimated`; `CallLog` keeps attempts, retries, timeouts, cancellations and
  `finish_reason`;
- replies longer than `max_reply_chars` are cut there (`truncated=True`) and the
  stream is closed, so a huge reply cannot blow up prompts, parsers or records;
- what a server sends besides text is not the answer: `reasoning_content` / `reasoning`
  chunks are counted, not read; tool calls (`content: null`) are named in `tool_calls`;
  lone surrogates (JSON `\ud800`) become U+FFFD, so no later write or commit can choke on
  them. A server that answers the streamed request with one plain JSON completion
  (it does not stream) is read all the same;
- a 404, or a 400 saying the model does not exist or refusing streamed requests, is an
  `LLMConfigError`: one line, no retry; so is a 401/403, which names the key's variable
  (and says so when it is unset).
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from agent.deadline import Deadline
from agent.llm.backoff import Backoff, retry_after_seconds
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
from agent.records import Cost
from agent.task import LLMSpec

NO_KEY = "strop-no-key"  # sent when the key variable is unset: local endpoints accept anything
MAX_REPLY_CHARS = 400_000
_REDACTED = "[redacted]"

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str

    def to_api(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class CallLog:
    """How one `complete` call went, attempt by attempt, for the record and `strop show`."""

    attempts: int = 0
    seconds: float = 0.0
    finish_reason: str = ""  # of the attempt that answered ("" when none did)
    max_tokens: int = 0
    timeouts: int = 0
    cancelled: int = 0  # attempts whose stream strop closed before the model finished
    failures: tuple[str, ...] = ()  # one short line per failed attempt
    cost: Cost = field(default_factory=Cost)
    first_token: float | None = None  # seconds from sending to the first content chunk (answering attempt)

    def line(self) -> str:
        """One line: outcome, finish reason, attempts and why they failed, tokens, seconds."""
        parts = [f"finish {self.finish_reason or 'none'}"]
        if self.attempts > 1 or self.failures:
            why = "; ".join(self.failures[-3:])
            parts.append(f"{self.attempts} attempts" + (f" ({why})" if why else ""))
        if self.timeouts:
            parts.append(f"{self.timeouts} timed out")
        if self.cancelled:
            parts.append(f"{self.cancelled} cancelled on the server")
        tokens = f"{self.cost.prompt_tokens}+{self.cost.completion_tokens} tokens"
        if self.cost.estimated:
            tokens += f" ({self.cost.estimated} estimated)"
        parts += [tokens, f"max_tokens {self.max_tokens}", f"{self.seconds:.1f}s"]
        if self.first_token is not None:
            parts.append(f"first token {self.first_token:.1f}s")
        return ", ".join(parts)


@dataclass(frozen=True)
class LLMReply:
    """One completion: its text and what it cost (all attempts included)."""

    text: str
    model: str
    cost: Cost
    attempts: int
    seconds: float
    finish_reason: str = ""
    usage_reported: bool = True
    truncated: bool = False
    log: CallLog = field(default_factory=CallLog)
    tool_calls: tuple[str, ...] = ()  # names of the functions the model called instead of answering in text


def price(prompt_tokens: int, completion_tokens: int, spec: LLMSpec) -> float:
    """USD for these tokens at the task's prices (per 1M tokens)."""
    usd = prompt_tokens * spec.price_input / 1e6 + completion_tokens * spec.price_output / 1e6
    return round(usd, 8)


def safe_url(url: str) -> str:
    """The URL without user:password and query (which may hold credentials), for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


_OVERFLOW = re.compile(
    r"context.{0,20}(length|window|size)|maximum context|too many tokens|context_length_exceeded|"
    r"prompt is too long|exceeds? the (available )?context",
    re.IGNORECASE,
)
_WINDOW = re.compile(
    r"(?:context length is|context window of|context size of|n_ctx\W*|context_length\W*)\s*(\d{3,7})",
    re.IGNORECASE,
)
MIN_ANSWER_TOKENS = 16  # below this, a request is not worth sending
_REJECTED = r"(unsupported|not supported|unknown|unrecogni[sz]ed|extra (inputs?|fields?)|not (permitted|allowed)|invalid)"
_INVALID = re.compile(r"validation error|Input should be|Extra inputs are not permitted", re.IGNORECASE)
_MODEL_UNKNOWN = re.compile(
    r"model_not_found|\bmodel\b[^.]{0,80}?\b(not found|does not exist|is not a valid)|"
    r"\b(invalid|unknown|not a valid) model\b",
    re.IGNORECASE,
)
_NO_STREAM = re.compile(  # streaming itself, not "streaming with response_format is not supported"
    r"\bstream(ing)?( mode)? (is )?(not supported|unsupported|not allowed|disabled)|"
    r"(does not|doesn't) support stream(ing)?\b(?! (with|of|for|when))",
    re.IGNORECASE,
)
_SURROGATE = re.compile("[\ud800-\udfff]")
_OPTIONAL = ("seed", "stream_options")  # parameters strop can live without, when an endpoint refuses them
_NO_SYSTEM = re.compile(
    r"system (role|message|prompt)s?.{0,60}(not supported|unsupported|not allowed|invalid|must)|"
    r"roles must alternate|unsupported role|only (the )?user and assistant",
    re.IGNORECASE,
)


_PIECE = re.compile(r"'(?:[sdmt]|ll|ve|re)| ?[A-Za-z]+|[0-9]| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+")
MESSAGE_FRAMING = 5  # tokens a chat template adds around a message: <|im_start|>role\n … <|im_end|>\n
REPLY_FRAMING = 3  # and before the answer: <|im_start|>assistant\n


def estimate_tokens(text: str) -> int:
    """Tokens in `text`, estimated without the model's tokenizer: for counting what no server reported.

    BPE tokenizers first split text into words, digits, punctuation runs and spaces (GPT-2's
    pre-tokenizer, which most chat models keep; digits one by one, without the space before
    them); each piece is at least one token and long words split further (about 7 letters a
    token). Against SmolLM2's tokenizer this is within ±3% on prose, code and JSON, where
    chars/4 is 10–45% low on code and numbers; chars/4 stays the floor for long symbol runs.
    """
    pieces = 0
    for match in _PIECE.finditer(text):
        piece = match.group(0).strip()
        pieces += 1 + ((len(piece) - 1) // 7 if piece.isalpha() else 0)
    return max(pieces, (len(text) + 3) // 4)


def estimate_prompt_tokens(messages: Sequence[ChatMessage]) -> int:
    """A prompt's tokens, estimated: its messages' text plus the chat template's framing."""
    return sum(estimate_tokens(m.content) + MESSAGE_FRAMING for m in messages) + REPLY_FRAMING


def prompt_tokens_upper(messages: Sequence[ChatMessage]) -> int:
    """A generous estimate of a prompt's tokens (chars/3 plus framing): for fitting it under limits."""
    return sum(len(m.content) // 3 + 8 for m in messages) + 8


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None, timeout: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.timeout = timeout


class _Quirk(Exception):
    """The endpoint refused something strop can do without: a parameter, or the system role."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix  # a parameter's name, or "system"


def merge_system(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """The messages without a system role: system text goes first in the next user message.

    For chat templates that have no system role (they raise, or the server answers 400/500).
    """
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    rest = [m for m in messages if m.role != "system"]
    if not system:
        return rest
    if rest and rest[0].role == "user":
        return [ChatMessage("user", f"{system}\n\n{rest[0].content}"), *rest[1:]]
    return [ChatMessage("user", system), *rest]


class _Stream:
    """What one streamed attempt received so far; shared between the caller and the worker thread."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.chars = 0
        self.chunks = 0  # content chunks: about one token each on llama.cpp and vLLM
        self.thinking = 0  # reasoning chunks (`reasoning_content`, `reasoning`): generated, not the answer
        self.tools: list[str] = []  # names of the tool calls the reply held
        self.finish = ""
        self.usage: Any = None
        self.model = ""
        self.handle: Any = None  # the openai Stream, once the headers came
        self.cancelled = False  # strop closed it before the model finished
        self.truncated = False
        self.opened = threading.Event()
        self.sent_at = time.monotonic()
        self.first_token: float | None = None  # seconds after sending, of the first content chunk

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def close(self) -> None:
        """Close the stream (the server stops generating); safe from any thread, any number of times."""
        handle = self.handle
        if handle is not None:
            # closing a half-read socket may complain; it is closed all the same
            with contextlib.suppress(Exception):
                handle.close()


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
        self._secrets = tuple(s for s in (key,) if len(s) >= 4)
        self._spelled = tuple(_escaped_spellings(secret) for secret in self._secrets)
        self.context: int | None = getattr(spec, "context", None)  # tokens; learned from overflow errors
        self.dropped: set[str] = set()  # optional parameters this endpoint refused: no longer sent
        self.system_role = True  # False once the endpoint's chat template refused the system role
        self._client = self._openai(key or NO_KEY)

    def _openai(self, key: str) -> Any:
        import openai

        timeout = float(self.spec.request_timeout)
        return openai.OpenAI(
            api_key=key,
            base_url=self.spec.base_url,
            timeout=timeout,
            max_retries=0,
            organization=None,
            project=None,
            # a redirect would send the prompt (the user's code) to a host the user did not name
            http_client=openai.DefaultHttpxClient(follow_redirects=False),
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
        if tokens_left is not None:
            allowed = min(allowed, tokens_left - prompt)
            if allowed < MIN_ANSWER_TOKENS:
                raise LLMBudgetSpent(
                    f"token budget: {tokens_left} tokens left cannot pay for a prompt of about {prompt} "
                    f"tokens and an answer of {MIN_ANSWER_TOKENS}; not sent"
                )
        if usd_left is not None and (self.spec.price_input or self.spec.price_output):
            prompt_usd = prompt * self.spec.price_input / 1e6
            per_token = self.spec.price_output / 1e6
            room = (usd_left - prompt_usd) / per_token if per_token else (1e9 if usd_left > prompt_usd else 0)
            allowed = min(allowed, int(room))
            if allowed < MIN_ANSWER_TOKENS:
                raise LLMBudgetSpent(
                    f"cost budget: ${usd_left:.4f} left cannot pay for a prompt of about {prompt} tokens "
                    f"and an answer of {MIN_ANSWER_TOKENS}; not sent"
                )
        return allowed

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
        max_tokens = 0

        def log(finish: str = "") -> CallLog:
            return CallLog(
                attempts=attempts,
                seconds=round(time.monotonic() - started, 3),
                finish_reason=finish,
                max_tokens=max_tokens,
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
                planned = self.plan_max_tokens(messages, tokens_left, usd_left)
            except LLMError as error:
                raise fail(error) from None
            cap = max(MIN_ANSWER_TOKENS, max_tokens) if max_tokens else planned
            max_tokens_sent = min(planned, cap)
            max_tokens = max_tokens_sent
            attempts += 1
            limit = deadline.clamp(float(self.spec.request_timeout))
            stream = _Stream()
            extra: dict[str, Any] = {}
            if response_format is not None:
                extra["response_format"] = dict(response_format)
            if seed is not None and "seed" not in self.dropped:
                extra["seed"] = seed
            try:
                self._attempt(messages, stream, limit, max_tokens_sent, extra)
                spent = spent + self._attempt_cost(messages, stream)
                cancelled += stream.cancelled
                return self._finish(stream, attempts, log)
            except _Quirk as quirk:
                spent = spent + self._attempt_cost(messages, stream, failed=True)
                failures.append(_short(str(quirk)))
                if not self._adapt(quirk.fix):
                    raise fail(LLMRequestRefused(f"{quirk} ({self.where})")) from None
            except _Retryable as error:
                spent = spent + self._attempt_cost(messages, stream, failed=True)
                timeouts += error.timeout
                cancelled += stream.cancelled
                failures.append(_short(str(error)))
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
                with self._rng_lock:
                    wait = self.backoff.delay(attempts, self._rng, error.retry_after)
                if wait >= deadline.left():
                    raise fail(
                        LLMOutOfTime(
                            f"the run's time budget ends before the next retry ({failures[-1]}) of {self.where}"
                        )
                    ) from None
                self._sleep(wait)
            except LLMError as error:
                spent = spent + self._attempt_cost(messages, stream, failed=True)
                if isinstance(error, LLMContextOverflow) and error.limit:
                    self.learn_context(error.limit)
                failures.append(_short(str(error)))
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

    def learn_context(self, limit: int) -> None:
        """Remember the model's context window (from an overflow error); it only ever shrinks."""
        self.context = limit if self.context is None else min(self.context, limit)

    # ---------------------------------------------------------------- internals
    def redact(self, text: str) -> str:
        """`text` with the key's value (if any) replaced; applied to everything a server sends back."""
        for secret, spelled in zip(self._secrets, self._spelled, strict=True):
            text = text.replace(secret, _REDACTED)
            if "\\" in text:  # JSON's \u0073 spelling decodes to the key once an answer is parsed
                text = spelled.sub(_REDACTED, text)
        return text

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

    def _attempt(
        self,
        messages: Sequence[ChatMessage],
        stream: _Stream,
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
                    self._take_plain(stream, response)  # a server that does not stream
                    return
                for chunk in handle:
                    self._take(stream, chunk)
                    if stream.truncated or time.monotonic() >= ends or stream.cancelled:
                        stream.cancelled = stream.cancelled or not stream.truncated
                        stream.close()
                        break
            except BaseException as error:  # handed to the caller's thread below
                box["error"] = error
            finally:
                done.set()

        threading.Thread(target=consume, name="strop-llm-call", daemon=True).start()
        if not done.wait(limit + 0.5):
            stream.cancelled = True
            stream.close()  # the worker's next read fails; the server sees the connection closed
            raise _Retryable(f"no reply within {limit:.3g}s (stream closed)", timeout=True)
        if stream.cancelled and not stream.truncated:
            raise _Retryable(f"no complete reply within {limit:.3g}s (stream closed)", timeout=True)
        error = box.get("error")
        if error is None:
            if not stream.chunks and not stream.finish and stream.usage is None:
                raise _Retryable("unreadable reply: the stream held no completion")
            return
        try:
            raise error
        except openai.APITimeoutError:
            stream.cancelled = True  # the client closed the connection: the server stops too
            raise _Retryable(f"timed out after {limit:.3g}s", timeout=True) from None
        except openai.APIConnectionError as error:
            raise _Retryable(f"connection error: {self._describe(error)}") from None
        except openai.APIStatusError as error:
            raise self._status_error(error) from None
        except openai.APIResponseValidationError as error:
            raise _Retryable(f"unreadable reply: {self._describe(error)}") from None
        except ValueError as error:  # an event that is not JSON
            raise _Retryable(f"unreadable reply: {self._describe(error)}") from None
        except openai.OpenAIError as error:
            raise LLMBadResponse(f"{self._describe(error)} ({self.where})") from None

    def _take_plain(self, stream: _Stream, response: Any) -> None:
        """Read a whole JSON completion sent in answer to a streamed request (the server does not stream)."""
        import json

        body = bytearray()
        for piece in response.iter_bytes():
            body += piece
            if len(body) > self.max_reply_chars * 4 + 65_536:
                raise ValueError(f"a plain JSON reply of more than {len(body)} bytes")
        data = json.loads(bytes(body).decode("utf-8", "replace"))
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise ValueError("a plain JSON reply without choices")
        message = choices[0].get("message") or {}
        content = message.get("content") if isinstance(message, dict) else None
        text = content if isinstance(content, str) else ""
        if len(text) > self.max_reply_chars:
            text, stream.truncated = text[: self.max_reply_chars], True
        stream.parts.append(text)
        stream.chars = len(text)
        stream.chunks = estimate_tokens(text) if text else 0
        stream.finish = str(choices[0].get("finish_reason") or "")
        stream.model = str(data.get("model") or "")
        stream.tools = _tool_names(message.get("tool_calls") if isinstance(message, dict) else None)
        stream.usage = data.get("usage")

    def _take(self, stream: _Stream, chunk: Any) -> None:
        """Fold one streamed chunk into `stream`: text, finish reason, usage, model."""
        stream.model = str(getattr(chunk, "model", "") or stream.model)
        usage = getattr(chunk, "usage", None)
        if usage is None:  # Groq streams its usage in `x_groq`
            groq = getattr(chunk, "x_groq", None)
            usage = groq.get("usage") if isinstance(groq, Mapping) else None
        if usage is not None:
            stream.usage = usage
        choices = getattr(chunk, "choices", None) or []
        if not choices:
            return
        choice = choices[0]
        delta = getattr(choice, "delta", None)
        content = getattr(delta, "content", None) if delta is not None else None
        if any(isinstance(getattr(delta, name, None), str) for name in ("reasoning_content", "reasoning")):
            stream.thinking += 1
        stream.tools += _tool_names(getattr(delta, "tool_calls", None))
        if isinstance(content, str) and content:
            if stream.first_token is None:
                stream.first_token = round(time.monotonic() - stream.sent_at, 3)
            stream.chunks += 1
            room = self.max_reply_chars - stream.chars
            if len(content) > room:
                content = content[: max(0, room)]
                stream.truncated = True
            stream.parts.append(content)
            stream.chars += len(content)
        finish = getattr(choice, "finish_reason", None)
        if finish:
            stream.finish = str(finish)

    def _attempt_cost(self, messages: Sequence[ChatMessage], stream: _Stream, failed: bool = False) -> Cost:
        """Tokens of one attempt: the server's usage when it sent one, else estimated and marked so.

        An attempt refused by status (no stream opened) generated nothing and counts none.
        """
        usage = stream.usage
        if usage is not None:
            prompt, completion = _usage_counts(usage)
            if prompt is not None and completion is not None:
                return Cost(prompt, completion, price(prompt, completion, self.spec), calls=1)
            # a usage no server could mean (negative, NaN, text, past 10M) is not believed: estimated
        if failed and not stream.opened.is_set() and not stream.cancelled:
            return Cost(calls=1)
        prompt = estimate_prompt_tokens(messages)
        # a stream that ended normally sent one chunk per token (llama.cpp, vLLM, Ollama, OpenAI);
        # one cut short may have lost its last pieces: take the larger count
        finished = bool(stream.finish) and not stream.truncated and not stream.cancelled
        estimate = estimate_tokens(stream.text) if stream.chunks else 0
        completion = (stream.chunks if finished else max(stream.chunks, estimate)) + stream.thinking
        return Cost(
            prompt, completion, price(prompt, completion, self.spec), calls=1, estimated=prompt + completion
        )

    def _describe(self, error: BaseException) -> str:
        text = re.sub(r"\s+", " ", str(error)).strip() or type(error).__name__
        return self.redact(text)[:300]

    def _status_error(self, error: Any) -> Exception:
        status = int(getattr(error, "status_code", 0) or 0)
        headers = dict(getattr(getattr(error, "response", None), "headers", {}) or {})
        described = self._describe(error)
        message = f"HTTP {status}: {described}"
        if status in (401, 403):
            if not self._key_set:
                return LLMConfigError(
                    f"HTTP {status}: the endpoint wants a key and ${self.spec.api_key_env} is not set; set it "
                    f"in the environment, or name another variable in [llm] api_key_env ({self.where})"
                )
            return LLMConfigError(
                f"HTTP {status}: the endpoint refused the key in ${self.spec.api_key_env}; set it in the "
                f"environment ({self.where})"
            )
        if status == 404:
            return LLMConfigError(
                f"HTTP 404: not found ({_short(described, 160)}); check [llm] base_url and model ({self.where})"
            )
        if status in (400, 413, 422) and _OVERFLOW.search(described):
            window = _WINDOW.search(described)
            return LLMContextOverflow(
                f"context overflow: {message} ({self.where})", limit=int(window.group(1)) if window else None
            )
        invalid = status == 500 and bool(_INVALID.search(described))  # llama-cpp-python: 500 for a 422
        if status in (400, 422, 500) and _NO_SYSTEM.search(described):
            return _Quirk(
                f"HTTP {status}: the chat template has no system role; sent again without it", "system"
            )
        if status in (400, 422) or invalid:
            for name in _OPTIONAL:
                if re.search(rf"\b{name}\b", described) and re.search(_REJECTED, described, re.IGNORECASE):
                    return _Quirk(
                        f"HTTP {status}: the endpoint refuses `{name}`; sent again without it", name
                    )
        if status in (400, 422) and _NO_STREAM.search(described):
            return LLMConfigError(
                f"HTTP {status}: the endpoint refuses streamed requests ({_short(described, 120)}); strop streams "
                f"every request, to stop calls it gives up on: use a server that streams ({self.where})"
            )
        if status in (400, 422) and _MODEL_UNKNOWN.search(described):
            return LLMConfigError(
                f"HTTP {status}: the endpoint does not know the model ({_short(described, 160)}); check [llm] "
                f"model ({self.where})"
            )
        if (status == 429 or status >= 500 or status in (408, 409)) and not invalid:
            return _Retryable(message, retry_after_seconds(headers))
        return LLMRequestRefused(f"{message} ({self.where})")

    def _finish(self, stream: _Stream, attempts: int, log: Callable[[str], CallLog]) -> LLMReply:
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
            usage_reported=stream.usage is not None,
            truncated=stream.truncated,
            log=call,
            tool_calls=tuple(dict.fromkeys(stream.tools)),
        )


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


MAX_CALL_TOKENS = 10_000_000
"""More tokens than any context window holds: a usage above it is a hostile or broken server's."""


def _usage_counts(usage: Any) -> tuple[int | None, int | None]:
    """(prompt, completion) tokens from a usage object or dict: OpenAI's names, else input/output."""

    def get(name: str) -> object:
        return usage.get(name) if isinstance(usage, Mapping) else getattr(usage, name, None)

    prompt, completion = _token_count(get("prompt_tokens")), _token_count(get("completion_tokens"))
    if prompt is None and completion is None:
        prompt, completion = _token_count(get("input_tokens")), _token_count(get("output_tokens"))
    return prompt, completion


def _tool_names(calls: object) -> list[str]:
    """The function names of streamed or whole `tool_calls` (a name arrives once, in the call's first chunk)."""
    names = []
    for call in calls if isinstance(calls, list) else []:
        function = call.get("function") if isinstance(call, Mapping) else getattr(call, "function", None)
        name = function.get("name") if isinstance(function, Mapping) else getattr(function, "name", None)
        if isinstance(name, str) and (name := re.sub(r"[^\w.\-]", "", name)[:60]):
            names.append(name)
    return names


def _token_count(value: object) -> int | None:
    """A server's token count as a non-negative int, or None when it cannot be one."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or not 0 <= value <= MAX_CALL_TOKENS:
        return None
    return int(value)


def _escaped_spellings(secret: str) -> re.Pattern[str]:
    """The key written with any of its characters as a JSON escape (\\u0073, \\/): parsed, it is the key."""
    pieces = []
    for char in secret:
        options = [re.escape(char), f"\\\\u{ord(char):04x}"]
        if char == "/":
            options.append(r"\\/")
        pieces.append("(?:" + "|".join(options) + ")")
    return re.compile("".join(pieces), re.IGNORECASE)
