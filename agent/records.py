"""The records of a run and of its experiments, as stored in git and cached in the run index.

Both are plain, JSON-serialisable dataclasses with a schema version: git notes and
run refs hold exactly `to_dict()`, and the index caches the same JSON, so the
index can always be rebuilt from git alone and give identical answers.
"""

from __future__ import annotations

import json
from copy import deepcopy
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from evaluators.metric import Direction, MetricValue
from evaluators.verdict import Status

_SCALARS = (str, int, float, bool)  # immutable: shared by a copy

# 2: a record with a hidden-test score names that phase's log and its sha256 (1 did not)
SCHEMA = 2
NAMES_FINAL_LOG = 2


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Cost:
    """LLM spend of one experiment (or a run, summed).

    Tokens include those of abandoned and failed attempts; `estimated` says how many of
    them were estimated (chars/4, or streamed chunks) because the server reported none.
    `calls` counts requests sent (retries included); `retries`, `timeouts` and `cancelled`
    (calls closed by strop before the model finished) say where the time went.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    usd: float = 0.0
    calls: int = 0
    estimated: int = 0
    retries: int = 0
    timeouts: int = 0
    cancelled: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            round(self.usd + other.usd, 8),
            self.calls + other.calls,
            self.estimated + other.estimated,
            self.retries + other.retries,
            self.timeouts + other.timeouts,
            self.cancelled + other.cancelled,
        )

    def describe(self) -> str:
        """One line: tokens (estimated part), USD, calls, retries, timeouts, cancellations."""
        text = f"{self.tokens} tokens ({self.prompt_tokens} prompt + {self.completion_tokens} completion"
        text += f", {self.estimated} estimated)" if self.estimated else ")"
        from agent.cli.render import plural  # here: the CLI, which shows this line, is loaded already

        text += f", ${self.usd:.4f}, {plural(self.calls, 'call')}"
        retries = "1 retry" if self.retries == 1 else f"{self.retries} retries"
        extra = [said for n, said in ((self.retries, retries), (self.timeouts, plural(self.timeouts, "timeout")),
                                      (self.cancelled, f"{self.cancelled} cancelled")) if n]  # fmt: skip
        return text + (" (" + ", ".join(extra) + ")" if extra else "")

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Confirmation:
    """One more full evaluation of an experiment's commit at the search's end (`agent.confirmation`).

    A noisy metric taken once makes the best of many experiments partly the luckiest draw; these
    re-measurements let the best be judged by a mean. `status` is the verdict's (`ok`, `buggy`,
    `timeout`, …, `stopped` when the run's deadline cut it: then it is no measurement at all).
    """

    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    log_path: str = ""
    log_digest: str = ""
    seconds: float = 0.0

    def value(self, metric: str) -> float | None:
        """The measurement, None when this evaluation gave none."""
        return self.metrics.get(metric) if self.status == Status.OK else None


@dataclass
class ExperimentRecord:
    """One attempt: where it lives in git, where it came from, and how it was judged."""

    run: str
    id: int
    parent: int | None
    branch: str
    commit: str
    idea: str = ""
    status: Status = Status.PENDING
    metrics: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    feedback: str = ""
    proposer: str = ""
    mode: str = ""  # how the proposer asked: text | structured | params (LLM answers), offline (fallback)
    params: dict[str, Any] | None = None
    created: str = field(default_factory=now_iso)
    finished: str | None = None
    eval_seconds: float = 0.0
    cost: Cost = field(default_factory=Cost)
    fingerprint: str = ""
    log_path: str = ""
    log_digest: str = ""
    backend: str = ""
    turns: int = 0
    decisions: list[str] = field(default_factory=list)
    final_metrics: dict[str, float] | None = None
    # the hidden-test (final) phase's log and its sha256, as `log_path`/`log_digest` are the
    # evaluation's: an audit can tell it unchanged. Empty in records of schema 1 (older strop).
    final_log_path: str = ""
    final_log_digest: str = ""
    # why the final phase gave no score, as strop's verdict said it (empty when it scored, or in
    # records of older strop): `strop audit` says it, never words read back from the log
    final_reason: str = ""
    # re-evaluations at the search's end (`[evaluator] confirm`), in order; only ever appended to
    confirmations: list[Confirmation] = field(default_factory=list)
    schema: int = SCHEMA

    @property
    def name(self) -> str:
        return f"{self.run}/{self.id}"

    def metric(self, name: str, direction: Direction) -> MetricValue:
        value = self.metrics.get(name) if self.status is Status.OK else None
        return MetricValue(value, direction)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data

    def copy(self) -> ExperimentRecord:
        """A copy its caller may change (every mutable field copied too), ~3x cheaper than deepcopy.

        `Run.records()` hands each loop node one of every record of the run, several times
        per experiment: with `copy.deepcopy` that was ~45 ms of the driver's serial time per
        experiment by 20 records, growing with the run.
        At 1,000 experiments that was still about half the driver's time (9 calls of
        `records()` per experiment, 19 µs a record); now ~4 µs, without `copy`'s reduce
        protocol, and `params` (usually plain numbers and names) deep-copied only when a
        value is not a scalar.
        """
        copied = object.__new__(ExperimentRecord)
        state = copied.__dict__
        state.update(self.__dict__)
        state["metrics"] = dict(self.metrics)
        params = self.params
        if params is not None:
            flat = all(value is None or type(value) in _SCALARS for value in params.values())
            state["params"] = dict(params) if flat else deepcopy(params)
        state["cost"] = Cost(**self.cost.__dict__)
        state["decisions"] = list(self.decisions)
        state["final_metrics"] = None if self.final_metrics is None else dict(self.final_metrics)
        state["confirmations"] = [replace(c, metrics=dict(c.metrics)) for c in self.confirmations]
        return copied

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExperimentRecord:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["status"] = Status(known.get("status", "pending"))
        known["cost"] = Cost(**known.get("cost", {}))
        known["confirmations"] = [
            c if isinstance(c, Confirmation) else Confirmation(**c) for c in known.get("confirmations", [])
        ]
        return cls(**known)

    @classmethod
    def from_note(cls, raw: bytes) -> ExperimentRecord:
        """The record a git note holds, every field of its declared type, or `NotARecord`.

        `from_dict` trusts its input (strop's own writes, the index). A note is strop's
        write too, but anyone with the repo can edit it: a note of garbage bytes, a JSON
        list or an object without `id` crashed every reader with a bare `UnicodeDecodeError`,
        `AttributeError` or `TypeError`, and an `id` of "3" sorted as no number does.
        Pydantic's strict JSON mode checks the types (an int stands for a float, no string
        for a number, a status only by its name) against the dataclass itself, so a field
        added to the record is checked with no second list to keep.
        """
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise NotARecord("not UTF-8 text") from None
        try:
            _RECORD.validate_json(text, strict=True)
        except ValidationError as error:
            raise NotARecord(_problem(error)) from None
        return cls.from_dict(json.loads(text))


@dataclass
class RunRecord:
    """One execution of a task."""

    id: str
    task: str
    task_path: str
    repo: str
    workspace: str
    base_branch: str
    base_commit: str
    metric: str
    direction: Direction
    status: str = "running"  # running | done | stopped | failed
    started: str = field(default_factory=now_iso)
    finished: str | None = None
    best: int | None = None
    stop_reason: str = ""
    task_source: str = ""
    schema: int = SCHEMA
    budget_report: str = ""  # each limited budget against what the run used, over or under, at its end
    base_given: bool = (
        False  # `base_commit` was given (`strop run --base`, a nightly's warm start), not the head
    )
    # model calls whose spend landed in no experiment's record: cut by a crash (SIGKILL) while in
    # flight, counted at their prompt's estimate (`agent.llm.journal`); part of the run's totals.
    # Absent in the records of older strop: nothing.
    unrecorded: Cost = field(default_factory=Cost)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["direction"] = self.direction.value
        return data

    @classmethod
    def from_stored(cls, text: str) -> RunRecord:
        """The record a run's `run.json` on its git ref holds, every field of its type, or `NotARecord`.

        That ref is in the user's repo, where anyone can edit it: a `"schema": "2"` crashed
        `strop audit` with a bare TypeError. Checked as `ExperimentRecord.from_note` checks a note.
        """
        try:
            _RUN.validate_json(text, strict=True)
        except ValidationError as error:
            raise NotARecord(_problem(error)) from None
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["direction"] = Direction(known["direction"])
        unrecorded = known.get("unrecorded")
        known["unrecorded"] = unrecorded if isinstance(unrecorded, Cost) else Cost(**(unrecorded or {}))
        return cls(**known)


def run_cost(records: list[ExperimentRecord], run: RunRecord | None = None) -> Cost:
    """A run's LLM totals: its experiments' costs, and the calls no experiment recorded
    (`RunRecord.unrecorded`: cut by a crash while in flight)."""
    total = sum((record.cost for record in records), Cost())
    return total if run is None else total + run.unrecorded


class NotARecord(ValueError):
    """Stored bytes that are not an `ExperimentRecord` (a note edited or damaged by hand).

    The message says what is wrong, in words a warning line can quote.
    """


def _problem(error: ValidationError) -> str:
    """What is wrong with a note, in words a warning line can quote: the first problem found."""
    problems = error.errors(include_url=False)
    first = problems[0]
    if first["type"] == "json_invalid":
        return f"not JSON: {first['ctx'].get('error', first['msg'])}"
    if not first["loc"]:
        return f"JSON {_json_kind(first['input'])}, not an object"
    missing = [str(p["loc"][0]) for p in problems if p["type"] == "missing" and len(p["loc"]) == 1]
    if missing:
        return f"missing {', '.join(missing)}"
    where = ".".join(str(part) for part in first["loc"])
    return f"{where} is {_json_kind(first['input'])} ({first['msg'][0].lower()}{first['msg'][1:]})"


def _json_kind(value: Any) -> str:
    """What a JSON value is, in words: "a list", "the string '3'" (shortened)."""
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    return {dict: "an object", list: "a list"}.get(type(value), type(value).__name__)


def best_experiment(
    records: list[ExperimentRecord], metric: str, direction: Direction
) -> ExperimentRecord | None:
    """The best scored experiment; ties go to the earliest. None when nothing scored.

    Once a run's end has re-measured its contenders (`agent.confirmation`), the best is the fully
    confirmed one with the best mean of its re-measurements; any other experiment (a contender
    a re-evaluation of which failed, or one not re-measured) ranks after every fully confirmed
    one. Without confirmations it is the best single measurement.
    """
    scored = [r for r in records if r.status is Status.OK and metric in r.metrics]
    if not scored:
        return None
    confirmed = [r for r in scored if confirmed_values(r, metric) is not None]
    if confirmed:
        return max(
            confirmed, key=lambda r: (MetricValue(_mean(confirmed_values(r, metric)), direction), -r.id)
        )
    return max(scored, key=lambda r: (r.metric(metric, direction), -r.id))


def confirmed_values(record: ExperimentRecord, metric: str) -> list[float] | None:
    """The re-measurements of a fully confirmed experiment (each re-evaluation's value); None when
    it has no counted re-evaluation or one of them failed. One the run's deadline cut (`stopped`) is
    no measurement, neither counted nor a failure.

    The first measurement is left out: it is the draw that made the experiment a contender (the
    best single measurements are chosen, so theirs are lucky on average), and a mean with it kept
    most of the winner's curse it is there to remove: on `benchmarks.noisy_confirm` the latency
    reported for the chosen one still read 3.7% under its truth with it, against 9% with none.
    """
    counted = [c for c in record.confirmations if c.status != Status.STOPPED]
    values = [c.value(metric) for c in counted]
    if not counted or any(v is None for v in values) or record.status is not Status.OK:
        return None
    return [v for v in values if v is not None]


def judged_value(record: ExperimentRecord, metric: str) -> float | None:
    """The value the best is chosen by: the mean of the re-measurements of a fully confirmed
    experiment, else its one measurement (None when it did not score). What every view shows as
    an experiment's score beside its first measurement: a report, the UI or a nightly summary that
    showed the first alone gave a confirmed run's star to a worse-looking number."""
    if record.status is not Status.OK or metric not in record.metrics:
        return None
    values = confirmed_values(record, metric) if record.confirmations else None
    return _mean(values) if values else record.metrics[metric]


def measured_text(record: ExperimentRecord, metric: str) -> str:
    """`0.81`, or `0.83 (re-measured 0.80, mean of 3)` for a confirmed one; `—` when it did not score."""
    value = record.metrics.get(metric) if record.status is Status.OK else None
    if value is None:
        return "—"
    values = confirmed_values(record, metric) if record.confirmations else None
    if not values:
        return f"{value:.6g}"
    return f"{value:.6g} (re-measured {_mean(values):.6g}, mean of {len(values)})"


def _mean(values: list[float] | None) -> float:
    return sum(values) / len(values) if values else float("nan")


_RECORD = TypeAdapter(ExperimentRecord)
_RUN = TypeAdapter(RunRecord)
