"""Reasoning blocks: a reasoning model's `<think>…</think>` set apart from its answer.

DeepSeek-R1, Qwen3 and QwQ (through Ollama, vLLM or llama.cpp without a reasoning parser)
open their answer with a `<think>…</think>` block, or, when the chat template opened it,
with only the closing `</think>` at a line's end. Nothing in that block is an edit, a plan
or an `EXTEND:`, however edit-like; an answer cut inside it holds no answer at all.
"""

from __future__ import annotations

import re

from agent.edits.markers import FENCE, SEARCH, closing_fence, search_block_bounds

_THINK_OPEN = re.compile(r"\A\s*<(?P<tag>think|thinking)>", re.IGNORECASE)
_THINK_CLOSE_ALONE = re.compile(r"</think>[ \t]*(?:\r?\n|\Z)", re.IGNORECASE)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def split_reasoning(text: str) -> tuple[str, str]:
    """(answer, reasoning): a reasoning model's leading `<think>…</think>` block(s) set apart.

    Also the headless form, where the chat template wrote `<think>` into the prompt and the
    reply holds only the closing `</think>` at a line's end. An unclosed `<think>` (the answer
    was cut while thinking) is all reasoning: the answer is empty.
    """
    rest, reasoning = text, ""
    while opened := _THINK_OPEN.match(rest):
        close = re.search(rf"</{opened.group('tag')}\s*>", rest[opened.end() :], re.IGNORECASE)
        if close is None:
            return "", text
        end = opened.end() + close.end()
        reasoning, rest = reasoning + rest[:end], rest[end:]
    if not reasoning and "<think>" not in text.lower() and (close := _headless_close(text)):
        reasoning, rest = text[: close.end()], text[close.end() :]
    return (rest.lstrip("\r\n") if reasoning else rest), reasoning


def _headless_close(text: str) -> re.Match[str] | None:
    """The `</think>` ending a headless reasoning block: the first at a line's end outside the answer's code.

    An answer that edits a think-tag parser may hold `</think>` at a line's end in its code;
    taken as the end of reasoning, it cut the answer's head off (and its edits with it). A
    tag inside a closed fence or a complete SEARCH/REPLACE block is code, not the end of
    thoughts; a reasoning model's thoughts may hold fences of their own, closed before the tag,
    and a fence they leave open does not hide the tag (it did end the thoughts before).
    """
    code = _code_lines(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    for close in _THINK_CLOSE_ALONE.finditer(text):
        line = len(_LINE_BREAK.findall(text, 0, close.start()))
        if not any(line in span for span in code):
            return close
    return None


def _code_lines(lines: list[str]) -> list[range]:
    """The line ranges of closed fences and complete SEARCH/REPLACE blocks, as the parser reads them."""
    spans = []
    i = 0
    while i < len(lines):
        end: int | None = None
        if SEARCH.match(lines[i]):
            end = search_block_bounds(lines, i)[1]
        elif fence := FENCE.match(lines[i]):
            close = closing_fence(lines, i, fence.group("fence"))
            end = close if close < len(lines) else None
        if end is None:
            i += 1
            continue
        spans.append(range(i, end + 1))
        i = end + 1
    return spans
