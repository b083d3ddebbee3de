"""What can go wrong when strop talks to a model, and who sees it.

    LLMError (StropError)      base: a model call did not give a usable reply
    ├── LLMUnavailable         retries spent on 429, 5xx, timeouts or connection errors
    ├── LLMBadResponse         the endpoint answered 2xx with something unusable (not JSON, no choices)
    ├── LLMRequestRefused      a 4xx that retrying cannot fix (e.g. the prompt is too long)
    └── LLMConfigError         401/403/404: the key, the model or the URL is wrong (also a UserError: exit 2)

The LLM proposer turns every `LLMError` except `LLMConfigError` into a candidate
with no files and the reason in its decisions, so the run goes on; `LLMConfigError`
stops the run with one line, since no later call can succeed either.

Messages never carry the API key: they are built by `agent.llm.client`, which
redacts the key's value from anything the server sent back.
"""

from __future__ import annotations

from agent.errors import StropError, UserError


class LLMError(StropError):
    """A model call that produced no usable reply."""

    def __init__(self, message: str, attempts: int = 0) -> None:
        super().__init__(message)
        self.attempts = attempts


class LLMUnavailable(LLMError):
    """The endpoint kept failing transiently (429, 5xx, timeouts, connection errors)."""


class LLMBadResponse(LLMError):
    """The endpoint answered, but not with a chat completion strop can read."""


class LLMRequestRefused(LLMError):
    """The endpoint refused this request for a reason retrying cannot fix."""


class LLMConfigError(LLMError, UserError):
    """The key, model or base URL is wrong: no call can succeed, the run stops."""
