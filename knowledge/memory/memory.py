"""Episodic memory: lessons distilled from experiment traces, kept on disk, retrieved by relevance.

`Memory.learn(trace)` is called by the run loop after each experiment:

* a failed experiment (buggy, timeout, tampered) confirms the failure lesson
  with the same error signature (equal after normalisation, or embeddings of
  the signatures at cosine ≥ 0.95 — KAPSO's threshold) or creates one; the
  lesson keeps the configs it was seen in and their values (`configs`), and its
  text says them: the one config's idea as written (`lr=0.5495`, where the
  signature masks it to `lr=<n>`), or the ranges of several;
* an ok experiment whose parent failed is the fix of the parent's failure:
  the first such fix is kept on the lesson (idea and diff excerpt); a later
  fix with a similar idea confirms it; a child that tried an idea similar to
  the known fix and failed with the same signature contradicts it;
* an ok experiment with a score change updates the outcome lesson of a
  similar idea (cosine ≥ 0.90) of the same task and metric: same sign confirms,
  opposite sign contradicts; the lesson counts the distinct configs it merged and
  the ranges of their values, and its text shows that class once there are
  several (`configs`). An idea that is only its values (`sample: lr=…, width=…`,
  the offline proposer's) merges with the lesson of its region, whatever its
  label (`configs.same_region`), never by the similarity of its text: its label
  is no idea, and the deltas of unrelated random points averaged into one
  "finding" were noise. Deltas of two tasks or
  two metrics (accuracy +0.01, latency −250 ms) are never averaged: the same idea
  in another task is another lesson.
  Evidence names an experiment by its run and its id (each run numbers from 0).

Traces are also appended to `traces.jsonl`, which `failing_regions` reads: for a
run that passes its fingerprint (experiment 0's code and the evaluator, see
`trace`), only the traces with that fingerprint, so crashes of code since changed
never steer it; traces without one (older strop) are not used for such a run,
which at worst relearns a region from two new crashes.

Lessons cross tasks, and so does what their text quotes: ideas and diffs the LLM
wrote, error lines the candidate printed, a phrase the LLM worded. Within a task
the proposer has seen all of that already; in another task's prompt it would be
an injection (a crash line reading "IGNORE PREVIOUS INSTRUCTIONS…"). So
`relevant(…, task_name=…)` returns a lesson of another task as `Lesson.quoted()`:
rebuilt from its structured fields (never the worded text nor the fix's diff),
each field one line, clipped, its code fences dropped, withheld when it reads
like an instruction or a role marker, set in quotes under a line that names the
origin task and says it is a note from another run, not an instruction. The
smallest design that keeps the useful part (what failed, what was tried, what
fixed it, by how much) and no room for a payload.

Credentials a candidate printed (a `.env`'s `OPENAI_API_KEY=sk-…` in a crash line)
would be kept in a lesson, shown by `strop memory list` and quoted in other
tasks' prompts: every text of a trace has the values `knowledge.credentials`
finds replaced by `[credential]` before anything is learned or written.

Files: `lessons.json` (lessons and their vectors, with the embedder's name;
vectors are recomputed when the embedder changes) and `traces.jsonl`, written
under the same one-writer lock as the store. Each trace line names the lessons
it made or changed (`lessons`), so forgetting a lesson drops its traces too. An
optional `phrase` callable (an LLM) may word a new lesson; without it the text
is deterministic.
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from knowledge.embedder import Embedder, default_embedder
from knowledge.entry import content_hash
from knowledge.errors import REBUILD_HINT, EntryNotFound, StoreUnavailable
from knowledge.lock import DEFAULT_TIMEOUT_S, writer_lock
from knowledge.memory.configs import (
    MAX_CONFIGS,
    Value,
    config_key,
    failure_values,
    merged_ideas,
    named_values,
    same_region,
    values_only,
    widen,
)
from knowledge.memory.lesson import Evidence, Lesson, LessonKind
from knowledge.memory.region import Point, Region, failing_regions
from knowledge.memory.signature import error_signature, log_excerpt, strip_accidents
from knowledge.memory.trace import CRASHED, FAILED, ExperimentTrace, redacted

SCHEMA = 1
SAME_SIGNATURE = 0.95
SAME_IDEA = 0.90
SIMILAR_FIX = 0.80
OUTCOME_KEY = 240
"""The most characters of an outcome lesson's key (its masked idea)."""
Phrase = Callable[[str], str]


@dataclass(frozen=True)
class ScoredLesson:
    lesson: Lesson
    score: float


def approx_tokens(text: str) -> int:
    """Tokens estimated as characters / 4 (no tokenizer is assumed for the proposer's model)."""
    return (len(text) + 3) // 4


class Memory:
    """Open with `Memory.open(folder)`; `learn`, `relevant`, `failing_regions`, `forget`."""

    def __init__(self, root: Path, embedder: Embedder, phrase: Phrase | None, lock_timeout: float) -> None:
        self.root = root
        self.embedder = embedder
        self.phrase = phrase
        self.lock_timeout = lock_timeout

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        embedder: Embedder | None = None,
        phrase: Phrase | None = None,
        lock_timeout: float = DEFAULT_TIMEOUT_S,
    ) -> Memory:
        root = Path(path).expanduser().resolve()
        root.mkdir(parents=True, exist_ok=True)
        memory = cls(root, embedder or default_embedder(), phrase, lock_timeout)
        memory._read()  # fail early on a corrupt file
        return memory

    # ------------------------------------------------------------ persistence

    @property
    def _lessons_path(self) -> Path:
        return self.root / "lessons.json"

    @property
    def _traces_path(self) -> Path:
        return self.root / "traces.jsonl"

    def _read(self) -> tuple[list[Lesson], dict[str, np.ndarray]]:
        try:
            data = json.loads(self._lessons_path.read_text())
            if data.get("schema") != SCHEMA:
                raise ValueError(f"schema {data.get('schema')!r}, expected {SCHEMA}")
            lessons = [_recorded(Lesson.from_dict(item)) for item in data["lessons"]]
            vectors: dict[str, np.ndarray] = {}
            if data.get("embedder") == self.embedder.name:
                vectors = {k: np.asarray(v, dtype=np.float32) for k, v in data.get("vectors", {}).items()}
        except FileNotFoundError:
            return [], {}
        except (ValueError, KeyError, TypeError) as error:
            raise StoreUnavailable(
                f"episodic memory at {self._lessons_path} is corrupt ({error}); move it aside or "
                f"`strop memory forget --all` to start afresh ({REBUILD_HINT} for the store itself)"
            ) from None
        missing = [lesson for lesson in lessons if lesson.id not in vectors]
        if missing:
            fresh = self.embedder.embed([self._key_text(lesson) for lesson in missing])
            vectors |= {lesson.id: v for lesson, v in zip(missing, fresh, strict=True)}
        return lessons, vectors

    def _write(self, lessons: list[Lesson], vectors: dict[str, np.ndarray]) -> None:
        data = {
            "schema": SCHEMA,
            "embedder": self.embedder.name,
            "lessons": [lesson.as_dict() for lesson in lessons],
            "vectors": {lesson.id: [round(float(x), 6) for x in vectors[lesson.id]] for lesson in lessons},
        }
        tmp = self._lessons_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self._lessons_path)

    def traces(self, task_name: str | None = None) -> list[ExperimentTrace]:
        if not self._traces_path.exists():
            return []
        found = []
        for line in self._traces_path.read_text().splitlines():
            try:
                trace = ExperimentTrace.from_dict(json.loads(line))
            except (ValueError, TypeError):
                continue  # a torn last line from a killed writer
            if task_name is None or trace.task_name == task_name:
                found.append(trace)
        return found

    # --------------------------------------------------------------- learning

    @staticmethod
    def _key_text(lesson: Lesson) -> str:
        return (
            lesson.signature
            if lesson.kind is LessonKind.FAILURE
            else f"{lesson.signature}\n{lesson.situation}"
        )

    def learn(self, trace: ExperimentTrace) -> list[Lesson]:
        """Record a trace (its credentials redacted) and return the lessons it created or changed."""
        trace = redacted(trace)
        with writer_lock(self.root, self.lock_timeout):
            changed: list[Lesson] = []
            try:
                lessons, vectors = self._read()
                changed = self._lessons_of(trace, lessons, vectors)
            finally:  # the trace is kept even when learning from it failed
                with self._traces_path.open("a") as out:
                    line = trace.as_dict() | {"lessons": sorted({lesson.id for lesson in changed})}
                    out.write(json.dumps(line) + "\n")
            if changed:
                self._write(lessons, vectors)
        return changed

    def _lessons_of(
        self, trace: ExperimentTrace, lessons: list[Lesson], vectors: dict[str, np.ndarray]
    ) -> list[Lesson]:
        """The lessons `trace` creates or changes, updated in `lessons` and `vectors`."""
        changed: list[Lesson] = []
        if trace.status in FAILED:
            changed.append(self._learn_failure(trace, lessons, vectors))
        if trace.status == "ok" and trace.parent_status in FAILED:
            changed.append(self._learn_fix(trace, lessons, vectors))
        if trace.status == "ok" and trace.metric_delta and trace.parent_status not in FAILED and trace.idea:
            changed.append(self._learn_outcome(trace, lessons, vectors))
        return changed

    def _find(
        self,
        kind: LessonKind,
        signature: str,
        vector: np.ndarray,
        lessons: list[Lesson],
        vectors: dict[str, np.ndarray],
        threshold: float,
        scope: ExperimentTrace | None = None,
        accept: Callable[[Lesson], bool] | None = None,
    ) -> Lesson | None:
        """The lesson of `kind` with this signature, else the most similar one at `threshold`; with a
        `scope`, only among the lessons of its task and metric (an outcome's delta means nothing
        in another task's units); with `accept`, only among the lessons it accepts."""
        candidates = [
            lesson
            for lesson in lessons
            if lesson.kind is kind
            and (scope is None or (lesson.task_name, lesson.metric) == (scope.task_name, scope.metric))
            and (accept is None or accept(lesson))
        ]
        same = [lesson for lesson in candidates if lesson.signature == signature]
        if same:
            return same[0]
        best, best_sim = None, threshold
        for lesson in candidates:
            if lesson.id in vectors:
                sim = float(vectors[lesson.id] @ vector)
                if sim >= best_sim:
                    best, best_sim = lesson, sim
        return best

    def _new(
        self, kind: LessonKind, trace: ExperimentTrace, signature: str, situation: str, text: str
    ) -> Lesson:
        if self.phrase is not None:
            prompt = (
                "Write one sentence, a lesson for an engineer, from these facts. No preamble.\n"
                f"kind: {kind.value}\ntask: {trace.task_name}\nsituation: {situation}\nsignature: {signature}\n"
                f"fact: {text}"
            )
            try:
                worded = self.phrase(prompt).strip()
            except Exception:  # the LLM is an optional nicety; facts stay deterministic
                worded = ""
            text = worded.splitlines()[0][:400] if worded else text
        origin = f"{trace.task_name}\0{trace.run_id}\0{trace.experiment_id}"  # experiment ids recur
        lesson_id = "L" + content_hash(f"{kind.value}\0{signature}\0{origin}")[:10]
        return Lesson(lesson_id, kind, trace.task_name, signature, situation, text)

    def _situation(self, trace: ExperimentTrace) -> str:
        idea = strip_accidents(trace.idea)[:200] if trace.idea else "an unnamed change"
        return f"{trace.task_name}: trying {idea}"

    def _learn_failure(
        self, trace: ExperimentTrace, lessons: list[Lesson], vectors: dict[str, np.ndarray]
    ) -> Lesson:
        signature = error_signature(trace.status, trace.error_text)
        vector = self.embedder.embed([signature])[0]
        lesson = self._find(LessonKind.FAILURE, signature, vector, lessons, vectors, SAME_SIGNATURE)
        evidence = Evidence(trace.run_id, trace.experiment_id, log_excerpt(trace.error_text))
        key, values = config_key(trace.idea, trace.params), named_values(trace.idea, trace.params)
        if lesson is None:
            situation = self._situation(trace)
            ranges: dict[str, list[float]] = {}
            choices: dict[str, list[str]] = {}
            widen(ranges, choices, values)
            tried = failure_values(_idea_of(situation, trace.task_name), [key], ranges, choices, trace.idea)
            text = f"Experiments ended {trace.status} with `{signature}` when trying {tried or 'an unnamed change'}."
            lesson = self._new(LessonKind.FAILURE, trace, signature, situation, text)
            lesson.configs, lesson.ranges, lesson.choices = [key], ranges, choices
            lessons.append(lesson)
            vectors[lesson.id] = vector
        else:
            if lesson.configs is None:  # a lesson from a fix, or from before strop kept configs
                lesson.configs = []
            if key not in lesson.configs:
                if len(lesson.configs) < MAX_CONFIGS:
                    lesson.configs.append(key)
                widen(lesson.ranges, lesson.choices, values)
                tried = failure_values(
                    _idea_of(lesson.situation, lesson.task_name),
                    lesson.configs,
                    lesson.ranges,
                    lesson.choices,
                    trace.idea,
                )
                if tried:  # without values or an idea there is nothing to say where it failed
                    lesson.text = (
                        f"Experiments ended {trace.status} with `{lesson.signature}` when trying {tried}."
                    )
            lesson.confirmations += 1
            tried_known_fix = (
                lesson.fix
                and trace.parent_status in FAILED
                and error_signature(trace.parent_status, trace.parent_error) == lesson.signature
                and self._similar(trace.idea, lesson.fix, SIMILAR_FIX)
            )
            if tried_known_fix:
                lesson.contradictions += 1
        lesson.add_evidence(evidence)
        return lesson

    def _learn_fix(
        self, trace: ExperimentTrace, lessons: list[Lesson], vectors: dict[str, np.ndarray]
    ) -> Lesson:
        assert trace.parent_status is not None
        signature = error_signature(trace.parent_status, trace.parent_error)
        vector = self.embedder.embed([signature])[0]
        lesson = self._find(LessonKind.FAILURE, signature, vector, lessons, vectors, SAME_SIGNATURE)
        if lesson is None:
            situation = f"{trace.task_name}: the parent experiment {trace.parent_id} failed"
            text = f"Experiments ended {trace.parent_status} with `{signature}`."
            lesson = self._new(LessonKind.FAILURE, trace, signature, situation, text)
            lessons.append(lesson)
            vectors[lesson.id] = vector
        fix = self._fix_text(trace)
        if lesson.fix is None:
            lesson.fix, lesson.fix_experiment, lesson.score_delta = (
                fix,
                trace.experiment_id,
                trace.metric_delta,
            )
        elif self._similar(trace.idea, lesson.fix, SIMILAR_FIX):
            lesson.confirmations += 1
        lesson.add_evidence(Evidence(trace.run_id, trace.experiment_id, f"fixed by: {trace.idea[:300]}"))
        return lesson

    def _learn_outcome(
        self, trace: ExperimentTrace, lessons: list[Lesson], vectors: dict[str, np.ndarray]
    ) -> Lesson:
        assert trace.metric_delta is not None
        masked = strip_accidents(trace.idea)
        signature = masked[:OUTCOME_KEY]
        vector = self.embedder.embed([f"{signature}\n{self._situation(trace)}"])[0]
        delta = trace.metric_delta
        key, values = config_key(trace.idea, trace.params), named_values(trace.idea, trace.params)

        if values_only(masked):  # its label is no idea: the lesson of its region, whatever its label
            lesson = _region_lesson(lessons, trace, key, values)
        else:  # an idea in words: the lesson of a similar idea in words
            lesson = self._find(
                LessonKind.OUTCOME, signature, vector, lessons, vectors, SAME_IDEA, trace, _in_words
            )
        if lesson is None:
            text = f"In {trace.task_name}, {trace.idea[:200]}{_outcome_tail(delta, 1)}"
            lesson = self._new(LessonKind.OUTCOME, trace, signature, self._situation(trace), text)
            lesson.score_delta, lesson.configs, lesson.metric = delta, [key], trace.metric
            widen(lesson.ranges, lesson.choices, values)
            lessons.append(lesson)
            vectors[lesson.id] = vector
        else:
            previous = lesson.score_delta or 0.0
            if (previous > 0) == (delta > 0):
                lesson.confirmations += 1
            else:
                lesson.contradictions += 1
            seen = lesson.confirmations + lesson.contradictions + 1
            lesson.score_delta = previous + (delta - previous) / seen
            if lesson.configs is not None:  # a lesson from before strop kept them stays unrecorded
                if key not in lesson.configs and len(lesson.configs) < MAX_CONFIGS:
                    lesson.configs.append(key)
                widen(lesson.ranges, lesson.choices, values)
            lesson.text = _outcome_text(lesson)
        lesson.add_evidence(Evidence(trace.run_id, trace.experiment_id, f"delta {delta:+.4g}"))
        return lesson

    @staticmethod
    def _fix_text(trace: ExperimentTrace, max_diff: int = 600) -> str:
        diff = trace.diff.strip()
        if len(diff) > max_diff:
            diff = diff[:max_diff] + "\n…"
        return f"{trace.idea.strip()}\n{diff}".strip() if diff else trace.idea.strip()

    def _similar(self, a: str, b: str, threshold: float) -> bool:
        if not a.strip() or not b.strip():
            return False
        va, vb = self.embedder.embed([a, b.splitlines()[0]])
        return float(va @ vb) >= threshold

    # -------------------------------------------------------------- retrieval

    def lessons(self) -> list[Lesson]:
        return self._read()[0]

    def relevant(
        self,
        goal: str,
        error_text: str | None = None,
        k: int = 5,
        token_budget: int = 600,
        task_name: str | None = None,
    ) -> list[Lesson]:
        """The lessons most useful for this goal and this parent's error, within a token budget.

        An exact signature match with the error ranks first; then cosine similarity of
        the query (the error's signature, else the goal) weighted by confidence;
        lessons of the same task get a small boost. A lesson of another task (every
        lesson, without `task_name`) comes back as its `quoted` copy: see the module
        docstring.
        """
        lessons, vectors = self._read()
        if not lessons:
            return []
        signature = error_signature("buggy", error_text) if error_text else None
        query = signature or goal
        qv = self.embedder.embed([query])[0]
        scored = []
        for lesson in lessons:
            sim = float(vectors[lesson.id] @ qv) if lesson.id in vectors else 0.0
            score = sim * (0.5 + lesson.confidence / 2)
            if signature and lesson.signature == signature:
                score += 1.0
            if task_name and lesson.task_name == task_name:
                score += 0.05
            if lesson.fix:
                score += 0.05
            scored.append(ScoredLesson(lesson, score))
        scored.sort(key=lambda s: -s.score)
        chosen: list[Lesson] = []
        used = 0
        for item in scored:
            if len(chosen) >= k:
                break
            shown = item.lesson if task_name and item.lesson.task_name == task_name else item.lesson.quoted()
            cost = approx_tokens(shown.render())
            if used + cost <= token_budget:
                chosen.append(shown)
                used += cost
        return chosen

    def search(self, query: str, k: int = 10) -> list[ScoredLesson]:
        lessons, vectors = self._read()
        if not lessons or not query.strip():
            return []
        qv = self.embedder.embed([query])[0]
        scored = [ScoredLesson(lesson, float(vectors[lesson.id] @ qv)) for lesson in lessons]
        return sorted(scored, key=lambda s: -s.score)[:k]

    def failing_regions(
        self, task_name: str, min_failures: int = 2, fingerprint: str | None = None
    ) -> list[Region]:
        """Regions of the offline search space where crashes with one signature recur (see `region`).

        With a `fingerprint`, only traces of runs with that fingerprint count (the same
        code and evaluator): a trace with another one, or with none (written by an older
        strop), may come from code that has changed since, and a region learned from it
        would steer the run away from points that no longer crash. Without one, every
        trace of the task counts, as before fingerprints existed.
        """
        crashes: dict[str, list[Point]] = defaultdict(list)
        successes = []
        for trace in self.traces(task_name):
            if trace.params is None or (fingerprint is not None and trace.fingerprint != fingerprint):
                continue
            if trace.status in CRASHED:
                signature = error_signature(trace.status, trace.error_text)
                crashes[signature].append(Point(trace.experiment_id, trace.params))
            elif trace.status == "ok":
                successes.append(trace.params)
        return failing_regions(task_name, crashes, successes, min_failures)

    # -------------------------------------------------------------- forgetting

    def forget(self, lesson_ids: Sequence[str] | None = None) -> int:
        """Delete lessons by id and the traces they were learned from (or all lessons and traces,
        with None). Returns how many lessons.

        A lesson's traces are the lines that name it (`lessons`) and, in lines written before
        strop named them, the experiments of its evidence (the last `MAX_EVIDENCE`): what it
        quoted (a crash line, an idea) is gone with it, not left in `traces.jsonl`.
        """
        with writer_lock(self.root, self.lock_timeout):
            lessons, vectors = self._read()
            if lesson_ids is None:
                self._write([], {})
                self._traces_path.unlink(missing_ok=True)
                return len(lessons)
            unknown = [i for i in lesson_ids if i not in {lesson.id for lesson in lessons}]
            if unknown:
                raise EntryNotFound(f"no lesson {', '.join(unknown)}; see `strop memory list`")
            gone = [lesson for lesson in lessons if lesson.id in set(lesson_ids)]
            keep = [lesson for lesson in lessons if lesson.id not in set(lesson_ids)]
            self._drop_traces(gone)
            self._write(keep, vectors)
            return len(gone)

    def _drop_traces(self, gone: list[Lesson]) -> None:
        """Rewrite `traces.jsonl` without the traces of the lessons `gone` (see `forget`)."""
        if not self._traces_path.exists():
            return
        ids = {lesson.id for lesson in gone}
        experiments = {(e.run_id, e.experiment_id) for lesson in gone for e in lesson.evidence}
        kept = []
        for line in self._traces_path.read_text().splitlines():
            try:
                data = json.loads(line)
                named = data.get("lessons")
                origin = (data.get("run_id"), data.get("experiment_id"))
            except (ValueError, AttributeError):
                continue  # a torn line from a killed writer: nothing to keep
            if ids.intersection(named) if isinstance(named, list) else origin in experiments:
                continue
            kept.append(line)
        tmp = self._traces_path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(f"{line}\n" for line in kept))
        os.replace(tmp, self._traces_path)


_OUTCOME_TAIL = re.compile(r" (improved|worsened) the score by \S+?( on average over \d+ runs)?\.$")


def _outcome_text(lesson: Lesson) -> str:
    """An outcome lesson's text: one config's may quote it (and its wording); several are shown as
    their class, the values as the ranges seen (`configs.merged_ideas`), never one run's values."""
    seen = lesson.confirmations + lesson.contradictions + 1
    tail = _outcome_tail(lesson.score_delta or 0.0, seen)
    if lesson.configs is not None and len(lesson.configs) == 1:
        return _OUTCOME_TAIL.sub(tail, lesson.text)
    return f"In {lesson.task_name}, {merged_ideas(lesson.signature, lesson.configs, lesson.ranges, lesson.choices)}{tail}"


def _in_words(lesson: Lesson) -> bool:
    """Whether an outcome lesson's idea says more than its values (`configs.values_only`)."""
    return not values_only(lesson.signature, clipped=len(lesson.signature) >= OUTCOME_KEY)


def _region_lesson(
    lessons: list[Lesson], trace: ExperimentTrace, key: str, values: dict[str, Value]
) -> Lesson | None:
    """The outcome lesson of the task and metric whose values-only configs span a region that `values`
    lie in (`configs.same_region`), one that holds this very config first; None if there is none."""
    found = [
        lesson
        for lesson in lessons
        if lesson.kind is LessonKind.OUTCOME
        and (lesson.task_name, lesson.metric) == (trace.task_name, trace.metric)
        and lesson.configs is not None
        and not _in_words(lesson)
        and same_region(lesson.ranges, lesson.choices, values)
    ]
    return next((lesson for lesson in found if key in (lesson.configs or [])), found[0] if found else None)


def _idea_of(situation: str, task_name: str) -> str:
    """The masked idea a lesson's situation names (`<task>: trying <idea>`), else ""."""
    prefix = f"{task_name}: trying "
    return situation.removeprefix(prefix) if situation.startswith(prefix) else ""


def _recorded(lesson: Lesson) -> Lesson:
    """A lesson as read: one merged over runs before strop kept its configs quoted the first run's
    values as the lesson's; it reads as its class, without numbers."""
    merged = lesson.confirmations + lesson.contradictions > 0
    if lesson.kind is LessonKind.OUTCOME and lesson.configs is None and merged:
        lesson.text = _outcome_text(lesson)
    return lesson


def _outcome_tail(delta: float, seen: int) -> str:
    """The end of an outcome lesson's text: it says the mean delta that `score_delta` holds."""
    verb = "improved" if delta > 0 else "worsened"
    average = f" on average over {seen} runs" if seen > 1 else ""
    return f" {verb} the score by {delta:+.4g}{average}."
