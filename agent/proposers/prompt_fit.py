"""Fitting a prompt to the model's context window, cutting in a stated order and saying what was cut.

The prompt and the answer must fit the window together: the prompt gets the window
less the answer's reserve. When the full prompt is too long, these cuts are made one
after another until it fits, least useful first:

1. knowledge and lessons (retrieved context): halved, then dropped;
2. recent experiments (history): down to the last 2;
3. the evaluator's output in the verdict: down to its last 1,000 characters;
4. the read-only (evaluator) files: no longer shown;
5. the workspace view: halved, again and again, down to 1,500 characters;
6. history and the evaluator's output: dropped (300 characters of output kept).

What was cut becomes one decision line of the experiment. The token count is an
upper estimate (`prompt_tokens_upper`: characters / 3 plus framing), so a prompt that
fits here fits the server's tokenizer too, for the usual tokenizers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from agent.llm.client import ChatMessage, prompt_tokens_upper

MIN_FILES_CHARS = 1500


@dataclass(frozen=True)
class Cuts:
    """How much of each part of the prompt to show. `None` for context: all of it."""

    context_chars: int | None = None
    history: int = 6
    feedback_chars: int = 3000
    readonly: bool = True
    files_chars: int = 60_000
    per_file: int = 20_000


def _ladder(full: Cuts, context_len: int) -> list[tuple[str, Callable[[Cuts], Cuts]]]:
    steps: list[tuple[str, Callable[[Cuts], Cuts]]] = []
    if context_len:
        steps.append(("knowledge and lessons halved", lambda c: replace(c, context_chars=context_len // 2)))
        steps.append(("knowledge and lessons dropped", lambda c: replace(c, context_chars=0)))
    if full.history > 2:
        steps.append(("history cut to the last 2 experiments", lambda c: replace(c, history=2)))
    if full.feedback_chars > 1000:
        steps.append(("evaluator output cut to 1000 characters", lambda c: replace(c, feedback_chars=1000)))
    steps.append(("read-only files not shown", lambda c: replace(c, readonly=False)))
    chars = full.files_chars
    while chars // 2 >= MIN_FILES_CHARS:
        chars //= 2
        steps.append(
            (
                f"workspace view cut to {chars} characters",
                lambda c, n=chars: replace(c, files_chars=n, per_file=min(c.per_file, n)),
            )
        )
    steps.append(
        ("history and most evaluator output dropped", lambda c: replace(c, history=0, feedback_chars=300))
    )
    return steps


@dataclass(frozen=True)
class Fitted:
    messages: list[ChatMessage]
    cuts: Cuts
    cut: tuple[str, ...]  # the steps taken, in order
    tokens: int  # the prompt's upper token estimate
    fits: bool

    def line(self, budget: int, window: int) -> str:
        """One decision line saying what was cut (empty when nothing was)."""
        if not self.cut:
            return ""
        verdict = "fits" if self.fits else "still does not fit"
        return (
            f"llm: prompt cut to fit the {window}-token context ({budget} tokens for the prompt): "
            + "; ".join(self.cut)
            + f"; now about {self.tokens} tokens, {verdict}"
        )


def fit(render: Callable[[Cuts], list[ChatMessage]], full: Cuts, budget: int, context_len: int) -> Fitted:
    """The prompt `render(cuts)` with the fewest cuts (in the stated order) under `budget` tokens."""
    cuts = full
    messages = render(cuts)
    tokens = prompt_tokens_upper(messages)
    taken: list[str] = []
    for label, step in _ladder(full, context_len):
        if tokens <= budget:
            break
        cuts = step(cuts)
        messages = render(cuts)
        tokens = prompt_tokens_upper(messages)
        taken.append(label)
    return Fitted(messages, cuts, tuple(taken), tokens, tokens <= budget)
