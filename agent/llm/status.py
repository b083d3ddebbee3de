"""Status errors: what an endpoint's HTTP error means for strop, retry, adapt or stop.

429, 5xx, 408/409 are retried (`Retryable`, honouring `Retry-After`); a refused optional
parameter (`seed`, `stream_options`) or system role is dropped and the request sent again
(`Quirk`); a context overflow names the window when it can; 401/403, 404, an unknown model
and a server that will not stream are `LLMConfigError`s: one line, no retry; so is a
redirect, which strop does not follow (it would send the prompt to a URL the user did not
name); the rest is `LLMRequestRefused`. Servers word these differently (OpenAI, vLLM,
llama.cpp, Ollama, llama-cpp-python), hence the patterns.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin

from agent.llm.backoff import retry_after_seconds
from agent.llm.errors import LLMConfigError, LLMContextOverflow, LLMRequestRefused
from agent.llm.redaction import printable_line, safe_url

_OVERFLOW = re.compile(
    r"context.{0,20}(length|window|size)|maximum context|too many tokens|context_length_exceeded|"
    r"prompt is too long|exceeds? the (available )?context",
    re.IGNORECASE,
)
_WINDOW = re.compile(
    r"(?:context length is|context window of|context size of|n_ctx\W*|context_length\W*)\s*(\d{3,7})",
    re.IGNORECASE,
)
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
_OPTIONAL = ("seed", "stream_options")  # parameters strop can live without, when an endpoint refuses them
_NO_SYSTEM = re.compile(
    r"system (role|message|prompt)s?.{0,60}(not supported|unsupported|not allowed|invalid|must)|"
    r"roles must alternate|unsupported role|only (the )?user and assistant",
    re.IGNORECASE,
)


class Retryable(Exception):
    """A failed attempt worth another: after `retry_after` seconds when the server said so."""

    def __init__(self, message: str, retry_after: float | None = None, timeout: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.timeout = timeout


class Quirk(Exception):
    """The endpoint refused something strop can do without: a parameter, or the system role."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix  # a parameter's name, or "system"


def status_error(error: Any, described: str, where: str, key_env: str, key_set: bool) -> Exception:
    """The exception an `openai.APIStatusError` stands for; `described` is its redacted text."""
    status = int(getattr(error, "status_code", 0) or 0)
    headers = dict(getattr(getattr(error, "response", None), "headers", {}) or {})
    message = f"HTTP {status}: {described}"
    if status in (401, 403):
        if not key_set:
            return LLMConfigError(
                f"HTTP {status}: the endpoint wants a key and ${key_env} is not set; set it "
                f"in the environment, or name another variable in [llm] api_key_env ({where})"
            )
        return LLMConfigError(
            f"HTTP {status}: the endpoint refused the key in ${key_env}; set it in the environment ({where})"
        )
    if 300 <= status < 400:
        return LLMConfigError(redirected(error, status, where))
    if status == 404:
        return LLMConfigError(
            f"HTTP 404: not found ({short(described, 160)}); check [llm] base_url and model ({where})"
        )
    if status in (400, 413, 422) and _OVERFLOW.search(described):
        window = _WINDOW.search(described)
        return LLMContextOverflow(
            f"context overflow: {message} ({where})", limit=int(window.group(1)) if window else None
        )
    invalid = status == 500 and bool(_INVALID.search(described))  # llama-cpp-python: 500 for a 422
    if status in (400, 422, 500) and _NO_SYSTEM.search(described):
        return Quirk(f"HTTP {status}: the chat template has no system role; sent again without it", "system")
    if status in (400, 422) or invalid:
        for name in _OPTIONAL:
            if re.search(rf"\b{name}\b", described) and re.search(_REJECTED, described, re.IGNORECASE):
                return Quirk(f"HTTP {status}: the endpoint refuses `{name}`; sent again without it", name)
    if status in (400, 422) and _NO_STREAM.search(described):
        return LLMConfigError(
            f"HTTP {status}: the endpoint refuses streamed requests ({short(described, 120)}); strop streams "
            f"every request, to stop calls it gives up on: use a server that streams ({where})"
        )
    if status in (400, 422) and _MODEL_UNKNOWN.search(described):
        return LLMConfigError(
            f"HTTP {status}: the endpoint does not know the model ({short(described, 160)}); check [llm] "
            f"model ({where})"
        )
    if (status == 429 or status >= 500 or status in (408, 409)) and not invalid:
        return Retryable(message, retry_after_seconds(headers))
    return LLMRequestRefused(f"{message} ({where})")


def redirected(error: Any, status: int, where: str) -> str:
    """Why a redirect stops the run: strop does not follow one; where it pointed, credentials removed."""
    response = getattr(error, "response", None)
    location = str(getattr(response, "headers", {}).get("location") or "")
    if not location:
        target = "without saying where (no Location)"
    else:
        request = getattr(response, "request", None)
        base = str(getattr(request, "url", "") or "")
        target = "to " + short(printable_line(safe_url(urljoin(base, location))), 160)
    return (
        f"HTTP {status}: the endpoint redirects {target}; strop does not follow redirects (the prompt "
        f"would go where you did not name): set [llm] base_url to the endpoint itself ({where})"
    )


def short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
