"""The "retrieve context" section of a proposer's prompt: knowledge hits and lessons within a token budget.

Tokens are estimated as characters / 4 (`approx_tokens`): the proposer's model
and tokenizer are not known here, and a 20% error on a budget of a few hundred
tokens is harmless. Lessons come first (they are about this task and this
error), then knowledge hits; an item that does not fit is cut to the space
left if at least ~40 tokens remain, otherwise dropped. The result is plain
Markdown, empty when there is nothing to say.
"""

from __future__ import annotations

from collections.abc import Sequence

from knowledge.entry import Hit
from knowledge.memory.lesson import Lesson
from knowledge.memory.memory import approx_tokens

MIN_PIECE_TOKENS = 40


def _hit_block(hit: Hit) -> str:
    title = f" — {hit.title}" if hit.title else ""
    return f"[{hit.type}] {hit.source} ({hit.location}){title}\n{hit.text.strip()}"


def format_context(hits: Sequence[Hit], lessons: Sequence[Lesson], token_budget: int) -> str:
    """A prompt section no longer than `token_budget` approximate tokens (chars / 4)."""
    pieces: list[tuple[str, str]] = [("lessons", lesson.render()) for lesson in lessons]
    pieces += [("knowledge", _hit_block(hit)) for hit in hits]
    headers = {"lessons": "## Lessons from earlier experiments", "knowledge": "## Relevant knowledge"}
    out: list[str] = []
    used = 0
    current = None
    for section, text in pieces:
        header = headers[section] if section != current else ""
        cost = approx_tokens(text + "\n\n" + header)
        if used + cost > token_budget:
            room = token_budget - used - approx_tokens(header + "\n\n") - 1
            if room < MIN_PIECE_TOKENS:
                continue
            text = text[: room * 4 - 1].rstrip() + "…"
            cost = approx_tokens(text + "\n\n" + header)
        if header:
            out.append(header)
            current = section
        out.append(text)
        used += cost
    return "\n\n".join(out)
