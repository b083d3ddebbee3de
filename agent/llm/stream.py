"""The reply stream: what one streamed attempt received so far, folded in chunk by chunk.

Shared between the caller and the worker thread that reads the `openai` stream. What a server
sends besides text is not the answer: `reasoning_content` / `reasoning` chunks are counted,
not read; tool calls (`content: null`) are named; text past `max_chars` is cut (`truncated`).
A server that answers the streamed request with one plain JSON completion is read all the same.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Mapping
from typing import Any

from agent.llm.bounded import ReplyTooLarge, reply_bytes
from agent.llm.tokens import estimate_tokens


class ReplyStream:
    """What one streamed attempt received so far; shared between the caller and the worker thread."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars  # the reply is cut here (`truncated`)
        self.parts: list[str] = []
        self.chars = 0
        self.chunks = 0  # content chunks: about one token each on llama.cpp and vLLM
        self.thinking = 0  # reasoning chunks (`reasoning_content`, `reasoning`): generated, not the answer
        self.thinking_chars = 0  # their characters: counted, not kept
        self.tools: list[str] = []  # names of the tool calls the reply held
        self.finish = ""
        self.finished_at: float | None = None  # monotonic time the finish reason came
        self.usage: Any = None
        self.usage_final = (
            False  # the usage came in or after the finish chunk: the answer's, not a running one
        )
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

    def take_plain(self, response: Any) -> None:
        """Read a whole JSON completion sent in answer to a streamed request (the server does not stream)."""
        body = bytearray()
        limit = reply_bytes(self.max_chars)
        for piece in response.iter_bytes():
            body += piece
            if len(body) > limit:
                raise ReplyTooLarge(f"a plain JSON reply of more than {limit:,} bytes; not read further")
        data = json.loads(bytes(body).decode("utf-8", "replace"))
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise ValueError("a plain JSON reply without choices")
        message = choices[0].get("message") or {}
        content = message.get("content") if isinstance(message, dict) else None
        text = content if isinstance(content, str) else ""
        if len(text) > self.max_chars:
            text, self.truncated = text[: self.max_chars], True
        self.parts.append(text)
        self.chars = len(text)
        self.chunks = estimate_tokens(text) if text else 0
        self.finish = str(choices[0].get("finish_reason") or "")
        self.model = str(data.get("model") or "")
        self.tools = tool_names(message.get("tool_calls") if isinstance(message, dict) else None)
        self.usage = data.get("usage")
        self.usage_final = self.usage is not None

    def take(self, chunk: Any) -> None:
        """Fold one streamed chunk in: text, finish reason, usage, model.

        A usage before the finish reason is a running count (vLLM's `continuous_usage_stats` sends
        one with every chunk): kept, but final (`usage_final`) only when it came in or after the
        finish chunk.
        """
        self.model = str(getattr(chunk, "model", "") or self.model)
        choices = getattr(chunk, "choices", None) or []
        if choices:
            self._take_choice(choices[0])
        usage = getattr(chunk, "usage", None)
        if usage is None:  # Groq streams its usage in `x_groq`
            groq = getattr(chunk, "x_groq", None)
            usage = groq.get("usage") if isinstance(groq, Mapping) else None
        if usage is not None:
            self.usage = usage
            self.usage_final = bool(self.finish)

    def _take_choice(self, choice: Any) -> None:
        delta = getattr(choice, "delta", None)
        content = getattr(delta, "content", None) if delta is not None else None
        reasoning = [getattr(delta, name, None) for name in ("reasoning_content", "reasoning")]
        if any(isinstance(piece, str) for piece in reasoning):
            self.thinking += 1
            self.thinking_chars += sum(len(piece) for piece in reasoning if isinstance(piece, str))
        self.tools += tool_names(getattr(delta, "tool_calls", None))
        if isinstance(content, str) and content:
            if self.first_token is None:
                self.first_token = round(time.monotonic() - self.sent_at, 3)
            self.chunks += 1
            room = self.max_chars - self.chars
            if len(content) > room:
                content = content[: max(0, room)]
                self.truncated = True
            self.parts.append(content)
            self.chars += len(content)
        finish = getattr(choice, "finish_reason", None)
        if finish:
            self.finish = str(finish)
            self.finished_at = self.finished_at or time.monotonic()

    @property
    def thinking_tokens(self) -> int:
        """Reasoning tokens, estimated: a chunk each (llama.cpp, vLLM), or 4 characters each when
        a server sends many tokens a chunk."""
        return max(self.thinking, (self.thinking_chars + 3) // 4)

    @property
    def complete(self) -> bool:
        """The answer is whole: its finish reason and its final usage came (in or after the finish chunk).

        Nothing after them matters (`[DONE]` included): a server that never sends it, or never
        closes the stream, must not cost a timeout and a retry of an answer already had. (A
        finish reason without a final usage, none or only running ones, is given a grace
        instead: the client's `FINISH_GRACE`; a running usage is not the answer's count.)
        """
        return bool(self.finish) and self.usage_final


def tool_names(calls: object) -> list[str]:
    """The function names of streamed or whole `tool_calls` (a name arrives once, in the call's first chunk)."""
    names = []
    for call in calls if isinstance(calls, list) else []:
        function = call.get("function") if isinstance(call, Mapping) else getattr(call, "function", None)
        name = function.get("name") if isinstance(function, Mapping) else getattr(function, "name", None)
        if isinstance(name, str) and (name := re.sub(r"[^\w.\-]", "", name)[:60]):
            names.append(name)
    return names
