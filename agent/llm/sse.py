"""Server-sent events read leniently: bytes that are not UTF-8 become U+FFFD, not a failed call.

The `openai` package decodes every event line as strict UTF-8, so one bad byte fails the
whole streamed completion with a `UnicodeDecodeError`, which strop can only count as an
unreadable reply and send again: a wasted call, and the retry may break the same way. Some
llama.cpp and Ollama builds send such bytes when a multi-byte character is split across two
tokens and each token's bytes go out as they are. The answer around the broken character is
good, so `LenientSSEDecoder` hands the package's own decoder the body with every invalid
sequence replaced by U+FFFD, and the answer is used.

The repair sits at the SSE decoder (`_make_sse_decoder`, the `openai` client's one hook for
how a stream is decoded) rather than in an httpx transport or response hook, because the
decoder is given the body after its content encoding is undone (a gzipped stream is
repaired once unzipped, not as compressed bytes), and it works whichever httpx flavour the
installed `openai` is built on. Should a later `openai` drop the hook, streams are read
strictly again and `tests/llm/test_hostile_replies.py` says so.

The same decoder caps each event's size (`bounded_events`): the package splits events
without a limit, so a server sending one event of gigabytes, with no line break, would be
held whole before strop's reply cap could cut it (`agent.llm.bounded`).
"""

from __future__ import annotations

import codecs
import functools
import re
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from agent.llm.bounded import ReplyTooLarge, reply_bytes

MAX_EVENT_BYTES = reply_bytes(400_000)  # unless the client says otherwise: its reply cap, as JSON
_BLANK_LINE = re.compile(rb"\n[\r\n]|\r\r")  # where an event ends (CRLF is one line end, not two)


def repaired(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """`chunks` re-encoded as valid UTF-8: each invalid sequence becomes U+FFFD.

    Incremental, so a valid character split between two network reads is kept whole.
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for chunk in chunks:
        if text := decoder.decode(chunk):
            yield text.encode("utf-8")
    if tail := decoder.decode(b"", final=True):
        yield tail.encode("utf-8")


class _EventMeter:
    """Bytes of the event being read (since the last blank line); `ReplyTooLarge` past `limit`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.pending = 0
        self._last = b""

    def count(self, chunk: bytes) -> None:
        window = self._last + chunk  # a blank line may be split between two reads
        ends = [match.end() for match in _BLANK_LINE.finditer(window)]
        self.pending = len(window) - ends[-1] if ends else self.pending + len(chunk)
        self._last = chunk[-1:]
        if self.pending > self.limit:
            raise ReplyTooLarge(f"a streamed event of more than {self.limit:,} bytes; stream closed")


def bounded_events(chunks: Iterable[bytes], limit: int) -> Iterator[bytes]:
    """`chunks` passed on as they come, until one event (bytes since the last blank line) passes `limit`.

    Then `ReplyTooLarge`: the stream is closed and the attempt ends, having held about
    `limit` bytes, not the whole event.
    """
    meter = _EventMeter(limit)
    for chunk in chunks:
        meter.count(chunk)
        yield chunk


async def _abounded_events(chunks: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    meter = _EventMeter(limit)
    async for chunk in chunks:
        meter.count(chunk)
        yield chunk


async def _arepaired(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    async for chunk in chunks:
        if text := decoder.decode(chunk):
            yield text.encode("utf-8")
    if tail := decoder.decode(b"", final=True):
        yield tail.encode("utf-8")


class LenientSSEDecoder:
    """The `openai` package's SSE decoder, fed a body whose invalid UTF-8 has been replaced.

    No event may pass `max_event_bytes` (`bounded_events`).
    """

    def __init__(self, inner: Any, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._inner = inner
        self.max_event_bytes = max_event_bytes

    def iter_bytes(self, iterator: Iterator[bytes]) -> Iterator[Any]:
        return self._inner.iter_bytes(repaired(bounded_events(iterator, self.max_event_bytes)))

    def aiter_bytes(self, iterator: AsyncIterator[bytes]) -> AsyncIterator[Any]:
        return self._inner.aiter_bytes(_arepaired(_abounded_events(iterator, self.max_event_bytes)))


@functools.cache
def _lenient_openai_class() -> type:
    import openai

    class LenientOpenAI(openai.OpenAI):
        """`openai.OpenAI` whose streamed replies are decoded by `LenientSSEDecoder`."""

        max_event_bytes = MAX_EVENT_BYTES  # set per client by `lenient_openai`

        def _make_sse_decoder(self) -> Any:
            return LenientSSEDecoder(super()._make_sse_decoder(), self.max_event_bytes)

    return LenientOpenAI


def lenient_openai(max_event_bytes: int = MAX_EVENT_BYTES, **options: Any) -> Any:
    """An `openai.OpenAI(**options)` that reads a stream with invalid UTF-8 in it instead of failing,
    and no streamed event past `max_event_bytes`."""
    client = _lenient_openai_class()(**options)
    client.max_event_bytes = max_event_bytes
    return client
