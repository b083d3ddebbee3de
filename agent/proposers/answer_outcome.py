"""Answer outcomes: what a model's edits did to the parent's files, across follow-ups, as decisions.

An answer's edits are applied on top of the parent's files; a follow-up's on top of what the
earlier answers applied. Files left exactly as the parent had them are dropped (an edit that
changes nothing is no candidate), and so are files that make exactly the code of an experiment
already in the run (`drop_twin`: evaluating it again teaches nothing). The outcome is recorded as
decision lines, the last one saying why when no file changed, including what earlier replies of
the turn had refused (a tampering attempt followed by an empty reply is still told as such).
Whether a reply was cut decides how it is parsed and what the model is told.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from agent.edits import EditOutcome, EditProblem, PathGuard, apply_edits, reader
from agent.edits.parser import UNAPPLIED_BLOCK
from agent.llm.chat import LLMReply
from agent.proposers.decisions import NO_EDIT, cap, gist
from agent.records import ExperimentRecord
from agent.run import Candidate


def worth_retrying(edits: tuple[Any, ...], outcome: EditOutcome, notes: list[str]) -> bool:
    """Retry when something failed to apply and a corrected answer could fix it (a block the parser
    left out for its unclear file too, even when the others applied: the rest may need its code)."""
    unmatched = [p for p in outcome.problems if not p.refused]
    left_out = any(UNAPPLIED_BLOCK in note for note in notes)
    return (
        bool(unmatched)
        or left_out
        or (bool(edits) and not outcome.files)
        or bool(notes and not outcome.files)
    )


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


def record_outcome(
    candidate: Candidate,
    outcome: EditOutcome,
    notes: list[str],
    final: bool,
    earlier: list[EditProblem] | None = None,
) -> None:
    """The notes and problems as decisions ("(sent back)" unless `final`); a final one says why no file
    changed, led by the problems of the turn's `earlier` replies that the last one did not repeat."""
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
    candidate.decisions.append(NO_EDIT + _after_earlier(earlier or [], outcome) + why)


def _after_earlier(earlier: list[EditProblem], outcome: EditOutcome) -> str:
    """What the turn's earlier replies were sent back for, refusals first, when the final outcome does
    not name it again ("edits refused: …; then "): a tampering reply followed by an empty one is
    not only "the answer held no code". Short, as the loop keeps a reason's first 300 characters:
    two problems at most, each cut to 90.
    """
    final = {gist(p.message) for p in outcome.problems}
    said: list[str] = []
    for problem in sorted(earlier, key=lambda p: not p.refused):
        if gist(problem.message) in final:
            continue
        if problem.refused:
            short = "refused: " + gist(problem.message.split(" was refused: ", 1)[-1].split(";")[0], 90)
        else:
            short = "not applied: " + gist(problem.message, 90)
        if short not in said:
            said.append(short)
    return "edits " + "; ".join(said[:2]) + "; then " if said else ""


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


def drop_twin(outcome: EditOutcome, twin: ExperimentRecord | None, metric: str) -> EditOutcome:
    """The outcome without any file when its files make exactly `twin`'s code (an experiment of the
    run other than the parent), with a problem saying which: sent back like an unchanged answer."""
    if twin is None or not outcome.files:
        return outcome
    value = twin.metrics.get(metric) if twin.status.scored else None
    verdict = f"{twin.status}" + (f", {metric} = {value:.6g}" if value is not None else "")
    idea = twin.idea.strip().splitlines()[0] if twin.idea.strip() else ""
    what = f' ("{cap(idea, 80)}")' if idea else ""
    paths = sorted(outcome.files)
    problem = EditProblem(
        None,
        paths[0],
        f"the edits make exactly the code of experiment {twin.id}{what}, already in this run ({verdict}): "
        "evaluating it again would teach nothing, so they were not applied and the files are as they were; "
        "make a different change",
    )
    return replace(outcome.without(paths), problems=[*outcome.problems, problem])
