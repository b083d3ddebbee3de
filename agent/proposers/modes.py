"""How the LLM proposer asks, experiment by experiment, and when it hands one to the offline proposer.

Pure decisions over the run's records (no state of its own, so a resumed run decides
exactly as an uninterrupted one):

- **answer mode** (`[llm] answers`): `text` (SEARCH/REPLACE blocks), `structured` (JSON
  edits under a schema, where the endpoint enforces one), `params` (values for the
  task's `[space]`). `auto` starts with text, the format strong models do best with;
  after `CODE_FAILURES` code experiments in a row without a usable edit it switches to
  params when the task has a `[space]` (the easiest useful thing a small model can
  do), else to structured edits when the endpoint supports them; in params mode it
  tries code again every `RETRY_CODE_EVERY` experiments.
- **fallback** (`[llm] fallback_after`, default 2): after that many LLM experiments in
  a row without an evaluable candidate (rejected before evaluation), the next one is
  made by the offline proposer; the one after it is the LLM's again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agent.records import ExperimentRecord
from evaluators.verdict import Status

CODE_FAILURES = 2
RETRY_CODE_EVERY = 4
CODE_MODES = ("text", "structured")


@dataclass(frozen=True)
class ModeChoice:
    mode: str  # text | structured | params
    reason: str  # "" for plain text edits, strop's usual way (no decision line)


def _finished_llm(history: Sequence[ExperimentRecord]) -> list[ExperimentRecord]:
    """This run's LLM experiments that have a verdict, in order."""
    done = [r for r in history if r.proposer == "llm" and r.status is not Status.PENDING]
    return sorted(done, key=lambda r: r.id)


def choose_mode(
    setting: str, history: Sequence[ExperimentRecord], has_space: bool, structured_ok: bool | None
) -> ModeChoice:
    """The answer mode for the next experiment.

    `structured_ok` is the endpoint probe's answer (None: not probed yet). A switch to code
    edits answers `structured` while it is None, so the caller probes and asks again with its
    answer: mapped to text, the probe never ran and auto never left text without a `[space]`.
    """
    code = "text" if structured_ok is False else "structured"
    if setting == "params":
        return ModeChoice("params", "[llm] answers = params")
    if setting == "structured":
        if structured_ok is False:
            return ModeChoice("text", "[llm] answers = structured, but the endpoint enforces no JSON schema")
        return ModeChoice("structured", "[llm] answers = structured")
    if setting == "text":
        return ModeChoice("text", "")
    records = _finished_llm(history)
    failures = 0
    since_code = 0
    for record in reversed(records):
        if (record.mode or "text") in CODE_MODES:
            if record.status is not Status.REJECTED:
                break
            failures += 1
        elif failures == 0:
            since_code += 1
    if failures < CODE_FAILURES:
        mode = records[-1].mode if records and records[-1].mode in CODE_MODES else "text"
        mode = "text" if structured_ok is False else mode  # the endpoint stopped enforcing schemas
        return ModeChoice(mode, "" if mode == "text" else "auto: the model's code edits are usable")
    if has_space and since_code < RETRY_CODE_EVERY:
        return ModeChoice(
            "params", f"auto: {failures} code attempts in a row gave no usable edit; proposing [space] values"
        )
    if has_space:
        return ModeChoice(
            code, f"auto: code again after {since_code} experiments of [space] values{_how(structured_ok)}"
        )
    return ModeChoice(
        code, f"auto: {failures} code attempts in a row gave no usable edit{_how(structured_ok)}"
    )


def _how(structured_ok: bool | None) -> str:
    """The code mode auto switched to, and why (the probe's answer)."""
    if structured_ok is None:
        return "; asking the endpoint whether it enforces a JSON schema"
    if structured_ok:
        return "; the endpoint enforces a JSON schema: structured edits"
    return "; the endpoint enforces no JSON schema: edits as text again"


def fallback_reason(history: Sequence[ExperimentRecord], after: int) -> str:
    """Why the next experiment goes to the offline proposer ("" when it does not)."""
    if after <= 0:
        return ""
    streak = 0
    finished = sorted(
        (r for r in history if r.status is not Status.PENDING and r.id != 0), key=lambda r: r.id
    )
    for record in reversed(finished):
        if record.proposer != "llm" or record.status is not Status.REJECTED:
            break
        streak += 1
    if streak < after:
        return ""
    return (
        f"fallback: {streak} LLM experiments in a row without an evaluable candidate; this one is "
        "made by the offline proposer (evolve), the LLM is asked again next"
    )
