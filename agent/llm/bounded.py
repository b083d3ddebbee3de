"""Bounded bodies: how much of what an endpoint sends strop holds in memory, capped while reading.

A reply is cut at `max_reply_chars`, but only once it is parsed; a server that sends a body
(or one streamed event) of gigabytes would be held whole before that cut could apply, and
a `strop run` would swap or be killed. So every body is capped as it is read, after its
content encoding is undone (a gzip bomb counts as what it unpacks to):

- a streamed event past `reply_bytes(max_reply_chars)` ends the attempt (`agent.llm.sse`),
  and so does a plain JSON completion past it (`agent.llm.stream`);
- any other successful body (`GET /models`) past `MAX_BODY_BYTES` raises `ReplyTooLarge`;
- an error body (any status but 2xx) is cut at `MAX_ERROR_BYTES`: strop shows 300
  characters of it at most, and its status still says what went wrong.

The caps are installed as an httpx response hook (`bound_bodies`), which runs before any
body is read, whether the `openai` package reads it itself (errors, `GET /models`) or
streams it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

MAX_BODY_BYTES = 16 << 20  # a list of every model OpenRouter serves is a few MB
MAX_ERROR_BYTES = 64 << 10
_ENVELOPE_BYTES = 65_536  # JSON around the text: ids, model name, usage, tool calls


class ReplyTooLarge(ValueError):
    """A body or event past its cap: the attempt ends, and says so (an unreadable reply)."""


def reply_bytes(max_chars: int) -> int:
    """The most bytes a reply of `max_chars` characters may take as JSON: a `\\uXXXX` escape is 6."""
    return max_chars * 6 + _ENVELOPE_BYTES


def bound_bodies(max_body: int = MAX_BODY_BYTES, max_error: int = MAX_ERROR_BYTES) -> Callable[[Any], None]:
    """An httpx response hook capping the bodies read from the response (see the module's docstring).

    A streamed reply (2xx `text/event-stream`) is left to the SSE decoder, which caps each
    event instead: a long answer of many small events is fine, one huge event is not.
    """

    def hook(response: Any) -> None:
        kind = str(response.headers.get("content-type", "")).lower()
        if response.is_success and "event-stream" in kind:
            return
        if response.is_success:
            response.iter_bytes = _capped(response.iter_bytes, max_body, cut=False)
        else:
            response.iter_bytes = _capped(response.iter_bytes, max_error, cut=True)

    return hook


def _capped(
    iter_bytes: Callable[..., Iterator[bytes]], limit: int, cut: bool
) -> Callable[..., Iterator[bytes]]:
    """`iter_bytes` that stops at `limit` decoded bytes: the body is cut there, or `ReplyTooLarge` raised."""

    def iterate(chunk_size: int | None = None) -> Iterator[bytes]:
        chunks = iter_bytes(chunk_size)
        total = 0
        try:
            for chunk in chunks:
                total += len(chunk)
                if total <= limit:
                    yield chunk
                    continue
                if not cut:
                    raise ReplyTooLarge(f"a reply body of more than {limit:,} bytes; not read further")
                yield chunk[: len(chunk) - (total - limit)]
                return
        finally:
            chunks.close()  # the rest is never read: the connection is closed, not drained

    return iterate
