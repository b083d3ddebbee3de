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
"""

from __future__ import annotations

import codecs
import functools
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any


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


async def _arepaired(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    async for chunk in chunks:
        if text := decoder.decode(chunk):
            yield text.encode("utf-8")
    if tail := decoder.decode(b"", final=True):
        yield tail.encode("utf-8")


class LenientSSEDecoder:
    """The `openai` package's SSE decoder, fed a body whose invalid UTF-8 has been replaced."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def iter_bytes(self, iterator: Iterator[bytes]) -> Iterator[Any]:
        return self._inner.iter_bytes(repaired(iterator))

    def aiter_bytes(self, iterator: AsyncIterator[bytes]) -> AsyncIterator[Any]:
        return self._inner.aiter_bytes(_arepaired(iterator))


@functools.cache
def _lenient_openai_class() -> type:
    import openai

    class LenientOpenAI(openai.OpenAI):
        """`openai.OpenAI` whose streamed replies are decoded by `LenientSSEDecoder`."""

        def _make_sse_decoder(self) -> Any:
            return LenientSSEDecoder(super()._make_sse_decoder())

    return LenientOpenAI


def lenient_openai(**options: Any) -> Any:
    """An `openai.OpenAI(**options)` that reads a stream with invalid UTF-8 in it instead of failing."""
    return _lenient_openai_class()(**options)
