"""Tokens: counted by the server when it says, else estimated; and what they cost.

Every attempt is counted: from the server's `usage` (OpenAI's names, or `input_tokens` /
`output_tokens`), or, when it sent none or one no server could mean (negative, fractional,
past `MAX_CALL_TOKENS`), estimated without the model's tokenizer and marked `estimated`. A
server claiming more completion tokens than the `max_tokens` it was sent, or more prompt
tokens than the prompt can hold (`prompt_tokens_most`), is believed only up to that bound,
and the capped count is marked `estimated` (`believed_usage`): no model may write or read
more, and a budget must not end on a broken counter. Nor may a budget never end on one: a
count below what the text must cost (`least_tokens`: a prompt of 0 tokens, or 0 completion
tokens for an answer that came) is not believed either; the estimate is counted, marked too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agent.llm.chat import ChatMessage
from agent.task import LLMSpec

_PIECE = re.compile(r"'(?:[sdmt]|ll|ve|re)| ?[A-Za-z]+|[0-9]| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+")
MESSAGE_FRAMING = 5  # tokens a chat template adds around a message: <|im_start|>role\n … <|im_end|>\n
REPLY_FRAMING = 3  # and before the answer: <|im_start|>assistant\n

MAX_CALL_TOKENS = 10_000_000
"""More tokens than any context window holds: a usage above it is a hostile or broken server's."""
PROMPT_SLACK = 8192  # tokens a server may add to a prompt: its own system prompt, tool definitions
MOST_CHARS_PER_TOKEN = 16
"""More characters than a token holds on average over any prompt or answer strop sends or reads:
code and prose average 3-5 a token, and only long runs of spaces or of one symbol merge further."""


def price(prompt_tokens: int, completion_tokens: int, spec: LLMSpec) -> float:
    """USD for these tokens at the task's prices (per 1M tokens)."""
    usd = prompt_tokens * spec.price_input / 1e6 + completion_tokens * spec.price_output / 1e6
    return round(usd, 8)


def estimate_tokens(text: str) -> int:
    """Tokens in `text`, estimated without the model's tokenizer: for counting what no server reported.

    BPE tokenizers first split text into words, digits, punctuation runs and spaces (GPT-2's
    pre-tokenizer, which most chat models keep; digits one by one, without the space before
    them); each piece is at least one token and long words split further (about 7 letters a
    token). Against SmolLM2's tokenizer this is within ±3% on code, JSON, markdown tables and
    technical prose, where chars/4 is 10–45% low on code and numbers; chars/4 stays the floor
    for long symbol runs. It is far off elsewhere: about +35% on plain English with long common
    words (one token each), several times high on `----` rules (merged into few tokens) and
    about 85% low on Chinese or Japanese (a character is often 2 tokens). A completion is
    counted at most at its `max_tokens` (`LLMClient`), whatever this says.
    """
    pieces = 0
    for match in _PIECE.finditer(text):
        piece = match.group(0).strip()
        pieces += 1 + ((len(piece) - 1) // 7 if piece.isalpha() else 0)
    return max(pieces, (len(text) + 3) // 4)


def estimate_prompt_tokens(messages: Sequence[ChatMessage]) -> int:
    """A prompt's tokens, estimated: its messages' text plus the chat template's framing."""
    return sum(estimate_tokens(m.content) + MESSAGE_FRAMING for m in messages) + REPLY_FRAMING


def prompt_tokens_upper(messages: Sequence[ChatMessage]) -> int:
    """A generous estimate of a prompt's tokens (chars/3 plus framing): for fitting it under limits.

    Not a bound: a tokenizer may count more (digits one by one, Chinese, symbols); a budget
    plans with `prompt_tokens_bound`."""
    return sum(len(m.content) // 3 + 8 for m in messages) + 8


def prompt_tokens_bound(messages: Sequence[ChatMessage]) -> int:
    """The most tokens a prompt's own text can be: a token holds at least one UTF-8 byte, plus the chat
    template's framing (and never below `prompt_tokens_upper`). What a server adds itself is not in it
    (`prompt_tokens_most` allows for that)."""
    text = sum(len(m.content.encode("utf-8", "replace")) + MESSAGE_FRAMING for m in messages)
    return max(text + REPLY_FRAMING, prompt_tokens_upper(messages))


def least_tokens(chars: int) -> int:
    """The fewest tokens a text of `chars` characters can be counted: one per `MOST_CHARS_PER_TOKEN` (0 for none)."""
    return -(-max(0, chars) // MOST_CHARS_PER_TOKEN)


def prompt_tokens_least(messages: Sequence[ChatMessage]) -> int:
    """The fewest tokens a prompt can be counted: its messages' `least_tokens`, and at least one.

    The chat template's framing is left out: a server may count it or not, and may fold one
    message into another; what no server can do is read a prompt's text for free."""
    return max(1, sum(least_tokens(len(m.content)) for m in messages)) if messages else 0


@dataclass(frozen=True)
class Usage:
    """The tokens of one call as strop counts them from the server's `usage`."""

    prompt: int
    completion: int
    # of these, the ones counted at a bound or estimated: the server's count was not believable
    estimated: int = 0


def believed_usage(
    usage: Any,
    max_tokens: int | None = None,
    max_prompt: int | None = None,
    *,
    least: tuple[int, int] = (0, 0),
    estimate: tuple[int, int] = (0, 0),
) -> Usage | None:
    """The server's `usage` when both counts are ones a server could mean, kept within the bounds given.

    None when there is no usage, or a count is missing, negative, fractional or absurd: then
    the call's tokens are estimated instead. A completion past `max_tokens` (the request's) or
    a prompt past `max_prompt` (`prompt_tokens_most`) is counted at that bound, marked estimated.
    A count below its `least` (prompt, completion: what the text must cost, `prompt_tokens_least`
    and `least_tokens`) is not believed either: the larger of it and its `estimate` is counted,
    marked estimated. A server reporting 0 tokens for every call would otherwise spend no budget.
    """
    if usage is None:
        return None
    prompt, completion = usage_counts(usage)
    if prompt is None or completion is None:
        return None
    guessed_prompt = guessed_completion = False  # counted at a bound or estimated, not as reported
    if completion < least[1]:
        completion, guessed_completion = max(completion, estimate[1], least[1]), True
    if max_tokens is not None and completion > max_tokens:
        completion, guessed_completion = max_tokens, True
    if prompt < least[0]:
        prompt, guessed_prompt = max(prompt, estimate[0], least[0]), True
    if max_prompt is not None and prompt > max_prompt:
        prompt, guessed_prompt = max_prompt, True
    estimated = (prompt if guessed_prompt else 0) + (completion if guessed_completion else 0)
    return Usage(prompt, completion, estimated)


def prompt_tokens_most(messages: Sequence[ChatMessage]) -> int:
    """The most tokens a prompt can be: a token holds at least one UTF-8 byte, plus the chat template's
    framing and `PROMPT_SLACK` for what a server adds itself."""
    text = sum(len(m.content.encode("utf-8", "replace")) + MESSAGE_FRAMING for m in messages)
    return text + REPLY_FRAMING + PROMPT_SLACK


def usage_counts(usage: Any) -> tuple[int | None, int | None]:
    """(prompt, completion) tokens from a usage object or dict: OpenAI's names, else input/output."""

    def get(name: str) -> object:
        return usage.get(name) if isinstance(usage, Mapping) else getattr(usage, name, None)

    prompt, completion = _token_count(get("prompt_tokens")), _token_count(get("completion_tokens"))
    if prompt is None and completion is None:
        prompt, completion = _token_count(get("input_tokens")), _token_count(get("output_tokens"))
    return prompt, completion


def _token_count(value: object) -> int | None:
    """A server's token count as a non-negative int, or None when it cannot be one (0.9 is not 0)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or not 0 <= value <= MAX_CALL_TOKENS:
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value)
