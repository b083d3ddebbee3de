"""The "retrieve context" section of a proposer's prompt: knowledge hits and lessons within a token budget.

Tokens are estimated as characters / 4 (`approx_tokens`): the proposer's model
and tokenizer are not known here, and a 20% error on a budget of a few hundred
tokens is harmless. The budget counts the section as shown, labels and fences
included. Lessons come first (they are about this task and this error), then
knowledge hits; an item that does not fit is cut to the space left if at least
~40 tokens remain, otherwise dropped. The result is plain Markdown, empty when
there is nothing to say.

Everything here is quoted data, not instructions (the prompt template says so
above it): a passage of the user's files or a lesson the LLM worded may carry a
payload ("IGNORE ALL PREVIOUS INSTRUCTIONS", `<|im_start|>system`, terminal
escapes). So each item is a label we write, then its text `inert` (no unseen
characters, no chat-template tokens) in a `fence` its own backticks cannot
close; a cut keeps the closing fence. A passage is named by its path relative to
the folder it was added from, never the host's absolute path. Another task's
lessons come as `Lesson.quoted()` made them, already inert and one line a field.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from knowledge.entry import Hit
from knowledge.manifest import under
from knowledge.memory.lesson import Lesson, fence, inert, inert_line

MIN_PIECE_TOKENS = 40
HEADERS = {"lessons": "## Lessons from earlier experiments", "knowledge": "## Relevant knowledge"}


@dataclass(frozen=True)
class _Piece:
    """One item of the section: our label, its quoted text (fenced; may be empty), our tail line."""

    section: str
    label: str
    body: str = ""
    tail: str = ""

    def render(self, keep: int | None = None) -> str:
        """The item, its quoted text (else its label) cut to `keep` characters, "…" included."""
        label, body = self.label, self.body
        if keep is not None:
            cut = (body or label)[: max(0, keep - 1)].rstrip() + "…"
            label, body = (label, cut) if body else (cut, body)
        lines = [label, fence(body)] if body else [label]
        return "\n".join([*lines, self.tail] if self.tail else lines)

    def fit(self, room: int) -> str | None:
        """The item in at most `room` characters, cut if need be; None when too little is left."""
        text = self.render()
        if len(text) <= room:
            return text
        if room < MIN_PIECE_TOKENS * 4:
            return None
        keep = len(self.body or self.label) - (len(text) - room)
        while keep > 0:  # a cut can shorten the fence too, so check what is shown
            text = self.render(keep)
            if len(text) <= room:
                return text
            keep -= len(text) - room
        return None


def source_path(source: str, roots: Sequence[str] = ()) -> str:
    """`source` relative to the folder it was added from (the closest root holding it), else its
    file name: the prompt never shows where the user's files live on the host."""
    holding = [root for root in roots if under(source, root) and source != root]
    if holding:
        return os.path.relpath(source, max(holding, key=len))
    return os.path.basename(source.rstrip("/\\")) or "a source"


def _hit_piece(hit: Hit, roots: Sequence[str]) -> _Piece:
    title = f" — {inert_line(hit.title, 120)}" if hit.title.strip() else ""
    path = inert_line(source_path(hit.source, roots), 200)
    label = f"[{inert_line(hit.type, 40)}] {path} ({inert_line(hit.location, 60)}){title}"
    return _Piece("knowledge", label, inert(hit.text).strip())


def _lesson_piece(lesson: Lesson) -> _Piece:
    if lesson.is_quoted:  # another task's: already one inert line a field
        return _Piece("lessons", inert(lesson.render()))
    label, body, tail = lesson.fenced()
    return _Piece("lessons", label, body, tail)


def format_context(
    hits: Sequence[Hit], lessons: Sequence[Lesson], token_budget: int, roots: Sequence[str] = ()
) -> str:
    """A prompt section no longer than `token_budget` approximate tokens (chars / 4).

    `roots` are the folders the store's sources were added from (`KnowledgeStore.roots()`),
    to name each passage by its path inside one; without them a passage shows its file name.
    """
    pieces = [_lesson_piece(lesson) for lesson in lessons] + [_hit_piece(hit, roots) for hit in hits]
    limit = token_budget * 4  # approx_tokens(text) <= token_budget exactly when len(text) <= limit
    out: list[str] = []
    current = None
    for piece in pieces:
        header = [HEADERS[piece.section]] if piece.section != current else []
        before = "\n\n".join([*out, *header])
        text = piece.fit(limit - len(before) - (2 if before else 0))
        if text is None:
            continue
        out += [*header, text]
        current = piece.section
    return "\n\n".join(out)


def clip(context: str, chars: int) -> str:
    """`context` (a `format_context` result) in at most about `chars` characters, its fences whole.

    A prompt too long for the model is shrunk by cutting this section; a plain cut could stop
    inside a fence and leave it open, and an open fence swallows the rest of the prompt (the
    instructions after it would read as quoted data). The cut text is closed with the fence it
    stopped in: the one line of backticks `fence` opened it with.
    """
    if len(context) <= chars:
        return context
    kept = context[: max(0, chars)]
    opened = 0  # the length of the open fence's backtick run; 0 when none is open
    for line in kept.split("\n"):
        run = line.strip()
        if len(run) >= 3 and set(run) == {"`"}:
            if not opened:
                opened = len(run)
            elif len(run) >= opened:
                opened = 0
    return kept + ("\n…\n" + "`" * opened if opened else "")
