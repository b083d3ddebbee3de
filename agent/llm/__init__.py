"""Talking to models: an OpenAI-compatible client with retries, deadlines and cost accounting.

`LLMClient.complete(messages) -> LLMReply` is the one seam; `ScriptedServer`
(in `agent.llm.scripted_server`) is a fake endpoint for tests, shipped on purpose.
"""

from agent.llm.backoff import Backoff
from agent.llm.client import ChatMessage, LLMClient, LLMReply, price
from agent.llm.errors import (
    LLMBadResponse,
    LLMConfigError,
    LLMError,
    LLMRequestRefused,
    LLMUnavailable,
)

__all__ = [
    "Backoff",
    "ChatMessage",
    "LLMBadResponse",
    "LLMClient",
    "LLMConfigError",
    "LLMError",
    "LLMReply",
    "LLMRequestRefused",
    "LLMUnavailable",
    "price",
]
