"""Chat messages and replies: what strop sends a model and what one `complete` call gives back.

The types of the one seam, `LLMClient.complete(messages) -> LLMReply`: a `ChatMessage` per
role, the reply's text and cost, and a `CallLog` of how the call went, attempt by attempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from agent.records import Cost

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    """One message of a chat prompt: who speaks, and the text."""

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
