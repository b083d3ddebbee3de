"""The loop's calls into knowledge: `retrieve` context before proposing, `learn` after,
and `exclusions` (failing regions of the search space, as constraint rules).

A narrow seam, so the loop does not depend on how knowledge works:
- `LoopMemory` answers nothing (used with `[knowledge] memory = false` and no
  sources, or when the knowledge package cannot be opened); the run log says so.
- `KnowledgeMemory` uses `knowledge.Memory` (episodic lessons in
  `$STROP_HOME/knowledge/memory`) and, when the task lists `[knowledge] sources`,
  `knowledge.KnowledgeStore` (ingested on the warm-up thread, within the run's time:
  `agent.loop.ingestion`; passages join once it is done). Retrieval is formatted by
  `knowledge.format_context` within the task's token budget; every finished
  experiment becomes an `ExperimentTrace`; `Memory.failing_regions` become
  `not (…)` rules that the constraint check and the evolve proposer honour.
  Traces carry the run's fingerprint (experiment 0's code and the evaluator, see
  `agent.loop.fingerprint`) and regions are read under it: crashes of a version of
  the code the user has since changed never steer a run. Lessons of other tasks
  come back quoted, as data (`Lesson.quoted`).
Knowledge serves the loop and never drives it: its errors become a note in the run
log, never the run's end.

Nor its time (issue 18): the embedding model's first load (torch and transformers
imports) took ~12 s on the shared 2-core machine at load 9, and 54 s for a process at
nice 15, in the loop's own thread, where no deadline can cut it: `strop run --time 30s`
ended after 49.5 s. So `KnowledgeMemory` loads it on a background thread from the
start (`warm_up`; not at all for a run shorter than `WARM_UP_MIN_BUDGET`), and under a
time budget `retrieve` and `learn` answer nothing (and say so once) until it is `ready`:
a call never waits for the load. Without one the loop `wait`s. The task's sources are
ingested on that thread too, once the model is loaded, and stop short of the deadline
(`agent.loop.ingestion`; it was once on the loop's thread: 143.5 s of a 60 s run).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

WARM_UP_MIN_BUDGET = 120.0  # seconds: shorter runs do not load the embedding model
DIFF_READ = 200_000  # characters of an experiment's diff a trace keeps until memory redacts and cuts it
CLOSE_WAIT = 30.0  # seconds `close` waits at most for an ingestion to stop (one slice, Chroma's close)

if TYPE_CHECKING:
    from agent.constraints import Rule
    from agent.records import ExperimentRecord
    from agent.task import Task


@dataclass
class LoopMemory:
    """What the loop may ask of knowledge; the base class answers nothing, and says so."""

    task: Task
    notes: list[str] = field(default_factory=list)

    @property
    def available(self) -> bool:
        return False

    def describe(self) -> str:
        return "knowledge: not available yet; retrieve returns nothing and learn keeps nothing"

    def retrieve(self, parent: ExperimentRecord | None, goal: str) -> str:
        return ""

    def learn(self, record: ExperimentRecord, parent: ExperimentRecord | None, log_excerpt: str) -> None:
        return None

    def exclusions(self) -> list[Rule]:
        """Failing regions of the space, as constraint rules (none without memory)."""
        return []

    def close(self) -> None:
        """The run ended: stop what still works for it (an ingestion), leaving its note in `notes`."""
        return None


class KnowledgeMemory(LoopMemory):
    """Lessons from `knowledge.Memory`, passages from `knowledge.KnowledgeStore`.

    `open_store` opens the store on the warm-up thread, which then ingests the task's
    `[knowledge] sources` into it (`store`, when given, is used as it is, and ingested too
    when the task lists sources).
    """

    def __init__(
        self, task: Task, memory: Any, store: Any, run: Any, open_store: Callable[[], Any] | None = None
    ) -> None:
        super().__init__(task)
        self.memory = memory
        self.store = store
        self.run = run
        self.failures = 0
        self._open_store = open_store
        self._sources = (
            list(task.spec.knowledge.sources) if (store is not None or open_store is not None) else []
        )
        self._loaded = threading.Event()
        self._ingested = threading.Event()  # the store may be searched: ingestion ended, one way or another
        self._ended = threading.Event()  # the run ended (`close`): an ingestion stops
        self._phase = threading.Lock()  # `close` and the thread agree on who says the ingestion's note
        self._ingesting = False
        self._deadline: float | None = None  # time.monotonic() of the run's deadline
        self._closed = False
        self._thread: threading.Thread | None = None
        self._pending: list[str] = []  # notes of the warm-up thread, until the loop's thread takes them
        self._pending_lock = threading.Lock()
        self._started = self._declined = False
        self._declined_note = ""  # what `describe` says instead when the run is too short to load it
        self._waited = 0  # calls answered empty because the model was still loading
        self._fingerprint: str | None = None
        self._fingerprinted = False

    def warm_up(self, time_budget: float | None) -> None:
        """Start loading the model on a background thread, unless the run is too short to use it;
        the same thread then ingests the task's sources, until `ingestion.MARGIN` before the deadline.

        `time_budget`: the seconds the run has left (all of its budget, unless resumed).

        A run under `WARM_UP_MIN_BUDGET` seconds skips knowledge, sources too (one note says so): the load
        alone can take most of such a budget, and a thread still importing torch at exit held
        the process 4–6 s past its last line (measured at nice 15, load ~12).
        """
        if self._started:
            return
        if time_budget is not None and time_budget < WARM_UP_MIN_BUDGET:
            sources = f", nor {', '.join(self._sources)} ingested" if self._sources else ""
            self._declined_note = (
                f"knowledge: not loaded with {round(time_budget, 1):g}s of the run left (its model takes 10-50 s to load)"
                f"{sources}; give at least {WARM_UP_MIN_BUDGET:g}s to use it"
            )
            self._started = self._declined = True  # never ready: calls answer nothing at once
            self._ingested.set()
            return
        self._started = True
        self._deadline = None if time_budget is None else time.monotonic() + time_budget
        self._thread = threading.Thread(target=self._load, name="strop-knowledge-warm-up", daemon=True)
        self._thread.start()

    def _load(self) -> None:
        """Load the embedding model off the loop's thread (a failure shows at the first real call),
        then ingest the task's sources (`agent.loop.ingestion`)."""
        try:
            for owner in (self.memory, self.store):
                embedder = getattr(owner, "embedder", None)
                if embedder is not None:
                    embedder.embed(["warm-up"])
        except Exception:  # noqa: BLE001, S110 - reported by the call that meets it, through _guard
            pass
        finally:
            self._loaded.set()
        try:
            self._ingest()
        finally:
            self._ingested.set()

    def _ingest(self) -> None:
        """Open the store and add the task's sources, until `MARGIN` before the deadline or the run's end."""
        from agent.loop.ingestion import deadline_stop, ingest
        from knowledge.errors import KnowledgeError

        if not self._sources:
            return
        with self._phase:
            if self._ended.is_set():
                return  # `close` said it
            self._ingesting = True
        label = ", ".join(self._sources)
        try:
            if self.store is None and self._open_store is not None:
                self.store = self._open_store()
            paths = [str(self.task.resolve(source)) for source in self._sources]
            self._say(ingest(self.store, paths, label, deadline_stop(self._deadline, self._ended)))
        except (KnowledgeError, OSError) as error:
            self._say(f"knowledge: store unavailable ({error}); no retrieved passages this run")
            self.store = None

    def _say(self, text: str) -> None:
        with self._pending_lock:
            self._pending.append(text)

    def _collect(self) -> None:
        """The warm-up thread's notes join `notes` (read and cleared by the loop's thread)."""
        with self._pending_lock:
            self.notes.extend(self._pending)
            self._pending.clear()

    def close(self) -> None:
        """Stop an ingestion between two slices and wait for the store to close (a second or two:
        a process that exits in the middle of a Chroma write leaves its files half-written)."""
        if self._closed:
            return
        self._closed = True
        with self._phase:
            self._ended.set()
            ingesting = self._ingesting
        thread = self._thread
        if thread is not None and self._sources and not self._ingested.is_set():
            if ingesting:
                thread.join(CLOSE_WAIT)
            else:
                self._say(
                    f"knowledge: {', '.join(self._sources)} not ingested: the run ended while the embedding "
                    "model was loading; the next run ingests it"
                )
        self._collect()

    @property
    def ready(self) -> bool:
        """Whether the embedding model is loaded: until then calls return at once, empty."""
        return self._loaded.is_set()

    @property
    def ingested(self) -> bool:
        """Whether the task's sources are done with (ingested, stopped or failed): the store may be searched."""
        return self._ingested.is_set()

    def wait(self, seconds: float | None = None) -> bool:
        """Wait for the model and the task's sources (for a run without a time budget, which waiting
        costs nothing: its first experiments get the passages too); whether the model is loaded."""
        if not self._started:
            self._started = True
            self._load()
        loaded = self._loaded.wait(seconds)
        self._ingested.wait(seconds)
        return loaded

    def _still_loading(self, what: str) -> bool:
        self._collect()
        if self.ready:
            return False
        self._waited += 1
        if self._waited == 1 and not self._declined:
            self.notes.append(f"knowledge: the embedding model is still loading; {what} skipped until it is")
        return True

    @property
    def available(self) -> bool:
        return True

    def describe(self) -> str:
        if self._declined:
            return self._declined_note
        store = "the knowledge store" if self.store else ""
        if self._sources:
            store = f"the knowledge store once {', '.join(self._sources)} is ingested (in the background)"
        parts = ["lessons from memory" if self.memory is not None else "", store]
        return "knowledge: " + " and ".join(p for p in parts if p)

    @property
    def fingerprint(self) -> str | None:
        """The run's fingerprint (`agent.loop.fingerprint`), computed once; None when it cannot be."""
        if not self._fingerprinted:
            self._fingerprinted = True
            from git import GitError

            from agent.loop.fingerprint import run_fingerprint

            try:
                self._fingerprint = run_fingerprint(self.task, self.run)
            except (GitError, OSError, ValueError) as error:
                self.notes.append(
                    f"knowledge: cannot fingerprint the run's code ({type(error).__name__}: {error}); "
                    "no failing regions used"
                )
        return self._fingerprint

    def _guard(self, what: str, call: Any, default: Any) -> Any:
        from knowledge.errors import KnowledgeError

        try:
            return call()
        except (KnowledgeError, OSError) as error:
            self.failures += 1
            self.notes.append(f"knowledge: {what} failed ({type(error).__name__}: {error}); going on without")
            return default

    def retrieve(self, parent: ExperimentRecord | None, goal: str) -> str:
        if self._still_loading("recall"):
            return ""
        from knowledge import format_context

        spec = self.task.spec.knowledge
        error = None
        if parent is not None and parent.status.value != "ok":
            error = parent.reason or parent.feedback[-500:] or None
        lessons = []
        if self.memory is not None:
            lessons = self._guard(
                "recalling lessons",
                lambda: self.memory.relevant(
                    goal, error, k=spec.k, token_budget=spec.token_budget, task_name=self.task.name
                ),
                [],
            )
        hits = []
        if self.store is not None and self.ingested:  # the warm-up thread writes it till then
            query = f"{goal}\n{error}" if error else goal
            hits = self._guard(
                "searching the knowledge store", lambda: self.store.search(query, k=spec.k), []
            )
        roots = self._guard("reading the store's roots", self.store.roots, []) if hits else []
        return format_context(hits, lessons, spec.token_budget, roots) if (hits or lessons) else ""

    def learn(self, record: ExperimentRecord, parent: ExperimentRecord | None, log_excerpt: str) -> None:
        if self.memory is None or record.status.value == "pending":
            return
        if self._still_loading(f"the lesson of experiment {record.id} and others"):
            return
        from knowledge import ExperimentTrace

        direction = self.task.evaluator.direction
        metric = self.task.evaluator.metric
        delta = None
        both_scored = parent is not None and record.status.value == "ok" and parent.status.value == "ok"
        if both_scored and metric in record.metrics and metric in parent.metrics:  # type: ignore[union-attr]
            delta = direction.improvement(record.metrics[metric], parent.metrics[metric])
        diff = ""
        if parent is not None and self.run is not None:
            diff = self._guard(
                "reading the diff", lambda: self.run.repo.diff(parent.commit, record.commit), ""
            )
        failed = record.status.value not in ("ok", "rejected")
        trace = ExperimentTrace(
            run_id=record.run,
            experiment_id=str(record.id),
            task_name=self.task.name,
            status=record.status.value,  # type: ignore[arg-type]
            goal=self.task.spec.task.goal,
            parent_id=str(parent.id) if parent is not None else None,
            error_text=(log_excerpt or record.reason) if failed else None,
            idea=record.idea,
            diff=diff[:DIFF_READ],  # cut to 4000 when stored, after its credentials are found
            params=dict(record.params) if record.params else None,
            metric_delta=delta,
            parent_status=parent.status.value if parent is not None else None,  # type: ignore[arg-type]
            parent_error=(parent.reason or None)
            if parent is not None and parent.status.value != "ok"
            else None,
            fingerprint=self.fingerprint,
            metric=metric,
        )
        self._guard("learning", lambda: self.memory.learn(trace), [])

    def exclusions(self) -> list[Rule]:
        """Failing regions learned under this run's fingerprint, as rules over the space's parameters."""
        fingerprint = self.fingerprint if self.memory is not None else None
        if fingerprint is None:
            return []
        from agent.constraints import Rule
        from agent.expression import ExpressionError, parse

        names = set(self.task.spec.space)
        rules = []
        for region in self._guard(
            "reading failing regions",
            lambda: self.memory.failing_regions(self.task.name, fingerprint=fingerprint),
            [],
        ):
            if not region.names <= names:
                continue  # a region of an older space
            try:
                expression = parse(region.exclusion_rule())
            except ExpressionError:
                continue
            rules.append(Rule(expression, origin=f"memory: crashes in {region.describe()}"))
        return rules


def open_memory(task: Task, run: Any = None, **_: Any) -> LoopMemory:
    """The memory the loop uses for `task`: knowledge's, or the empty one (and why, in its notes).

    The store is opened and the sources ingested later, on the warm-up thread (`KnowledgeMemory`):
    here nothing waits for the embedding model.
    """
    spec = task.spec.knowledge
    if not spec.memory and not spec.sources:
        empty = LoopMemory(task)
        empty.notes.append("knowledge: off for this task ([knowledge] memory = false, no sources)")
        return empty
    try:
        from agent.home import knowledge_dir
        from agent.loop.ingestion import SharedEmbedder
        from knowledge import KnowledgeStore, Memory
        from knowledge.embedder import default_embedder
        from knowledge.errors import KnowledgeError
    except ImportError as error:
        empty = LoopMemory(task)
        empty.notes.append(
            f"knowledge: not available ({error}); retrieve returns nothing and learn keeps nothing"
        )
        return empty
    embedder = SharedEmbedder(default_embedder())  # one model, one call at a time, for both threads
    memory = None
    notes = []
    try:
        memory = Memory.open(knowledge_dir() / "memory", embedder=embedder) if spec.memory else None
    except (KnowledgeError, OSError) as error:
        notes.append(f"knowledge: memory unavailable ({error}); no lessons this run")
    if memory is None and not spec.sources:
        empty = LoopMemory(task)
        empty.notes.extend(notes)
        return empty

    def open_store() -> Any:
        return KnowledgeStore.open(knowledge_dir(), embedder=embedder)

    loaded = KnowledgeMemory(task, memory, None, run, open_store=open_store if spec.sources else None)
    loaded.notes.extend(notes)
    return loaded
