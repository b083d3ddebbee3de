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
left; every call is bounded by them (`LLMClient.complete`), and holds its worst case from the
`Allowance` the lanes share before it is sent (`agent.allowance`). A call refused for lack of
time (the endpoint's `Retry-After` is longer than the time left) says how much was left.

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
- a reply whose files are the parent's, or exactly the code of another experiment of the run (a
  sibling's, an ancestor's: `agent.proposers.twins`), is sent back naming it, never evaluated again;
- the idea (the commit message's subject) keeps no control characters: a NUL or an
  escape sequence from the model cannot break `git commit` or a terminal.

The prompt is rendered by `agent.proposers.turn_prompt`, the decision lines' vocabulary is
`agent.proposers.decisions`, and what the edits did is merged and recorded by
`agent.proposers.answer_outcome`; the names callers imported from here still are.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.allowance import Allowance, Hold
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
from agent.llm.client import MIN_ANSWER_TOKENS, ChatMessage, LLMClient, LLMReply, price, prompt_tokens_upper
from agent.llm.endpoint import Capabilities, probe, reported_context, response_format
from agent.llm.errors import (
    LLMBudgetSpent,
    LLMConfigError,
    LLMContextOverflow,
    LLMError,
    LLMErrorsInARow,
    LLMOutOfTime,
    LLMUnavailable,
    LLMUnreachable,
)
from agent.llm.journal import slot_tag
from agent.llm.reachability import hint
from agent.llm.redaction import safe_url
from agent.prompts import Prompts
from agent.proposers.answer_outcome import (
    apply_on_top,
    cut_at_max_tokens,
    drop_twin,
    drop_unchanged,
    record_outcome,
    was_cut,
    worth_retrying,
)
from agent.proposers.base import ProposalRequest
from agent.proposers.decisions import (
    CUT_SHORT,
    EXTEND,
    NO_EDIT,
    OUT_OF_BUDGET,
    cap,
    extend_request,
    no_edit_reason,
    out_of_budget,
    printable,
)
from agent.proposers.modes import ModeChoice, choose_mode, fallback_reason
from agent.proposers.prompt_fit import Cuts, fit
from agent.proposers.structured import edits_schema, params_schema, parse_edits, parse_params, settle_point
from agent.proposers.turn_prompt import TurnPrompt
from agent.proposers.twins import TreeTwins
from agent.proposers.workspace_view import editable_paths, workspace_files
from agent.records import Cost
from agent.run import Candidate
from agent.space import Space
from agent.task import Task
from sandbox.environment import declare_secret

if TYPE_CHECKING:
    from agent.constraints import Constraints
    from agent.run_index import RunIndex

MAX_SHRINKS = 4  # a context overflow cuts the prompt at most this many times per call
PARAMS_MAX_TOKENS = 400  # a params answer is a short JSON object; more is rambling

__all__ = [  # the proposer, and what callers imported from this module before it was split
    "CUT_SHORT",
    "EXTEND",
    "NO_EDIT",
    "OUT_OF_BUDGET",
    "LLMProposer",
    "Limits",
    "extend_request",
    "make_llm_proposer",
    "no_edit_reason",
    "out_of_budget",
    "printable",
    "workspace_files",
]


@dataclass(frozen=True)
class Limits:
    """What the run allows the next model call: its deadline, and the tokens and dollars left.

    `allowance`, when the loop gives one, is shared by the lanes of one step: each call holds
    its worst case from it before it is sent (`agent.allowance`). Without one, `tokens_left`
    and `usd_left` are what this proposer's calls may spend, less what each turn spent so far.
    """

    deadline: Deadline = field(default_factory=Deadline)
    tokens_left: int | None = None
    usd_left: float | None = None
    allowance: Allowance | None = None


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
        if task.spec.llm is not None:  # its value is redacted from every output, whatever its name
            declare_secret(task.spec.llm.api_key_env)
        if client is None:
            if task.spec.llm is None:
                raise LLMConfigError(f"{task.path}: the llm proposer needs an [llm] table")
            client = LLMClient(task.spec.llm)
        self.task = task
        self.client = client
        self.prompts = prompts or Prompts()
        self.edit_retries = edit_retries
        self.transcript_dir = transcript_dir
        self.protected = tuple(task.evaluator.files) + _task_file_inside(task)
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
        self.prompt = TurnPrompt(
            task, self.prompts, self.space, self.protected, max_prompt_chars, max_file_chars, history
        )
        self.constraints = constraints
        if self.answers == "params" and not self.space:
            raise UserError(f"task {task.name}: [llm] answers = 'params' needs a [space] table")
        if offline is None and self.space:
            from agent.proposers.evolve import EvolveProposer

            offline = EvolveProposer(task, constraints=constraints)
        self.offline = offline
        self.twins = TreeTwins()  # the run's experiment whose code an answer would make again
        self.caps: Capabilities | None = None  # the endpoint probe's answer, once asked
        self._window_read = False
        self._probe_line: str | None = None  # charged to the first candidate that reads it
        self.journal: Any = None  # the run's reservations of calls in flight (`use_journal`)

    def close(self) -> None:
        self.client.close()

    def use_journal(self, journal: Any) -> None:
        """Reserve each model call in `journal` (an `agent.llm.journal.CallJournal`) before it is sent,
        tagged with the experiment and turn that asked: the loop settles them once the candidate is saved."""
        self.journal = journal
        with contextlib.suppress(AttributeError):  # a test's stand-in client may take no attribute
            self.client.journal = journal

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

    def check_endpoint(self) -> None:
        """Stop with one line when nothing answers at the base URL; the loop asks before any experiment.

        With the server down, a run burned `max_errors_in_a_row` experiments (10–13 s of retries
        each) before it stopped, and a resume could spend its whole budget that way and end `done`.
        """
        reason = self._unreachable()
        if reason is not None:
            raise LLMUnreachable(
                f"the LLM endpoint at {safe_url(self.client.spec.base_url)} does not answer "
                f"({reason}; {hint(reason)})"
            )

    def _unreachable(self) -> str | None:
        """Why nothing answers at the base URL, None when something does (`LLMClient.unreachable`)."""
        unreachable = getattr(self.client, "unreachable", None)  # a test's stand-in client may have none
        return unreachable() if unreachable is not None else None

    def _capabilities(self, candidate: Candidate) -> Capabilities:
        """The endpoint probe's answer: asked once per run, its cost charged to the candidate that asked.

        An endpoint that did not answer the probe is asked again next time: "plain text" kept for
        the rest of the run would be what a dead connection said, not what the endpoint can do.
        """
        with self._probe_lock:
            caps = self.caps
            if caps is None:
                caps = probe(self.client, deadline=self.limits().deadline)
                if caps.context and self.client.context is None:
                    self.client.learn_context(caps.context)
                candidate.cost = candidate.cost + caps.cost
                allowance = self.limits().allowance
                if allowance is not None:  # the probe's few tokens are spent outside a hold
                    allowance.charge(caps.cost)
                candidate.decisions.append("llm: " + caps.line())
                if caps.reached:
                    self.caps = caps
        return caps

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
        return self.prompt.full_cuts()

    def messages(
        self, request: ProposalRequest, cuts: Cuts | None = None, mode: str = "text"
    ) -> list[ChatMessage]:
        """The system and user messages for this turn, with `cuts` applied (None: nothing cut)."""
        return self.prompt.messages(request, cuts, mode, self.constraints)

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
            candidate.decisions.append(cap(line, 600))
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

    # ------------------------------------------------------------------ propose
    def propose(self, request: ProposalRequest) -> Candidate:
        journal = self.journal
        if journal is None:
            candidate = self._propose(request)
        else:
            with journal.tagged(slot_tag(request.exp_id, request.turn)):
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
            parsed = parse_edits(answer, editable) if structured else parse_answer(answer, was_cut(reply))
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
            _call_failed(candidate, error)
            self._write_transcript(request, messages, transcript)
            return candidate
        parsed, answer = read(reply)
        candidate.idea = parsed.plan or "(the model gave no plan)"
        if parsed.extend:
            candidate.decisions.append(EXTEND + cap(printable(parsed.extend), 300))
        guard = PathGuard(request.parent_checkout, self.protected)
        parent_text = reader(request.parent_checkout)

        def settled(outcome: EditOutcome) -> EditOutcome:
            # an answer whose edits change nothing, or make exactly the code of an experiment already
            # in the run, is sent back like one that did not apply: evaluating it again teaches nothing
            outcome = drop_unchanged(outcome, parent_text)
            twin = self.twins.find(request.parent_checkout, outcome.files, request.history)
            return drop_twin(outcome, twin, self.task.evaluator.metric)

        outcome = settled(apply_edits(parsed.edits, parent_text, guard))
        earlier: list[EditProblem] = []  # what the replies sent back were told, for the final reason
        notes = list(parsed.notes)
        if cut_at_max_tokens(reply) and not outcome.files:
            notes.append(CUT_SHORT)
        for retry in range(self.edit_retries):
            if not worth_retrying(parsed.edits, outcome, notes):
                break
            messages = [
                *messages,
                ChatMessage("assistant", echoed(answer)),
                ChatMessage("user", self.prompt.fix_prompt(outcome, notes, structured)),
            ]
            record_outcome(candidate, outcome, notes, final=False)
            earlier += outcome.problems
            try:
                reply = self._ask(messages, candidate, transcript, fmt, seed=self._seed(request, candidate))
            except LLMConfigError:
                raise
            except LLMError as error:
                candidate.decisions.append(cap(f"llm: the follow-up call {retry + 1} failed: {error}"))
                if isinstance(error, LLMOutOfTime | LLMBudgetSpent):
                    candidate.decisions.append(OUT_OF_BUDGET + cap(str(error), 300))
                break
            parsed, answer = read(reply)
            if parsed.extend and extend_request(candidate) is None:
                candidate.decisions.append(EXTEND + cap(printable(parsed.extend), 300))
            outcome = settled(apply_on_top(outcome, parsed.edits, request.parent_checkout, guard))
            notes = list(parsed.notes)
            if cut_at_max_tokens(reply) and not outcome.files:
                notes.append(CUT_SHORT)
        record_outcome(candidate, outcome, notes, final=True, earlier=earlier)
        candidate.files = dict(outcome.files)
        self._write_transcript(request, messages, transcript)
        return candidate

    def _propose_params(self, request: ProposalRequest, candidate: Candidate) -> Candidate:
        """Values for the `[space]`, from the model, settled into a legal, feasible, new point."""
        fmt = self._format("params", params_schema(self.space))
        messages: list[ChatMessage] = []
        transcript: list[str] = []
        parent = self.prompt.parent_point(request)
        try:
            messages = self._fitted(request, "params", candidate)
            messages, reply = self._ask_fitting(request, messages, candidate, transcript, "params", fmt)
            text = self._answer(reply, candidate)
            answer = parse_params(text, self.space)
            if not answer.values and self.edit_retries:
                why = CUT_SHORT if cut_at_max_tokens(reply) else "the answer held no parameter values"
                example = json.dumps({"params": parent, "reason": "why these values"})
                follow = f"{why}. Answer with one JSON object only, like: {example} (with new values)."
                messages = [
                    *messages,
                    ChatMessage("assistant", echoed(text)),
                    ChatMessage("user", follow),
                ]
                candidate.decisions.append(cap(f"llm: (sent back) {why}", 300))
                reply = self._ask(
                    messages, candidate, transcript, fmt, self._seed(request, candidate), PARAMS_MAX_TOKENS
                )
                answer = parse_params(self._answer(reply, candidate), self.space)
        except LLMConfigError:
            raise
        except LLMError as error:
            _call_failed(candidate, error)
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
            cap(f"llm: proposed values ({answer.how}): {self.space.describe(answer.values)}", 600)
        )
        candidate.decisions += [cap(f"llm: params: {note}", 400) for note in settled.notes]
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
                    cap(
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
        limits = self.limits()
        allowance = limits.allowance or self._own_allowance(limits, candidate)
        worst = self._worst_case(messages, max_tokens, limits)
        held = allowance.hold(worst.tokens or 0, worst.usd or 0.0, limits.deadline)
        spent: Cost | None = None
        try:
            reply = self.client.complete(
                messages,
                deadline=limits.deadline,
                tokens_left=held.tokens,
                usd_left=held.usd,
                response_format=fmt,
                seed=seed,
                max_tokens=max_tokens,
            )
            spent = reply.cost
        except LLMError as error:
            spent = error.cost
            if error.cost is not None:
                candidate.cost = candidate.cost + error.cost
            left = limits.deadline.left()
            if isinstance(error, LLMOutOfTime) and 1.0 <= left < float("inf"):
                # refused with time left (a wait asked for is longer): the run stops on this line
                error.args = (f"{error}; {left:.0f}s of the time budget left",)
            calls = sum(1 for d in candidate.decisions if d.startswith("llm: call "))
            line = error.log.line() if error.log is not None else "not sent"
            candidate.decisions.append(cap(f"llm: call {calls + 1} failed ({error.kind}): {line}", 600))
            self._count_error(error)
            raise
        finally:
            allowance.settle(held, spent)
        self._count_error(None)
        candidate.cost = candidate.cost + reply.cost
        transcript.append(reply.text[:100_000])
        calls = sum(1 for d in candidate.decisions if d.startswith("llm: call "))
        candidate.decisions.append(cap(f"llm: call {calls + 1}: {reply.log.line()}", 600))
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
    def _own_allowance(limits: Limits, candidate: Candidate) -> Allowance:
        """An allowance for one call, when the loop shares none: the limits less what this turn spent."""
        spent = candidate.cost
        return Allowance(
            None if limits.tokens_left is None else limits.tokens_left - spent.tokens,
            None if limits.usd_left is None else limits.usd_left - spent.usd,
        )

    def _worst_case(self, messages: list[ChatMessage], max_tokens: int | None, limits: Limits) -> Hold:
        """The most a call can spend: the prompt as the client plans budgets with it, and the longest
        answer it may get."""
        spec = self.client.spec
        prompt = self.client.budget_prompt_tokens(messages, limits.tokens_left, limits.usd_left)
        answer = (
            spec.max_tokens
            if max_tokens is None
            else min(spec.max_tokens, max(MIN_ANSWER_TOKENS, max_tokens))
        )
        if self.client.context is not None:
            answer = min(answer, max(0, self.client.context - prompt_tokens_upper(messages)))
        # one token more in dollars: the client's division must not round the answer down by one
        return Hold(prompt + answer, price(prompt, answer + 1, spec))

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
            down = self._unreachable() if isinstance(error, LLMUnavailable) else None
            where = (
                f"the endpoint at {safe_url(self.client.spec.base_url)} does not answer ({down}); "
                if down
                else ""
            )
            # the call that stops the run leaves no record of its experiment: say so, `strop log` lists it not
            raise LLMErrorsInARow(
                f"{count} model calls in a row failed with the same kind of error ({error.kind}), the "
                f"last one's experiment left unrecorded; {where}last: {error}"
            )

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


def _chars(messages: list[ChatMessage]) -> int:
    return sum(len(m.content) for m in messages)


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


ECHO_CHARS = 16_000
"""The most characters of a model's answer sent back to it in a follow-up call."""


def echoed(answer: str) -> str:
    """The model's answer as a follow-up call repeats it: whole, or its start and end when long.

    A refused 400,000-character answer was sent back whole, so the follow-up call carried about
    134,000 prompt tokens (paid for, and past most local models' context) to say that it did not
    apply; the feedback after it names what went wrong, so the middle is not needed."""
    text = answer.strip() or "(no answer)"
    if len(text) <= ECHO_CHARS:
        return text
    head, tail = text[: ECHO_CHARS * 3 // 4], text[-ECHO_CHARS // 4 :]
    return f"{head}\n[… {len(text) - len(head) - len(tail):,} characters of this answer left out …]\n{tail}"


def _call_failed(candidate: Candidate, error: LLMError) -> None:
    """A candidate whose model call did not answer: why, in its idea and its no-edit reason.

    The run's own budget ending the attempt (its time, tokens or cost) is no failure of the
    model's: `strop log` read "the model call failed" for an attempt the deadline cancelled.
    """
    if isinstance(error, LLMOutOfTime | LLMBudgetSpent):
        candidate.idea = "stopped by the run's budget before the model answered"
        candidate.decisions.append(OUT_OF_BUDGET + cap(str(error), 300))
        candidate.decisions.append(NO_EDIT + cap(f"the run's budget ended the model call: {error}"))
        return
    candidate.idea = "the model call failed"
    candidate.decisions.append(NO_EDIT + cap(f"the model call failed: {error}"))


def _task_file_inside(task: Task) -> tuple[str, ...]:
    """The task file's path in the workspace, when it lies there (`strop init` puts it there): the
    judge's configuration (scorer, sandbox, mounts, direction) is no file an answer may write,
    whatever its name (`task.toml` is refused as a tool's configuration anyway)."""
    try:
        return (task.path.resolve().relative_to(task.workspace.resolve()).as_posix(),)
    except (ValueError, OSError):
        return ()
