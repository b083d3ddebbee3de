"""What can go wrong when strop talks to a model, and who sees it.

    LLMError (StropError)      base: a model call did not give a usable reply
    ├── LLMUnavailable         retries spent on 429, 5xx, timeouts or connection errors
    ├── LLMBadResponse         the endpoint answered 2xx with something unusable (not JSON, no choices)
    ├── LLMRequestRefused      a 4xx that retrying cannot fix
    │   └── LLMContextOverflow   the prompt does not fit the model's context window (HTTP 400)
    ├── LLMOutOfTime           the run's deadline came before a reply (the call was cancelled)
    ├── LLMBudgetSpent         the token or cost budget left cannot pay for the request
    └── LLMConfigError         401/403/404, a redirect, or a 400 naming an unknown model or refusing
        │                        to stream: the key, the model or the URL is wrong (also a UserError: exit 2)
        ├── LLMUnreachable       nothing answers at the base URL (checked before a run's first experiment)
        └── LLMErrorsInARow      the same kind of error N times in a row: the run stops, naming the kind

One rule per class, applied by the LLM proposer and the run loop:
- `LLMConfigError` (and `LLMErrorsInARow`) stops the run at once with one line and exit 2:
  no later call can succeed either;
- `LLMContextOverflow` makes the proposer shrink the prompt; it is never resent unchanged;
- `LLMUnavailable` comes after backing off within the deadline; the attempt is recorded
  as rejected and the run goes on (until the same kind repeats N times in a row);
- `LLMOutOfTime` / `LLMBudgetSpent` end the attempt; the run's budget check then stops the run.

Every error carries `cost`: the tokens of the attempts that failed (streamed, or estimated
and marked so), so abandoned calls are counted too; and `calls`, the per-attempt log lines.

Messages never carry the API key: they are built by `agent.llm.client`, which
redacts the key's value from anything the server sent back.
"""

from __future__ import annotations

from typing import Any

from agent.errors import StropError, UserError


class LLMError(StropError):
    """A model call that produced no usable reply."""

    kind = "error"  # a short name, for "the same kind of error N times in a row"

    def __init__(self, message: str, attempts: int = 0) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.cost: Any = None  # agent.records.Cost of the failed attempts, set by the client
        self.log: Any = None  # agent.llm.chat.CallLog, set by the client


class LLMUnavailable(LLMError):
    """The endpoint kept failing transiently (429, 5xx, timeouts, connection errors)."""

    kind = "endpoint unavailable"


class LLMBadResponse(LLMError):
    """The endpoint answered, but not with a chat completion strop can read."""

    kind = "unreadable reply"


class LLMRequestRefused(LLMError):
    """The endpoint refused this request for a reason retrying cannot fix."""

    kind = "request refused"


class LLMContextOverflow(LLMRequestRefused):
    """The prompt (plus max_tokens) is longer than the model's context window."""

    kind = "context overflow"

    def __init__(self, message: str, attempts: int = 0, limit: int | None = None) -> None:
        super().__init__(message, attempts)
        self.limit = limit  # the window in tokens, when the server said it


class LLMOutOfTime(LLMError):
    """The run's deadline came before the model answered; the call was cancelled."""

    kind = "out of time"


class LLMBudgetSpent(LLMError):
    """What is left of the token or cost budget cannot pay for this request."""

    kind = "budget spent"


class LLMConfigError(LLMError, UserError):
    """The key, model or base URL is wrong: no call can succeed, the run stops."""

    kind = "configuration"


class LLMUnreachable(LLMConfigError):
    """Nothing answers at the base URL (refused, DNS, TLS, no connection): the run stops before spending."""

    kind = "endpoint unreachable"


class LLMErrorsInARow(LLMConfigError):
    """The same kind of model error, N times in a row: the run stops and says which kind."""

    kind = "errors in a row"
