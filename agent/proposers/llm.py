"""The LLM proposer: asks a model for the next change and turns its answer into a `Candidate`.

One `propose` call is one turn: it renders the prompt (goal, the parent's code and
verdict, recent experiments, retrieved context, the budget note), asks the model,
parses the answer (`agent.edits`) and applies the edits to the parent's files. When
some edits do not apply, it asks once more (`edit_retries`) with precise feedback.

The contract with the run loop, through `Candidate` alone:

- `files` holds the new text of every file the answer changed. It is EMPTY when the
  answer had no usable code, only refused edits, or the model call failed; then the
  LAST entry of `decisions` starts with `NO_EDIT` ("llm: no usable edit: …") and says
  why. The loop records such a candidate as rejected (`no_edit_reason(candidate)`).
- `decisions` lists, one line each, what happened: edits applied, refused (a path
  outside the workspace, a protected evaluator file) or not applied, with the
  feedback the model will see on the next turn, and truncated replies.
- an answer with a line `EXTEND: reason` adds a decision starting with `EXTEND`;
  `extend_request(candidate)` returns the reason for the turn policy (`agent.turns`).
- `cost` sums every call's tokens and USD; `turns` is the request's turn.
- on turn > 1, `request.parent` is the attempt being fixed: its status, reason,
  evaluator output and decisions are shown as "your previous attempt".
- the turn reminder is the loop's: put `TurnPolicy.reminder(...)` in `budget_note`.

Errors, one rule per class (see `agent.llm.errors`):
- `LLMConfigError` (bad key, model or URL) propagates and stops the run;
- `LLMContextOverflow`: the prompt is rebuilt smaller (files, history and context cut
  to half, then a quarter…) and sent again; the same prompt is never sent twice;
- any other `LLMError` becomes an empty candidate with the reason, and its tokens;
- the same kind of error `[llm] max_errors_in_a_row` times in a row raises
  `LLMErrorsInARow`, which stops the run and names the kind.
Every model call leaves one decision line `llm: call …` (finish reason, attempts and
why they failed, timeouts, cancellations, tokens), shown by `strop show`.

Limits: `limits` (set by the loop) says the run's deadline and the tokens and dollars
left; every call is bounded by them (`LLMClient.complete`).

Small models (issue 17):
- the answer mode (`[llm] answers`, chosen per experiment by `agent.proposers.modes` and
  kept in `Candidate.mode`): `text` SEARCH/REPLACE; `structured` JSON edits under a schema
  generated from the task (`agent.proposers.structured`), where the endpoint probe
  (`agent.llm.endpoint`, once per run) found constrained decoding; `params` values for
  the `[space]`, settled by the task's Z3 constraints like the evolve proposer's points;
- the offline fallback: after `[llm] fallback_after` LLM experiments in a row without an
  evaluable candidate, the next one is the offline proposer's (`Candidate.mode = "offline"`);
- the prompt is fitted to the context window (`[llm] context`, or the endpoint's report,
  or learned from an overflow) by `agent.proposers.prompt_fit`, which says what it cut;
- an answer cut at `max_tokens` with nothing usable is sent back once: "answer shorter".

Hostile or odd replies (what real servers and models send):
- a reasoning model's `<think>…</think>` is set aside before parsing (`split_reasoning`),
  said in a decision, and not sent back in the follow-up: edit-like text in it is never
  applied; a reply cut inside it holds no answer;
- a reply cut before the model finished (`finish_reason` length, none, or strop's own cut)
  is parsed with `cut=True`: a whole file left open is not applied;
- a reply that is only tool calls (`content: null`) is sent back once, saying so;
- the idea (the commit message's subject) keeps no control characters: a NUL or an
  escape sequence from the model cannot break `git commit` or a terminal.
"""

from __future__ import annotations

import json
import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.deadline import Deadline
from agent.edits import (
    EditOutcome,
    EditProblem,
    ParsedAnswer,
    PathGuard,
    apply_edits,
    parse_answer,
    reader,
    split_reasoning,
)
from agent.errors import UserError
from agent.llm.client import ChatMessage, LLMClient, LLMReply, prompt_tokens_upper
from agent.llm.endpoint import Capabilities, probe, reported_context, response_format
from agent.llm.errors import (
    LLMBudgetSpent,
    LLMConfigError,
    LLMContextOverflow,
    LLMError,
    LLMErrorsInARow,
    LLMOutOfTime,
)
from agent.prompts import Prompts
from agent.proposers.base import ProposalRequest
from agent.proposers.modes import ModeChoice, choose_mode, fallback_reason
from agent.proposers.prompt_fit import Cuts, fit
from agent.proposers.structured import (
    describe_space,
    edits_schema,
    params_schema,
    parse_edits,
    parse_params,
    settle_point,
)
from agent.proposers.workspace_view import editable_paths, workspace_files
from agent.records import ExperimentRecord
from agent.run import Candidate
from agent.space import Space
from agent.task import Task
from evaluators.metric import Direction
from evaluators.verdict import Status

if TYPE_CHECKING:
    from agent.constraints import Constraints
    from agent.run_index import RunIndex

NO_EDIT = "llm: no usable edit: "
EXTEND = "llm: the model asks for more turns: "
OUT_OF_BUDGET = "llm: stopped by the run's budget: "
MAX_SHRINKS = 4  # a context overflow cuts the prompt at most this many times per call
PARAMS_MAX_TOKENS = 400  # a params answer is a short JSON object; more is rambling
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


@dataclass(frozen=True)
class Limits:
    """What the run allows the next model call: its deadline, and the tokens and dollars left."""

    deadline: Deadline = field(default_factory=Deadline)
    tokens_left: int | None = None
    usd_left: float | None = None


def extend_request(candidate: Candidate) -> str | None:
    """The model's `EXTEND:` reason in this candidate's answer, if it asked for more turns."""
    for decision in candidate.decisions:
        if decision.startswith(EXTEND):
            return decision.removeprefix(EXTEND)
    return None


def _gist(message: str, limit: int = 200) -> str:
    """The first line of a feedback message, without the quoted code, for a one-line reason."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    first = first.split("; the closest lines")[0]
    return _cap(first.rstrip(":. "), limit)


def printable(text: str) -> str:
    """`text` without control characters (but newline and tab) or lone surrogates: safe for git and terminals."""
    return _CONTROL.sub("", text)


def _cap(text: str, limit: int = _DECISION_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _score(record: ExperimentRecord, metric: str) -> str | None:
    value = record.metrics.get(metric)
    return None if value is None else f"{value:.6g}"


def _history_line(record: ExperimentRecord, metric: str) -> str:
    idea = record.idea.strip().splitlines()[0] if record.idea.strip() else "(no idea recorded)"
    score = _score(record, metric)
    parent = f" from {record.parent}" if record.parent is not None else ""
    result = f"{metric} = {score}" if score else (record.reason or str(record.status))
    return _cap(f"experiment {record.id}{parent}: {record.status}, {result}: {idea}", 200)


class LLMProposer:
    """A `Proposer` backed by a chat model (any OpenAI-compatible endpoint).

    `constraints` repair params-mode points (as for `evolve`); `offline` is the proposer a
    lane falls back to (`[llm] fallback_after`), by default `evolve` when the task has a
    `[space]`.
    """

    name = "llm"
    multi_turn = True  # the loop runs its turn policy around this proposer

    def __init__(
        self,
        task: Task,
        client: LLMClient | None = None,
        *,
        prompts: Prompts | None = None,
        edit_retries: int = 1,
        max_prompt_chars: int = 60_000,
        max_file_chars: int = 20_000,
        history: int = 6,
        transcript_dir: Path | None = None,
        constraints: Constraints | None = None,
        offline: Any = None,
    ) -> None:
        if client is None:
            if task.spec.llm is None:
                raise LLMConfigError(f"{task.path}: the llm proposer needs an [llm] table")
            client = LLMClient(task.spec.llm)
        self.task = task
        self.client = client
        self.prompts = prompts or Prompts()
        self.edit_retries = edit_retries
        self.max_prompt_chars = max_prompt_chars
        self.max_file_chars = max_file_chars
        self.history = history
        self.transcript_dir = transcript_dir
        self.protected = tuple(task.evaluator.files)
        self.limits: Callable[[], Limits] = Limits  # the loop replaces it with the run's live limits
        self._cap: int | None = None  # prompt tokens allowed after an overflow that named no window
        self._streak: tuple[str, int] = ("", 0)  # the last error kind and how often in a row
        self._lock = threading.Lock()
        self._probe_lock = threading.Lock()
        llm = task.spec.llm
        self.max_errors_in_a_row = llm.max_errors_in_a_row if llm is not None else 5
        self.answers = llm.answers if llm is not None else "text"
        self.fallback_after = llm.fallback_after if llm is not None else 0
        self.space = Space.from_task(task)
        self.constraints = constraints
        if self.answers == "params" and not self.space:
            raise UserError(f"task {task.name}: [llm] answers = 'params' needs a [space] table")
        if offline is None and self.space:
            from agent.proposers.evolve import EvolveProposer

            offline = EvolveProposer(task, constraints=constraints)
        self.offline = offline
        self.caps: Capabilities | None = None  # the endpoint probe's answer, once asked
        self._window_read = False
        self._probe_line: str | None = None  # charged to the first candidate that reads it

    def close(self) -> None:
        self.client.close()

    def use_constraints(self, constraints: Constraints | None) -> None:
        """Check params under new constraints (the loop adds failing regions learned mid-run)."""
        self.constraints = constraints
        use = getattr(self.offline, "use_constraints", None)
        if use is not None:
            use(constraints)

    # ------------------------------------------------------------------ endpoint
    def window(self) -> int | None:
        """The context window in tokens: `[llm] context`, else what the endpoint reports, else learned."""
        with self._probe_lock:
            if not self._window_read and self.client.context is None:
                self._window_read = True
                try:
                    reported = reported_context(self.client.models(), self.client.spec.model)
                except LLMConfigError:
                    raise
                except LLMError:
                    reported = None
                if reported:
                    self.client.learn_context(reported)
            self._window_read = True
        return self.client.context

    def _capabilities(self, candidate: Candidate) -> Capabilities:
        """The endpoint probe's answer: asked once per run, its cost charged to the candidate that asked."""
        with self._probe_lock:
            if self.caps is None:
                self.caps = probe(self.client, deadline=self.limits().deadline)
                if self.caps.context and self.client.context is None:
                    self.client.learn_context(self.caps.context)
                candidate.cost = candidate.cost + self.caps.cost
                candidate.decisions.append("llm: " + self.caps.line())
        return self.caps

    def _choose(self, request: ProposalRequest, candidate: Candidate) -> ModeChoice:
        attempt = request.attempt if request.turn > 1 else None
        if attempt is not None and attempt.mode in ("text", "structured", "params"):
            if attempt.mode != "text":
                self._capabilities(candidate)
            return ModeChoice(attempt.mode, f"turn {request.turn} of an attempt in {attempt.mode} mode")
        structured = self.caps.structured if self.caps is not None else None
        choice = choose_mode(self.answers, request.history, bool(self.space), structured)
        if choice.mode != "text" and self.caps is None:
            structured = self._capabilities(candidate).structured
            choice = choose_mode(self.answers, request.history, bool(self.space), structured)
        return choice

    # ------------------------------------------------------------------ prompt
    def full_cuts(self) -> Cuts:
        return Cuts(files_chars=self.max_prompt_chars, per_file=self.max_file_chars, history=self.history)

    def messages(
        self, request: ProposalRequest, cuts: Cuts | None = None, mode: str = "text"
    ) -> list[ChatMessage]:
        """The system and user messages for this turn, with `cuts` applied (None: nothing cut)."""
        cuts = cuts or self.full_cuts()
        if mode == "params":
            system = self.prompts.render("system_params.md")
            return [ChatMessage("system", system), ChatMessage("user", self._params_prompt(request, cuts))]
        template = "system_structured.md" if mode == "structured" else "system.md"
        system = self.prompts.render(template, extend_allowed=self.task.spec.budget.turns == "dynamic")
        return [ChatMessage("system", system), ChatMessage("user", self._user_prompt(request, cuts))]

    def _fitted(self, request: ProposalRequest, mode: str, candidate: Candidate) -> list[ChatMessage]:
        """The prompt cut to fit the context window (when one is known), with a decision saying what was cut."""
        window = self.window()
        budget = self._prompt_budget(window, mode)
        if budget is None:
            return self.messages(request, mode=mode)
        fitted = fit(
            lambda c: self.messages(request, c, mode), self.full_cuts(), budget, len(request.context)
        )
        line = fitted.line(budget, window or budget)
        if line:
            candidate.decisions.append(_cap(line, 600))
        return fitted.messages

    def _prompt_budget(self, window: int | None, mode: str) -> int | None:
        """Tokens the prompt may take: the window less the answer's reserve, and under any learned cap."""
        budget = None
        if window is not None:
            answer = PARAMS_MAX_TOKENS if mode == "params" else min(self.client.spec.max_tokens, window // 4)
            budget = max(256, window - answer)
        if self._cap is not None:
            budget = self._cap if budget is None else min(budget, self._cap)
        return budget

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
        parent = request.parent
        context = request.context.strip()
        if cuts.context_chars is not None:
            context = context[: cuts.context_chars]
        history = request.history[-cuts.history :] if cuts.history else []
        return self.prompts.render(
            "propose.md",
            goal=self.task.spec.task.goal,
            command=evaluator.command or evaluator.run,
            expects=evaluator.expects,
            metric=evaluator.metric,
            maximize=evaluator.direction is Direction.MAXIMIZE,
            budget_note=request.budget_note.strip(),
            verdict=self._verdict(request, cuts.feedback_chars),
            history=[_history_line(r, evaluator.metric) for r in history],
            context=context,
            base=parent.name if parent else "",
            files=files,
            omitted=omitted,
            instruction=self._instruction(request),
        )

    def _params_prompt(self, request: ProposalRequest, cuts: Cuts) -> str:
        evaluator = self.task.evaluator
        metric = evaluator.metric
        parent = request.parent
        current = self._parent_point(request)
        score = _score(parent, metric) if parent is not None and parent.status is Status.OK else None
        context = request.context.strip()
        if cuts.context_chars is not None:
            context = context[: cuts.context_chars]
        rules = [rule.text for rule in self.constraints.rules] if self.constraints else []
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
            tried=self._tried_lines(request, max(2, cuts.history * 2)),
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
            f"{json.dumps(r.params)} → failed ({_cap(r.reason or r.status.value, 80)})" for r in failed[-3:]
        ]
        return lines[:limit]

    def _parent_point(self, request: ProposalRequest) -> dict[str, Any]:
        parent = request.parent
        if parent is not None and parent.params:
            return dict(parent.params)
        return self.space.read(request.parent_checkout, self.task.spec.proposer)

    def _verdict(self, request: ProposalRequest, feedback_chars: int = 3000) -> dict[str, Any] | None:
        """The verdict shown: the previous turn's on turn > 1, else the parent's."""
        fixing = request.turn > 1
        shown = (request.attempt or request.parent) if fixing else request.parent
        if shown is None:
            return None
        notes = [_cap(d, 600) for d in shown.decisions if d.startswith("llm:") and not d.startswith(EXTEND)][
            -4:
        ]
        return {
            "heading": f"Your previous turn ({shown.name}, turn {request.turn - 1})"
            if fixing
            else f"The verdict on this code ({shown.name})",
            "status": str(shown.status),
            "score": _score(shown, self.task.evaluator.metric),
            "reason": shown.reason,
            "notes": notes if fixing else [],
            "feedback": shown.feedback[-feedback_chars:].strip() if feedback_chars else "",
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

    # ------------------------------------------------------------------ propose
    def propose(self, request: ProposalRequest) -> Candidate:
        candidate = self._propose(request)
        candidate.idea = printable(candidate.idea)
        return candidate

    def _propose(self, request: ProposalRequest) -> Candidate:
        if request.turn == 1 and self.offline is not None:
            why = fallback_reason(request.history, self.fallback_after)
            if why:
                return self._from_offline(request, why)
        candidate = Candidate(idea="", proposer=self.name, turns=request.turn)
        choice = self._choose(request, candidate)
        candidate.mode = choice.mode
        if choice.reason:
            candidate.decisions.append(f"llm: answers as {choice.mode} ({choice.reason})")
        if choice.mode == "params":
            return self._propose_params(request, candidate)
        return self._propose_edits(request, candidate, structured=choice.mode == "structured")

    def _from_offline(self, request: ProposalRequest, why: str) -> Candidate:
        """This experiment from the offline proposer, saying why; the LLM is asked again next time."""
        candidate = self.offline.propose(request)
        candidate.mode = "offline"
        candidate.decisions.insert(0, why)
        return candidate

    def _format(self, name: str, schema: dict[str, Any]) -> dict[str, Any] | None:
        caps = self.caps
        if caps is None or caps.dialect is None:
            return None
        return response_format(caps.dialect, name, schema)

    def _seed(self, request: ProposalRequest, candidate: Candidate) -> int:
        """A sampling seed per call: reproducible for a given run seed, different for each call."""
        calls = sum(1 for d in candidate.decisions if d.startswith("llm: call "))
        return (request.seed * 1_000_003 + request.exp_id * 1009 + request.turn * 31 + calls) % (2**31)

    def _propose_edits(self, request: ProposalRequest, candidate: Candidate, structured: bool) -> Candidate:
        mode = "structured" if structured else "text"
        editable = editable_paths(request.parent_checkout, self.protected)
        fmt = self._format("edits", edits_schema(editable)) if structured else None
        messages: list[ChatMessage] = []
        transcript: list[str] = []

        def read(reply: LLMReply) -> tuple[ParsedAnswer, str]:
            answer = self._answer(reply, candidate)
            parsed = parse_edits(answer, editable) if structured else parse_answer(answer, _was_cut(reply))
            if reply.tool_calls and not parsed.edits:
                called = ", ".join(reply.tool_calls[:3])
                note = (
                    f"your answer was a tool call ({called}), which strop does not read: no tools are offered; "
                    "write the edits in the text of your answer"
                )
                parsed = ParsedAnswer(parsed.plan, parsed.edits, parsed.extend, (*parsed.notes, note))
            return parsed, answer

        try:
            messages = self._fitted(request, mode, candidate)
            messages, reply = self._ask_fitting(request, messages, candidate, transcript, mode, fmt)
        except LLMConfigError:
            raise
        except LLMError as error:
            candidate.idea = "the model call failed"
            if isinstance(error, LLMOutOfTime | LLMBudgetSpent):
                candidate.decisions.append(OUT_OF_BUDGET + _cap(str(error), 300))
            candidate.decisions.append(NO_EDIT + _cap(f"the model call failed: {error}"))
            self._write_transcript(request, messages, transcript)
            return candidate
        parsed, answer = read(reply)
        candidate.idea = parsed.plan or "(the model gave no plan)"
        if parsed.extend:
            candidate.decisions.append(EXTEND + _cap(printable(parsed.extend), 300))
        guard = PathGuard(request.parent_checkout, self.protected)
        outcome = apply_edits(parsed.edits, reader(request.parent_checkout), guard)
        notes = list(parsed.notes)
        if _cut_at_max_tokens(reply) and not outcome.files:
            notes.append(CUT_SHORT)
        for retry in range(self.edit_retries):
            if not self._worth_retrying(parsed.edits, outcome, notes):
                break
            messages = [
                *messages,
                ChatMessage("assistant", answer.strip() or "(no answer)"),
                ChatMessage("user", self._fix_prompt(outcome, notes, structured)),
            ]
            self._record(candidate, outcome, notes, final=False)
            try:
                reply = self._ask(messages, candidate, transcript, fmt, seed=self._seed(request, candidate))
            except LLMConfigError:
                raise
            except LLMError as error:
                candidate.decisions.append(_cap(f"llm: the follow-up call {retry + 1} failed: {error}"))
                if isinstance(error, LLMOutOfTime | LLMBudgetSpent):
                    candidate.decisions.append(OUT_OF_BUDGET + _cap(str(error), 300))
                break
            parsed, answer = read(reply)
            if parsed.extend and extend_request(candidate) is None:
                candidate.decisions.append(EXTEND + _cap(printable(parsed.extend), 300))
            outcome = self._apply_on_top(outcome, parsed.edits, request.parent_checkout, guard)
            notes = list(parsed.notes)
            if _cut_at_max_tokens(reply) and not outcome.files:
                notes.append(CUT_SHORT)
        outcome = _drop_unchanged(outcome, reader(request.parent_checkout))
        self._record(candidate, outcome, notes, final=True)
        candidate.files = dict(outcome.files)
        self._write_transcript(request, messages, transcript)
        return candidate

    def _propose_params(self, request: ProposalRequest, candidate: Candidate) -> Candidate:
        """Values for the `[space]`, from the model, settled into a legal, feasible, new point."""
        fmt = self._format("params", params_schema(self.space))
        messages: list[ChatMessage] = []
        transcript: list[str] = []
        parent = self._parent_point(request)
        try:
            messages = self._fitted(request, "params", candidate)
            messages, reply = self._ask_fitting(request, messages, candidate, transcript, "params", fmt)
            text = self._answer(reply, candidate)
            answer = parse_params(text, self.space)
            if not answer.values and self.edit_retries:
                why = CUT_SHORT if _cut_at_max_tokens(reply) else "the answer held no parameter values"
                example = json.dumps({"params": parent, "reason": "why these values"})
                follow = f"{why}. Answer with one JSON object only, like: {example} (with new values)."
                messages = [
                    *messages,
                    ChatMessage("assistant", text.strip() or "(no answer)"),
                    ChatMessage("user", follow),
                ]
                candidate.decisions.append(_cap(f"llm: (sent back) {why}", 300))
                reply = self._ask(
                    messages, candidate, transcript, fmt, self._seed(request, candidate), PARAMS_MAX_TOKENS
                )
                answer = parse_params(self._answer(reply, candidate), self.space)
        except LLMConfigError:
            raise
        except LLMError as error:
            candidate.idea = "the model call failed"
            if isinstance(error, LLMOutOfTime | LLMBudgetSpent):
                candidate.decisions.append(OUT_OF_BUDGET + _cap(str(error), 300))
            candidate.decisions.append(NO_EDIT + _cap(f"the model call failed: {error}"))
            self._write_transcript(request, messages, transcript)
            return candidate
        self._write_transcript(request, messages, transcript)
        if not answer.values:
            candidate.idea = "(the model proposed no values)"
            candidate.decisions.append(NO_EDIT + "the answer held no parameter values")
            return candidate
        tried = {self.space.key(r.params) for r in request.history if r.params}
        rng = random.Random(f"{request.seed}:{request.exp_id}:{request.turn}")
        settled = settle_point(answer.values, self.space, self.constraints, parent, tried, rng)
        candidate.decisions.append(
            _cap(f"llm: proposed values ({answer.how}): {self.space.describe(answer.values)}", 600)
        )
        candidate.decisions += [_cap(f"llm: params: {note}", 400) for note in settled.notes]
        if settled.point is None:
            candidate.idea = f"params: {answer.reason or 'no reason given'}"
            candidate.decisions.append(NO_EDIT + settled.reason)
            return candidate
        candidate.params = settled.point
        candidate.files = self.space.materialise(
            settled.point, request.parent_checkout, self.task.spec.proposer
        )
        reason = f" — {answer.reason}" if answer.reason else ""
        candidate.idea = f"params: {self.space.describe(settled.point)}{reason}"
        return candidate

    def _ask_fitting(
        self,
        request: ProposalRequest,
        messages: list[ChatMessage],
        candidate: Candidate,
        transcript: list[str],
        mode: str = "text",
        fmt: dict[str, Any] | None = None,
    ) -> tuple[list[ChatMessage], LLMReply]:
        """Ask; on a context overflow, fit the prompt to the smaller window and ask again (never unchanged).

        The overflow names the window (then the prompt is fitted to it) or not (then the
        prompt may take at most 60% of what it took); it is not a failed candidate.
        """
        limit = PARAMS_MAX_TOKENS if mode == "params" else None
        for _ in range(MAX_SHRINKS + 1):
            try:
                seed = self._seed(request, candidate)
                return messages, self._ask(messages, candidate, transcript, fmt, seed, limit)
            except LLMContextOverflow as error:
                before = prompt_tokens_upper(messages)
                if error.limit is None:
                    with self._lock:
                        self._cap = min(self._cap or before, int(before * 0.6))
                marker = len(candidate.decisions)
                smaller = self._fitted(request, mode, candidate)
                del candidate.decisions[marker:]  # the overflow line below says it
                if _chars(smaller) >= _chars(messages):
                    raise LLMContextOverflow(
                        f"{error}; the prompt cannot be made smaller than {_chars(messages)} characters"
                    ) from None
                candidate.decisions.append(
                    _cap(
                        f"llm: context overflow: prompt cut from {_chars(messages)} to {_chars(smaller)} "
                        f"characters and sent again ({error})",
                        400,
                    )
                )
                messages = smaller
        raise LLMContextOverflow(f"the prompt still overflows after {MAX_SHRINKS} cuts")

    def _ask(
        self,
        messages: list[ChatMessage],
        candidate: Candidate,
        transcript: list[str],
        fmt: dict[str, Any] | None = None,
        seed: int | None = None,
        max_tokens: int | None = None,
    ) -> LLMReply:
        limits = self.limits()  # taken when this turn began: less what the turn has spent since
        spent = candidate.cost
        tokens_left = None if limits.tokens_left is None else limits.tokens_left - spent.tokens
        usd_left = None if limits.usd_left is None else limits.usd_left - spent.usd
        try:
            reply = self.client.complete(
                messages,
                deadline=limits.deadline,
                tokens_left=tokens_left,
                usd_left=usd_left,
                response_format=fmt,
                seed=seed,
                max_tokens=max_tokens,
            )
        except LLMError as error:
            if error.cost is not None:
                candidate.cost = candidate.cost + error.cost
            calls = sum(1 for d in candidate.decisions if d.startswith("llm: call "))
            line = error.log.line() if error.log is not None else "not sent"
            candidate.decisions.append(_cap(f"llm: call {calls + 1} failed ({error.kind}): {line}", 600))
            self._count_error(error)
            raise
        self._count_error(None)
        candidate.cost = candidate.cost + reply.cost
        transcript.append(reply.text[:100_000])
        calls = sum(1 for d in candidate.decisions if d.startswith("llm: call "))
        candidate.decisions.append(_cap(f"llm: call {calls + 1}: {reply.log.line()}", 600))
        if reply.truncated:
            candidate.decisions.append(
                f"llm: the reply was cut at {self.client.max_reply_chars} characters (finish: "
                f"{reply.finish_reason or 'unknown'})"
            )
        elif reply.finish_reason == "length":
            candidate.decisions.append(
                f"llm: the reply hit max_tokens ({reply.log.max_tokens}) and is incomplete (finish: length)"
            )
        if not reply.usage_reported:
            candidate.decisions.append("llm: the endpoint reported no token usage; tokens estimated")
        return reply

    @staticmethod
    def _answer(reply: LLMReply, candidate: Candidate) -> str:
        """The reply's answer without a reasoning model's `<think>` block; a decision says what was set aside."""
        answer, reasoning = split_reasoning(reply.text)
        if reasoning:
            how = (
                "the whole reply (cut while reasoning)"
                if not answer.strip()
                else f"{len(reasoning)} characters"
            )
            candidate.decisions.append(
                f"llm: the reply's reasoning block (<think>) was set aside, not read for edits: {how}"
            )
        return answer

    def _count_error(self, error: LLMError | None) -> None:
        """Track the same kind of error in a row; at `max_errors_in_a_row`, stop the run naming the kind."""
        if isinstance(error, LLMConfigError | LLMOutOfTime | LLMBudgetSpent):
            return  # these stop the run (or the attempt) on their own
        with self._lock:
            if error is None:
                self._streak = ("", 0)
                return
            kind, count = self._streak
            count = count + 1 if kind == error.kind else 1
            self._streak = (error.kind, count)
        if count >= self.max_errors_in_a_row:
            raise LLMErrorsInARow(
                f"{count} model calls in a row failed with the same kind of error ({error.kind}); "
                f"last: {error}"
            )

    @staticmethod
    def _worth_retrying(edits: tuple[Any, ...], outcome: EditOutcome, notes: list[str]) -> bool:
        """Retry when something failed to apply and a corrected answer could fix it."""
        unmatched = [p for p in outcome.problems if not p.refused]
        return bool(unmatched) or (bool(edits) and not outcome.files) or bool(notes and not outcome.files)

    def _fix_prompt(self, outcome: EditOutcome, notes: list[str], structured: bool = False) -> str:
        feedback = "\n\n".join([*notes, outcome.feedback()]).strip()
        return self.prompts.render(
            "fix_edits.md", feedback=feedback, applied=outcome.applied, structured=structured
        )

    @staticmethod
    def _apply_on_top(
        before: EditOutcome, edits: tuple[Any, ...], root: Path, guard: PathGuard
    ) -> EditOutcome:
        base = reader(root)

        def read(path: str) -> str | None:
            return before.files[path] if path in before.files else base(path)

        again = apply_edits(edits, read, guard)
        merged = EditOutcome(
            files={**before.files, **again.files},
            applied=[*before.applied, *again.applied],
            problems=list(again.problems),
        )
        return merged

    @staticmethod
    def _record(candidate: Candidate, outcome: EditOutcome, notes: list[str], final: bool) -> None:
        prefix = "llm: " if final else "llm: (sent back) "
        for note in notes:
            candidate.decisions.append(_cap(f"{prefix}{note}"))
        for problem in outcome.problems:
            label = "refused" if problem.refused else "did not apply"
            candidate.decisions.append(_cap(f"{prefix}{label}: {problem.message}"))
        if not final:
            return
        if outcome.applied:
            candidate.decisions.append(_cap("llm: applied " + "; ".join(outcome.applied), 600))
        if outcome.files:
            return
        if outcome.problems and all(p.refused for p in outcome.problems):
            why = "every edit was refused (" + "; ".join(_gist(p.message) for p in outcome.problems[:3]) + ")"
        elif outcome.problems:
            why = "no edit applied (" + _gist(outcome.problems[0].message) + ")"
        elif notes:
            why = "the answer held no edit (" + _gist(notes[0]) + ")"
        else:
            why = "the answer held no code"
        candidate.decisions.append(NO_EDIT + why)

    def _write_transcript(
        self, request: ProposalRequest, messages: list[ChatMessage], replies: list[str]
    ) -> None:
        if self.transcript_dir is None:
            return
        self.transcript_dir.mkdir(parents=True, exist_ok=True)
        parts = [f"## {m.role}\n\n{m.content}" for m in messages]
        if replies:  # earlier replies are already in `messages`, as the assistant's turns
            parts.append(f"## reply {len(replies)}\n\n{replies[-1]}")
        path = self.transcript_dir / f"{request.exp_id}-turn{request.turn}.md"
        path.write_text(self.client.redact("\n\n".join(parts)) + "\n", encoding="utf-8")


def _was_cut(reply: LLMReply) -> bool:
    """The reply ended before the model finished: at `max_tokens`, at strop's cut, or with no finish reason."""
    return reply.truncated or reply.finish_reason in ("length", "")


def _cut_at_max_tokens(reply: LLMReply) -> bool:
    """The model stopped at `max_tokens` (not strop's own cut of a huge reply): asking shorter may help."""
    return reply.finish_reason == "length" and not reply.truncated


def _chars(messages: list[ChatMessage]) -> int:
    return sum(len(m.content) for m in messages)


def _drop_unchanged(outcome: EditOutcome, read: Callable[[str], str | None]) -> EditOutcome:
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
    return EditOutcome(files=changed, applied=outcome.applied, problems=problems)


def make_llm_proposer(
    task: Task,
    index: RunIndex | None = None,
    transcript_dir: Path | None = None,
    constraints: Constraints | None = None,
) -> LLMProposer:
    """The loop's factory: an `LLMProposer` on the task's `[llm]` endpoint.

    `index` is accepted for the loop's call and not needed yet (turn history is the loop's);
    `constraints` repair params-mode points and steer the offline fallback.
    """
    del index
    return LLMProposer(task, transcript_dir=transcript_dir, constraints=constraints)
