"""The model client: one chat completion from any OpenAI-compatible endpoint, counted and bounded.

A thin layer over the real `openai` package that adds what a long unattended run
needs and the package leaves to its caller:

- the key is read from the environment variable the task names (`[llm] api_key_env`)
  and lives only inside the `openai` client: never in a message, a record, a log or a
  sandbox; an endpoint with no key (a local server) gets a placeholder;
- retries on 429, 5xx, 408/409, timeouts, connection errors and unreadable 2xx bodies,
  with exponential backoff and jitter, honouring `Retry-After`. The package's own
  retries are switched off: ours count attempts and take an injected sleep and random
  generator, so tests are exact and fast;
- a hard per-request deadline: the call runs in a daemon thread that is abandoned
  when the deadline passes, so a server that trickles bytes forever cannot hang the
  run (the socket's own read timeout ends the thread later);
- tokens and cost from the reply's `usage` and the task's price table; a reply
  without `usage` counts zero tokens and says so (`usage_reported=False`);
- replies longer than `max_reply_chars` are cut there (`truncated=True`), so a huge
  reply cannot blow up prompts, parsers or records.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from agent.llm.backoff import Backoff, retry_after_seconds
from agent.llm.errors import (
    LLMBadResponse,
    LLMConfigError,
    LLMError,
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
class LLMReply:
    """One completion: its text and what it cost."""

    text: str
    model: str
    cost: Cost
    attempts: int
    seconds: float
    finish_reason: str = ""
    usage_reported: bool = True
    truncated: bool = False


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


class _Deadline(Exception):
    """The hard per-request deadline passed."""


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def call_with_deadline(fn: Callable[[], Any], seconds: float) -> Any:
    """`fn()` in a daemon thread; `_Deadline` when it has not returned after `seconds`."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as error:  # handed to the caller's thread below
            box["error"] = error
        finally:
            done.set()

    threading.Thread(target=target, name="strop-llm-call", daemon=True).start()
    if not done.wait(seconds):
        raise _Deadline()
    if "error" in box:
        raise box["error"]
    return box["value"]


class LLMClient:
    """Chat completions from `spec.base_url` with `spec.model`. One instance per run is enough."""

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
        env = os.environ if environ is None else environ
        key = env.get(spec.api_key_env) or ""
        self._secrets = tuple(s for s in (key,) if len(s) >= 4)
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
    def complete(self, messages: Sequence[ChatMessage]) -> LLMReply:
        """One completion, retried on transient failures; raises an `LLMError` when none comes."""
        started = time.monotonic()
        attempts = 0
        last = ""
        while True:
            attempts += 1
            try:
                reply = self._attempt(messages)
            except _Retryable as error:
                last = str(error)
                if attempts > self.spec.max_retries:
                    raise LLMUnavailable(
                        f"{self.where}: no reply after {attempts} attempt(s); last: {last}", attempts
                    ) from None
                self._sleep(self.backoff.delay(attempts, self._rng, error.retry_after))
                continue
            except LLMError as error:
                error.attempts = attempts
                raise
            return self._finish(reply, attempts, time.monotonic() - started)

    # ---------------------------------------------------------------- internals
    def redact(self, text: str) -> str:
        """`text` with the key's value (if any) replaced; applied to everything a server sends back."""
        for secret in self._secrets:
            text = text.replace(secret, _REDACTED)
        return text

    def _attempt(self, messages: Sequence[ChatMessage]) -> Any:
        import openai

        payload = [{"role": m.role, "content": self.redact(m.content)} for m in messages]
        timeout = float(self.spec.request_timeout)

        def call() -> Any:
            return self._client.chat.completions.create(
                model=self.spec.model,
                messages=payload,
                temperature=self.spec.temperature,
                max_tokens=self.spec.max_tokens,
            )

        try:
            return call_with_deadline(call, timeout + 1.0)
        except _Deadline:
            raise _Retryable(f"no reply within {timeout:g}s (hard deadline)") from None
        except openai.APITimeoutError:
            raise _Retryable(f"timed out after {timeout:g}s") from None
        except openai.APIConnectionError as error:
            raise _Retryable(f"connection error: {self._describe(error)}") from None
        except openai.APIStatusError as error:
            raise self._status_error(error) from None
        except openai.APIResponseValidationError as error:
            raise _Retryable(f"unreadable reply: {self._describe(error)}") from None
        except ValueError as error:  # a 2xx body that is not JSON
            raise _Retryable(f"unreadable reply: {self._describe(error)}") from None
        except openai.OpenAIError as error:
            raise LLMBadResponse(f"{self.where}: {self._describe(error)}") from None

    def _describe(self, error: BaseException) -> str:
        text = re.sub(r"\s+", " ", str(error)).strip() or type(error).__name__
        return self.redact(text)[:300]

    def _status_error(self, error: Any) -> Exception:
        status = int(getattr(error, "status_code", 0) or 0)
        headers = dict(getattr(getattr(error, "response", None), "headers", {}) or {})
        message = f"HTTP {status}: {self._describe(error)}"
        if status == 429 or status >= 500 or status in (408, 409):
            return _Retryable(message, retry_after_seconds(headers))
        if status in (401, 403):
            return LLMConfigError(
                f"{self.where} refused the key in ${self.spec.api_key_env} (HTTP {status}); "
                "set it in the environment"
            )
        if status == 404:
            return LLMConfigError(f"{self.where}: not found (HTTP 404); check [llm] base_url and model")
        return LLMRequestRefused(f"{self.where}: {message}")

    def _finish(self, completion: Any, attempts: int, seconds: float) -> LLMReply:
        choices = getattr(completion, "choices", None)
        if isinstance(completion, str | bytes) or not choices:
            raise LLMBadResponse(f"{self.where}: the reply held no choices", attempts)
        choice = choices[0]
        message = getattr(choice, "message", None)
        text = getattr(message, "content", None) or ""
        if not isinstance(text, str):
            raise LLMBadResponse(f"{self.where}: the reply's content is not text", attempts)
        truncated = len(text) > self.max_reply_chars
        if truncated:
            text = text[: self.max_reply_chars]
        usage = getattr(completion, "usage", None)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0) if usage else 0
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0) if usage else 0
        cost = Cost(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            usd=price(prompt_tokens, completion_tokens, self.spec),
            calls=1,
        )
        return LLMReply(
            text=self.redact(text),
            model=str(getattr(completion, "model", "") or self.spec.model),
            cost=cost,
            attempts=attempts,
            seconds=round(seconds, 4),
            finish_reason=str(getattr(choice, "finish_reason", "") or ""),
            usage_reported=usage is not None,
            truncated=truncated,
        )
