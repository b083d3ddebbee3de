"""Turn policies: how many LLM turns one attempt may take (draft, run, debug, run, …).

An attempt ends when a turn succeeds or when its policy says stop. The policies
(`[budget] turns`), after "More with Less" (2025):

- `unlimited`: never stops for turns (the run's own budgets still do);
- `fixed`: `turn_limit` turns, with a reminder of the turns left in every prompt;
- `p75`: the limit is the 75th percentile (linear interpolation, rounded up) of the
  turns that past successful attempts of this task took; with fewer than
  `turn_history_min` of them it falls back to `turn_limit`. The history is read when a run
  (or resume) starts: the limit is the same for all its attempts, its reasons say "in
  earlier runs", and the next run learns from this one's;
- `dynamic`: starts at the `p75` limit; at the limit, when the model asked for more
  (a line `EXTEND: reason` in its answer) and its last turns made progress (the score
  improved, the error went away, or the error changed), it is granted `extension`
  more turns, at most `max_extensions` times; otherwise the attempt stops. The parent's
  verdict counts as turn 0, so progress can be judged from a limit of 1.

Only LLM attempts teach the history: experiment 0 (the baseline, no model at all) and
the offline proposer's experiments never enter it, and it is kept per task and model.

Pure logic: `TurnPolicy.decide(state, outcomes)` takes what the turns came to and
returns a `TurnDecision` whose `reason` is one line for the record's `decisions`
(and `strop log`). The state is two integers, small enough for a checkpoint.
`turn_history` is the one I/O edge: it reads past turn counts from the run index.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent.task import BudgetSpec
from agent.task import TurnPolicy as PolicyKind
from evaluators.metric import Direction, MetricValue
from evaluators.verdict import Status

if TYPE_CHECKING:
    from agent.records import ExperimentRecord
    from agent.run_index import RunIndex

EXTEND_HINT = "if you need more turns, end your answer with a line `EXTEND: <why>`"
_SIG = 80


def _sig(error: str | None) -> str:
    text = " ".join((error or "").split())
    return repr(text[:_SIG] + ("…" if len(text) > _SIG else ""))


@dataclass(frozen=True)
class TurnOutcome:
    """What one turn of an attempt came to."""

    turn: int
    success: bool
    score: float | None = None  # the metric when the turn was scored
    error: str | None = None  # the error signature when it failed
    extend: str | None = None  # the model's `EXTEND:` reason in that turn's answer

    def describe(self) -> str:
        if self.error:
            return f"error {_sig(self.error)}"
        if self.score is not None:
            return f"score {self.score:.6g}"
        return "no score"


@dataclass(frozen=True)
class TurnState:
    """Where an attempt stands: its current limit (None: unlimited) and extensions granted."""

    limit: int | None
    extensions: int = 0

    def to_dict(self) -> dict[str, int | None]:
        return {"limit": self.limit, "extensions": self.extensions}

    @classmethod
    def from_dict(cls, data: dict[str, int | None]) -> TurnState:
        return cls(limit=data.get("limit"), extensions=int(data.get("extensions") or 0))


@dataclass(frozen=True)
class TurnDecision:
    go_on: bool
    reason: str
    state: TurnState
    extended: bool = False


def p75(turns: Sequence[int]) -> int:
    """The 75th percentile of `turns`, linearly interpolated and rounded up (at least 1)."""
    values = sorted(turns)
    if len(values) == 1:
        return max(1, values[0])
    quartile = statistics.quantiles(values, n=4, method="inclusive")[2]
    return max(1, math.ceil(quartile - 1e-9))


@dataclass(frozen=True)
class TurnPolicy:
    """One task's turn policy, with its starting limit already worked out."""

    kind: PolicyKind
    start_limit: int | None
    basis: str  # how the limit was chosen, quoted in reasons
    extension: int = 2
    max_extensions: int = 2
    direction: Direction = Direction.MAXIMIZE

    @classmethod
    def from_budget(
        cls,
        budget: BudgetSpec,
        successes: Sequence[int] = (),
        direction: Direction = Direction.MAXIMIZE,
        history_min: int | None = None,
    ) -> TurnPolicy:
        """The policy of `budget`; `successes` are the turns past successful attempts of this task took."""
        need = history_min if history_min is not None else budget.turn_history_min
        usable = [t for t in successes if t >= 1]
        limit: int | None
        if budget.turns == "unlimited":
            limit, basis = None, "no turn limit"
        elif budget.turns == "fixed":
            limit, basis = budget.turn_limit, f"fixed at {budget.turn_limit}"
        elif len(usable) >= need:
            limit = p75(usable)
            basis = f"p75 of {len(usable)} successes in earlier runs"
        else:
            limit = budget.turn_limit
            basis = f"turn_limit {limit}: {len(usable)} success(es) in earlier runs, p75 needs {need}"
        return cls(
            kind=budget.turns,
            start_limit=limit,
            basis=basis,
            extension=budget.extension,
            max_extensions=budget.max_extensions,
            direction=direction,
        )

    def start(self) -> TurnState:
        return TurnState(limit=self.start_limit)

    # ------------------------------------------------------------------ decisions
    def decide(
        self, state: TurnState, outcomes: Sequence[TurnOutcome], parent: TurnOutcome | None = None
    ) -> TurnDecision:
        """After the last of `outcomes`: go on to another turn, extend, or stop — and why.

        `parent` is the parent's verdict as turn 0: what the first turn's progress is judged against.
        """
        if not outcomes:
            return TurnDecision(True, f"{self.kind}: first turn ({self.basis})", state)
        last = outcomes[-1]
        turn = last.turn
        if last.success:
            return TurnDecision(False, f"{self.kind}: turn {turn} succeeded ({last.describe()})", state)
        if state.limit is None:
            return TurnDecision(
                True, f"unlimited: turn {turn} failed ({last.describe()}); no turn limit, going on", state
            )
        if turn < state.limit:
            left = state.limit - turn
            return TurnDecision(
                True,
                f"{self.kind}: turn {turn} of {state.limit} failed ({last.describe()}); "
                f"{left} turn(s) left ({self.basis})",
                state,
            )
        reached = f"turn {turn} of {state.limit} failed ({last.describe()}); turn limit reached"
        if self.kind != "dynamic":
            return TurnDecision(False, f"{self.kind}: {reached} ({self.basis}); stop", state)
        return self._extend_or_stop(state, outcomes, reached, parent)

    def _extend_or_stop(
        self, state: TurnState, outcomes: Sequence[TurnOutcome], reached: str, parent: TurnOutcome | None
    ) -> TurnDecision:
        last = outcomes[-1]
        if not last.extend:
            return TurnDecision(
                False, f"dynamic: {reached}; the model did not ask for more turns; stop", state
            )
        asked = f"the model asked for more turns ({last.extend[:120]!r})"
        if state.extensions >= self.max_extensions:
            return TurnDecision(
                False,
                f"dynamic: {reached}; {asked} but all {self.max_extensions} extension(s) are used; stop",
                state,
            )
        progress, why = self.progress([parent, *outcomes] if parent is not None else outcomes)
        if not progress:
            return TurnDecision(False, f"dynamic: {reached}; {asked} but {why}; stop", state)
        assert state.limit is not None
        granted = TurnState(limit=state.limit + self.extension, extensions=state.extensions + 1)
        return TurnDecision(
            True,
            f"dynamic: granted {self.extension} more turn(s) (extension {granted.extensions} of "
            f"{self.max_extensions}, limit now {granted.limit}): {asked} and {why}",
            granted,
            extended=True,
        )

    def progress(self, outcomes: Sequence[TurnOutcome]) -> tuple[bool, str]:
        """Did the last turn make progress over the ones before? (yes/no, and why, in words)."""
        if len(outcomes) < 2:
            return False, "one turn gives nothing to compare progress with"
        last, previous = outcomes[-1], outcomes[-2]
        earlier = [MetricValue(o.score, self.direction) for o in outcomes[:-1] if o.score is not None]
        if last.score is not None:
            now = MetricValue(last.score, self.direction)
            if not earlier:
                return True, f"turn {last.turn} scored for the first time ({now})"
            best = max(earlier)
            if now > best:
                return True, f"the score improved {best} → {now}"
        if previous.error and not last.error:
            return True, f"the error of turn {previous.turn} is gone"
        if previous.error and last.error and previous.error != last.error:
            return True, f"the error changed: {_sig(previous.error)} → {_sig(last.error)}"
        if last.error and previous.error == last.error:
            return (
                False,
                f"turns {previous.turn} and {last.turn} failed with the same error {_sig(last.error)}",
            )
        if last.error:
            return False, f"turn {last.turn} failed ({_sig(last.error)}) after turn {previous.turn} had none"
        best_text = str(max(earlier)) if earlier else "none"
        return False, f"the score did not improve (best so far {best_text})"

    # ------------------------------------------------------------------ prompts
    def reminder(self, state: TurnState, turn: int) -> str:
        """The line the prompt carries at `turn`: how many turns are left."""
        if state.limit is None:
            return f"this is turn {turn}; no turn limit"
        left = max(0, state.limit - turn)
        text = f"this is turn {turn} of {state.limit}; turns left in this attempt after this one: {left}"
        if self.kind == "dynamic" and left == 0 and state.extensions < self.max_extensions:
            text += f"; {EXTEND_HINT} (granted only when your last turns made progress)"
        return text


# ---------------------------------------------------------------------- history (I/O edge)
def successful_turns(records: Iterable[ExperimentRecord]) -> list[int]:
    """The turns each successful (scored) LLM attempt took; the baseline and offline proposals are not."""
    return [r.turns for r in records if r.status is Status.OK and r.turns >= 1 and r.proposer == "llm"]


def run_model(task_source: str) -> str | None:
    """The `[llm] model` a run used, from its task snapshot (None when it had no LLM)."""
    import tomllib

    try:
        llm = tomllib.loads(task_source).get("llm") or {}
    except tomllib.TOMLDecodeError:
        return None
    model = llm.get("model") if isinstance(llm, dict) else None
    return str(model) if model else None


def turn_history(index: RunIndex, task_name: str, model: str | None = None) -> list[int]:
    """Turns-to-success of past LLM attempts at tasks named `task_name` with `model`, from the run index."""
    turns: list[int] = []
    for run in index.runs():
        if run.task == task_name and (model is None or run_model(run.task_source) == model):
            turns.extend(successful_turns(index.experiments(run.id)))
    return turns
