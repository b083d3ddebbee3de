"""Issue 18: the embedding model's first load never holds up the loop (it cannot be cut by a deadline).

A real `knowledge.Memory` on disk whose embedder takes seconds to load the first time (as
MiniLM does: torch and transformers imports), behind the loop's `KnowledgeMemory`: calls made
while it loads return at once and say why; once loaded, lessons are learned as before.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from agent.loop.memory import KnowledgeMemory
from agent.records import ExperimentRecord
from agent.task import load_task
from evaluators.verdict import Status
from knowledge.embedder import HashingEmbedder
from knowledge.memory import Memory

LOAD_SECONDS = 3.0


class SlowToLoad(HashingEmbedder):
    """The hashing embedder, after a first-call load of `LOAD_SECONDS` (a model being imported)."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded = False
        self.lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        with self.lock:
            if not self.loaded:
                time.sleep(LOAD_SECONDS)
                self.loaded = True
        return super().embed(texts)


def test_calls_do_not_wait_for_the_model_and_learn_once_it_is_loaded(tmp_path: Path) -> None:
    task_file = Path(__file__).resolve().parents[2] / "benchmarks" / "tasks" / "mlp-oom" / "task.toml"
    task = load_task(task_file)
    memory = Memory.open(tmp_path / "memory", embedder=SlowToLoad())
    loop_memory = KnowledgeMemory(task, memory, None, run=None)
    loop_memory.warm_up(time_budget=600.0)
    crash = ExperimentRecord(
        run="r",
        id=1,
        parent=None,
        branch="b",
        commit="c",
        status=Status.BUGGY,
        reason="MemoryError: out of memory",
    )

    started = time.monotonic()
    assert loop_memory.retrieve(None, task.spec.task.goal) == ""
    loop_memory.learn(crash, None, "MemoryError: out of memory")
    assert time.monotonic() - started < 1.0  # neither call waited for the 3 s load
    assert not loop_memory.ready
    assert memory.lessons() == []
    assert any("still loading" in note for note in loop_memory.notes)

    deadline = time.monotonic() + LOAD_SECONDS + 30
    while not loop_memory.ready and time.monotonic() < deadline:
        time.sleep(0.05)
    assert loop_memory.ready
    loop_memory.learn(crash, None, "MemoryError: out of memory")
    assert len(memory.lessons()) == 1


def test_a_short_run_does_not_load_the_model_and_a_run_without_budget_waits_for_it(tmp_path: Path) -> None:
    task_file = Path(__file__).resolve().parents[2] / "benchmarks" / "tasks" / "mlp-oom" / "task.toml"
    task = load_task(task_file)
    short = KnowledgeMemory(task, Memory.open(tmp_path / "a", embedder=SlowToLoad()), None, run=None)
    short.warm_up(time_budget=30.0)
    started = time.monotonic()
    assert short.retrieve(None, task.spec.task.goal) == ""
    assert time.monotonic() - started < 1.0 and not short.ready
    said = short.describe()  # one state, said once: not also "knowledge: lessons from memory"
    assert said.startswith("knowledge: not loaded with 30s of the run left") and "lessons" not in said
    assert not any("not loaded" in note for note in short.notes)
    assert not any("still loading" in note for note in short.notes)

    unbounded = KnowledgeMemory(task, Memory.open(tmp_path / "b", embedder=SlowToLoad()), None, run=None)
    unbounded.warm_up(time_budget=None)
    assert unbounded.wait() and unbounded.ready
