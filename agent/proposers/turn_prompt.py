"""The turn prompt: the messages one turn sends the model, rendered from the task and the request.

Goal, the parent's code (protected evaluator files read-only) and verdict (with what its answer
had refused or could not apply: `model_notes`), recent experiments,
retrieved context, the budget note and what to do this turn; in params mode, the `[space]`, its
rules and the points tried. `Cuts` (from `agent.proposers.prompt_fit`) say how much of each to
show when the prompt must fit a context window.

What the run printed reaches the prompt as data, never as words of ours: the verdict's reason,
the evaluator's output, the recent experiments (their ideas and reasons), the points tried are
made `inert` (no control characters, chat-template tokens and role markers replaced) and set in
a fence longer than any backtick run inside them (`fence_ticks`), so a candidate that prints
"````" and "# Your task" cannot end the quote and write the next section itself. The workspace's
files get such a fence too, but keep their text: an edit's SEARCH block must match it exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from agent.edits import EditOutcome
from agent.llm.chat import ChatMessage
from agent.prompts import Prompts
from agent.proposers.base import ProposalRequest
from agent.proposers.decisions import EXTEND, NO_EDIT, OUT_OF_BUDGET, cap
from agent.proposers.prompt_fit import Cuts
from agent.proposers.structured import describe_space
from agent.proposers.workspace_view import workspace_files
from agent.records import ExperimentRecord
from agent.space import Space
from agent.task import Task
from evaluators.metric import Direction
from evaluators.verdict import Status
from knowledge.context import clip
from knowledge.memory.lesson import fence_ticks, inert

if TYPE_CHECKING:
    from agent.constraints import Constraints


def _score(record: ExperimentRecord, metric: str) -> str | None:
    value = record.metrics.get(metric)
    return None if value is None else f"{value:.6g}"


def _shown_code(request: ProposalRequest) -> str:
    """Whose code the prompt's workspace section holds: after the first turn, the attempt so far
    (`parent_checkout` is its latest commit), which the prompt called the parent's code."""
    if request.turn > 1 and request.attempt is not None:
        return f"{request.attempt.name}, your attempt so far, with the edits of your earlier turns"
    return request.parent.name if request.parent else ""


def one_line(text: str) -> str:
    """`text` as one inert line: what a candidate, the evaluator or the model wrote, as data."""
    return " ".join(inert(text).split())


def _history_line(record: ExperimentRecord, metric: str) -> str:
    idea = record.idea.strip().splitlines()[0] if record.idea.strip() else "(no idea recorded)"
    score = _score(record, metric)
    parent = f" from {record.parent}" if record.parent is not None else ""
    result = f"{metric} = {score}" if score else (record.reason or str(record.status))
    return cap(one_line(f"experiment {record.id}{parent}: {record.status}, {result}: {idea}"), 200)


NOTES = 6
NOTES_CHARS = 2400
_ACCOUNTING = (
    "llm: call ",
    "llm: answers as ",
    "llm: applied ",
    "llm: endpoint probe",
    "llm: prompt cut",
    "llm: context overflow",
    "llm: the endpoint reported no token usage",
    "llm: the follow-up call ",
    "llm: the reply's reasoning block",
    "llm: proposed values",
    "llm: params: ",
    EXTEND,
    OUT_OF_BUDGET,
)
"""Decision lines that are strop's accounting, not something the model can act on: never shown to it."""


def model_notes(decisions: list[str], limit: int = NOTES, chars: int = NOTES_CHARS) -> list[str]:
    """What the model should hear of an attempt's `llm:` decisions: refusals first, then edits that did
    not apply and parse notes, at most `limit` lines and about `chars` characters, in their order.

    The last 4 `llm:` lines were shown, so a call's accounting ("call 2: finish stop, 500+10
    tokens") pushed out the refusal of the protected file that mattered. Of the lines sent back in
    a follow-up, only refusals are kept (the rest the follow-up answered); one recorded twice is
    shown once, the later.
    """
    seen: dict[str, int] = {}
    for index, line in enumerate(decisions):
        if not line.startswith("llm: ") or line.startswith((*_ACCOUNTING, NO_EDIT)):
            continue  # NO_EDIT: the verdict's reason says it
        text = line.removeprefix("llm: ")
        if text.startswith("(sent back) "):
            text = text.removeprefix("(sent back) ")
            if not text.startswith("refused: "):
                continue  # a follow-up answered it; what stayed wrong is recorded again, final
        seen[text] = index
    ranked = sorted(seen.items(), key=lambda item: (not item[0].startswith("refused: "), -item[1]))
    kept: list[tuple[int, str]] = []
    used = 0
    for text, index in ranked[:limit]:
        shown = cap(text, 600)
        if kept and used + len(shown) > chars:
            break
        kept.append((index, shown))
        used += len(shown)
    return [text for _, text in sorted(kept)]


@dataclass
class TurnPrompt:
    """Renders a turn's messages for `task` with `prompts`; the sizes are the uncut prompt's."""

    task: Task
    prompts: Prompts
    space: Space
    protected: tuple[str, ...] = ()
    max_prompt_chars: int = 60_000
    max_file_chars: int = 20_000
    history: int = 6

    def full_cuts(self) -> Cuts:
        return Cuts(files_chars=self.max_prompt_chars, per_file=self.max_file_chars, history=self.history)

    def messages(
        self,
        request: ProposalRequest,
        cuts: Cuts | None = None,
        mode: str = "text",
        constraints: Constraints | None = None,
    ) -> list[ChatMessage]:
        """The system and user messages for this turn, with `cuts` applied (None: nothing cut)."""
        cuts = cuts or self.full_cuts()
        if mode == "params":
            system = self.prompts.render("system_params.md")
            return [
                ChatMessage("system", system),
                ChatMessage("user", self._params_prompt(request, cuts, constraints)),
            ]
        template = "system_structured.md" if mode == "structured" else "system.md"
        system = self.prompts.render(template, extend_allowed=self.task.spec.budget.turns == "dynamic")
        return [ChatMessage("system", system), ChatMessage("user", self._user_prompt(request, cuts))]

    def _user_prompt(self, request: ProposalRequest, cuts: Cuts) -> str:
        evaluator = self.task.evaluator
        files, omitted = workspace_files(
            request.parent_checkout,
            self.protected,
            cuts.files_chars,
            max(400, cuts.per_file),
        )
        if not cuts.readonly:
            hidden = [f.path for f in files if f.readonly]
            files = [f for f in files if not f.readonly]
            omitted = [*omitted, *(f"{path} (read-only, cut to fit the context)" for path in hidden)]
        files = [replace(f, path=one_line(f.path), fence=fence_ticks(f.text)) for f in files]
        context = request.context.strip()
        if cuts.context_chars is not None:
            context = clip(context, cuts.context_chars)
        recent = request.history[-cuts.history :] if cuts.history else []
        history = [_history_line(r, evaluator.metric) for r in recent]
        return self.prompts.render(
            "propose.md",
            goal=self.task.spec.task.goal,
            command=evaluator.command or evaluator.run,
            expects=evaluator.expects,
            metric=evaluator.metric,
            maximize=evaluator.direction is Direction.MAXIMIZE,
            budget_note=request.budget_note.strip(),
            verdict=self._verdict(request, cuts.feedback_chars),
            history=history,
            history_fence=fence_ticks("\n".join(history)),
            context=context,
            base=_shown_code(request),
            files=files,
            omitted=[one_line(item) for item in omitted],
            instruction=self._instruction(request),
        )

    def _params_prompt(self, request: ProposalRequest, cuts: Cuts, constraints: Constraints | None) -> str:
        evaluator = self.task.evaluator
        metric = evaluator.metric
        parent = request.parent
        current = self.parent_point(request)
        score = _score(parent, metric) if parent is not None and parent.status is Status.OK else None
        context = request.context.strip()
        if cuts.context_chars is not None:
            context = clip(context, cuts.context_chars)
        rules = [rule.text for rule in constraints.rules] if constraints else []
        tried = self._tried_lines(request, max(2, cuts.history * 2))
        return self.prompts.render(
            "params.md",
            goal=self.task.spec.task.goal,
            metric=metric,
            maximize=evaluator.direction is Direction.MAXIMIZE,
            budget_note=request.budget_note.strip(),
            space=describe_space(self.space),
            rules=rules,
            base=parent.name if parent else "the workspace",
            score=score,
            current=json.dumps(current),
            tried=tried,
            tried_fence=fence_ticks("\n".join(tried)),
            context=context,
        )

    def _tried_lines(self, request: ProposalRequest, limit: int) -> list[str]:
        """Points tried in this run with their outcome, best first, then failures (at most `limit`)."""
        metric = self.task.evaluator.metric
        sign = 1.0 if self.task.evaluator.direction is Direction.MAXIMIZE else -1.0
        scored = [r for r in request.history if r.params and r.status is Status.OK and metric in r.metrics]
        scored.sort(key=lambda r: -sign * r.metrics[metric])
        failed = [r for r in request.history if r.params and r.status in (Status.BUGGY, Status.TIMEOUT)]
        lines = [f"{json.dumps(r.params)} → {metric} = {r.metrics[metric]:.6g}" for r in scored]
        lines += [
            f"{json.dumps(r.params)} → failed ({cap(one_line(r.reason or r.status.value), 80)})"
            for r in failed[-3:]
        ]
        return lines[:limit]

    def parent_point(self, request: ProposalRequest) -> dict[str, Any]:
        parent = request.parent
        if parent is not None and parent.params:
            return dict(parent.params)
        return self.space.read(request.parent_checkout, self.task.spec.proposer)

    def _verdict(self, request: ProposalRequest, feedback_chars: int = 3000) -> dict[str, Any] | None:
        """The verdict shown: the previous turn's on turn > 1, else the parent's; with the edits its
        answers had refused or could not apply (`model_notes`), also when it scored well: a reply
        whose other edits applied was never sent back, so this is where the model learns why.

        The reason and the output are the run's words (a crash line, what the code printed): inert,
        each with the fence the template sets it in (see the module docstring)."""
        fixing = request.turn > 1
        shown = (request.attempt or request.parent) if fixing else request.parent
        if shown is None:
            return None
        notes = [one_line(note) for note in model_notes(shown.decisions)]
        if not fixing:  # the parent's own answer, not one of this attempt's
            notes = [f"in the answer that wrote this code: {note}" for note in notes]
        reason = inert(shown.reason or "").strip()
        feedback = inert(shown.feedback[-feedback_chars:]).strip() if feedback_chars else ""
        return {
            "heading": f"Your previous turn ({shown.name}, turn {request.turn - 1})"
            if fixing
            else f"The verdict on this code ({shown.name})",
            "status": str(shown.status),
            "score": _score(shown, self.task.evaluator.metric),
            "reason": reason,
            "reason_fence": fence_ticks(reason),
            "notes": notes,
            "feedback": feedback,
            "fence": fence_ticks(feedback),
        }

    def _instruction(self, request: ProposalRequest) -> str:
        ok = request.parent is not None and request.parent.status is Status.OK
        if request.turn > 1:
            return (
                "Your previous turn did not succeed (see above). Find the cause and fix it; "
                "the workspace shows the code as your previous turn left it."
            )
        if request.mode == "draft" or request.parent is None:
            return "Propose a first, sound solution toward the goal."
        if request.mode == "debug" or not ok:
            return "This version failed (see above). Find the cause from the output and fix it."
        return "Propose one change that should improve the metric over this version."

    def fix_prompt(self, outcome: EditOutcome, notes: list[str], structured: bool = False) -> str:
        feedback = "\n\n".join([*notes, outcome.feedback()]).strip()
        return self.prompts.render(
            "fix_edits.md", feedback=feedback, applied=outcome.applied, structured=structured
        )
