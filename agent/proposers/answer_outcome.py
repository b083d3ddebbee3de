"""Answer outcomes: what a model's edits did to the parent's files, across follow-ups, as decisions.

An answer's edits are applied on top of the parent's files; a follow-up's on top of what the
earlier answers applied. Files left exactly as the parent had them are dropped (an edit that
changes nothing is no candidate), and the outcome is recorded as decision lines, the last one
saying why when no file changed. Whether a reply was cut decides how it is parsed and what the
model is told.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from agent.edits import EditOutcome, EditProblem, PathGuard, apply_edits, reader
from agent.llm.chat import LLMReply
from agent.proposers.decisions import NO_EDIT, cap, gist
from agent.run import Candidate


def worth_retrying(edits: tuple[Any, ...], outcome: EditOutcome, notes: list[str]) -> bool:
    """Retry when something failed to apply and a corrected answer could fix it."""
    unmatched = [p for p in outcome.problems if not p.refused]
    return bool(unmatched) or (bool(edits) and not outcome.files) or bool(notes and not outcome.files)


def apply_on_top(before: EditOutcome, edits: tuple[Any, ...], root: Path, guard: PathGuard) -> EditOutcome:
    """A follow-up's edits applied on top of what `before` applied; its problems replace the earlier ones."""
    base = reader(root)

    def read(path: str) -> str | None:
        return before.files[path] if path in before.files else base(path)

    again = apply_edits(edits, read, guard)
    merged = EditOutcome(
        files={**before.files, **again.files},
        applied=[*before.applied, *again.applied],
        problems=list(again.problems),
        applied_to={**before.applied_to, **again.applied_to},
    )
    return merged


def record_outcome(candidate: Candidate, outcome: EditOutcome, notes: list[str], final: bool) -> None:
    """The notes and problems as decisions ("(sent back)" unless `final`); a final one says why no file changed."""
    prefix = "llm: " if final else "llm: (sent back) "
    for note in notes:
        candidate.decisions.append(cap(f"{prefix}{note}"))
    for problem in outcome.problems:
        label = "refused" if problem.refused else "did not apply"
        candidate.decisions.append(cap(f"{prefix}{label}: {problem.message}"))
    if not final:
        return
    if outcome.applied:
        candidate.decisions.append(cap("llm: applied " + "; ".join(outcome.applied), 600))
    if outcome.files:
        return
    if outcome.problems and all(p.refused for p in outcome.problems):
        why = "every edit was refused (" + "; ".join(gist(p.message) for p in outcome.problems[:3]) + ")"
    elif outcome.problems:
        why = "no edit applied (" + gist(outcome.problems[0].message) + ")"
    elif notes:
        why = "the answer held no edit (" + gist(notes[0]) + ")"
    else:
        why = "the answer held no code"
    candidate.decisions.append(NO_EDIT + why)


def was_cut(reply: LLMReply) -> bool:
    """The reply ended before the model finished: at `max_tokens`, at strop's cut, or with no finish reason."""
    return reply.truncated or reply.finish_reason in ("length", "")


def cut_at_max_tokens(reply: LLMReply) -> bool:
    """The model stopped at `max_tokens` (not strop's own cut of a huge reply): asking shorter may help."""
    return reply.finish_reason == "length" and not reply.truncated


def drop_unchanged(outcome: EditOutcome, read: Callable[[str], str | None]) -> EditOutcome:
    """The outcome without files whose new text equals the parent's: an edit that changes nothing."""
    changed = {path: text for path, text in outcome.files.items() if read(path) != text}
    if len(changed) == len(outcome.files):
        return outcome
    same = sorted(set(outcome.files) - set(changed))
    problems = list(outcome.problems)
    if not changed:
        problems.append(
            EditProblem(
                None,
                same[0],
                f"the edits leave {', '.join(same)} exactly as it was: nothing changed; "
                "make a real change to the code",
            )
        )
    return replace(outcome.without(same), problems=problems)  # an edit that changed nothing is not "applied"
