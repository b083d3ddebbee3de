"""Decision lines: how the LLM proposer tells the run loop, and `strop show`, what happened.

A `Candidate`'s `decisions` are one line each. Three prefixes are a contract the loop reads:
`NO_EDIT` (the candidate has no files, and why), `EXTEND` (the model asks for more turns) and
`OUT_OF_BUDGET` (the run's budget ended the attempt). Lines are capped, and text from the model
loses its control characters, so a NUL or an escape sequence cannot break `git commit` or a
terminal.
"""

from __future__ import annotations

import re

from agent.run import Candidate

NO_EDIT = "llm: no usable edit: "
EXTEND = "llm: the model asks for more turns: "
OUT_OF_BUDGET = "llm: stopped by the run's budget: "
CUT_SHORT = (
    "your answer was cut at the token limit (finish_reason = length) before it held a usable edit; "
    "answer again, much shorter: only the lines that change"
)
_DECISION_CHARS = 1500
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


def no_edit_reason(candidate: Candidate) -> str | None:
    """Why the candidate has no files (None when it has some)."""
    if candidate.files:
        return None
    for decision in reversed(candidate.decisions):
        if decision.startswith(NO_EDIT):
            return decision.removeprefix(NO_EDIT)
    return "the proposer returned no change"


def out_of_budget(candidate: Candidate) -> str | None:
    """Why the run's budget (time, tokens, cost) ended this attempt before the model answered."""
    for decision in reversed(candidate.decisions):
        if decision.startswith(OUT_OF_BUDGET):
            return decision.removeprefix(OUT_OF_BUDGET)
    return None


def extend_request(candidate: Candidate) -> str | None:
    """The model's `EXTEND:` reason in this candidate's answer, if it asked for more turns."""
    for decision in candidate.decisions:
        if decision.startswith(EXTEND):
            return decision.removeprefix(EXTEND)
    return None


def gist(message: str, limit: int = 200) -> str:
    """The first line of a feedback message, without the quoted code, for a one-line reason."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    first = first.split("; the closest lines")[0]
    return cap(first.rstrip(":. "), limit)


def printable(text: str) -> str:
    """`text` without control characters (but newline and tab) or lone surrogates: safe for git and terminals."""
    return _CONTROL.sub("", text)


def cap(text: str, limit: int = _DECISION_CHARS) -> str:
    """A decision line: printable (it may quote the model: a path, a value) and at most `limit` long."""
    text = printable(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
