"""A run whose every experiment fails the same way from the start: the task, not the candidates.

A scorer that printed its metric in the wrong form failed experiment 0 (the workspace as it
is) and every sample after it with one message; the run spent its whole budget (60 of 60,
or hours under `--time`) on failures no candidate could change. When nothing has scored
and the first `SAME_FAILURES` evaluated experiments, experiment 0 among them, failed with
one error signature (as memory normalises errors), the run stops and says so, pointing at
experiment 0's log (what the evaluator printed) and at `strop eval`, which checks a fix.

Five: one failure is any workspace's bad luck; a baseline and four different candidates
failing identically (same normalised exception or message) is the evaluator's. Only where
the candidates were parameter values (the offline proposer, or the LLM asked for [space]
values): a task whose workspace is broken on purpose, for an LLM to repair by editing code,
may take it more tries than five, and its proposer has its own stops for errors in a row.
"""

from __future__ import annotations

from collections.abc import Iterable

from agent.records import ExperimentRecord
from evaluators.verdict import Status
from knowledge.memory.signature import error_signature

SAME_FAILURES = 5
FAILED = (Status.BUGGY, Status.TIMEOUT)


def broken_start(
    records: Iterable[ExperimentRecord], task_path: str, count: int = SAME_FAILURES
) -> str | None:
    """The stop reason when the run's first `count` evaluated experiments failed alike, else None."""
    evaluated = sorted(
        (r for r in records if r.status not in (Status.PENDING, Status.REJECTED, Status.STOPPED)),
        key=lambda r: r.id,
    )
    if len(evaluated) < count or evaluated[0].id != 0:
        return None
    if any(r.status not in FAILED or _edits_code(r) for r in evaluated):
        return None
    signatures = {error_signature(r.status.value, r.reason) for r in evaluated}
    if len(signatures) != 1:
        return None
    return (
        f"the first {len(evaluated)} experiments, experiment 0 (the workspace as it is) among them, "
        f"failed the same way and none scored ({evaluated[0].status.value}: {evaluated[-1].reason}): "
        f"the task's evaluator is the likely cause, not the candidates: `strop show {evaluated[0].name}` "
        f"shows what it printed; fix it, then check it with `strop eval {task_path}`"
    )


def _edits_code(record: ExperimentRecord) -> bool:
    return record.proposer == "llm" and record.mode != "params"
