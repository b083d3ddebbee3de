"""`[knowledge] sources` are ingested within the run's time, never before it (the scale pass, HIGH).

With a 979-chunk source, `strop run --time 1m` spent 143.5 s of its 60 s ingesting, on the
loop's thread before experiment 0, and ran no experiment; its log said both that the model
was "not loaded with 60s" and that the source was "ingested" with it.

Real components: the CLI in a subprocess with the product's embedder (a run this short never
loads it), a real `KnowledgeStore` on disk, the hashing embedder slowed down where a test
needs an ingestion to be under way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from agent.loop.memory import KnowledgeMemory
from agent.task import load_task
from knowledge import KnowledgeStore
from knowledge.embedder import HashingEmbedder

from .conftest import make_task

ROOT = Path(__file__).resolve().parents[2]
CHUNKS = 600  # 3 files of 200 sections: the store embeds them in batches of 256
FIRST_BATCH = 256


def write_sources(folder: Path) -> None:
    folder.mkdir(parents=True)
    for f in range(3):
        sections = (
            f"## Topic {f}-{i}\n\nGradient boosting tip {f}-{i}: tune the learning rate with care.\n\n"
            for i in range(200)
        )
        (folder / f"notes{f}.md").write_text("".join(sections))


def task_with_sources(root: Path, memory: bool = True) -> Path:
    """The loop's tiny task, with a folder of notes as its `[knowledge] sources`."""
    task = make_task(root, experiments=1000, memory=memory)
    write_sources(root / "docs")
    with task.open("a") as toml:
        toml.write('sources = ["docs"]\n')
    return task


def notes(home: Path) -> list[str]:
    [log] = (home / "runs").glob("*/run.log")
    events = [json.loads(line) for line in log.read_text().splitlines()]
    return [event["text"] for event in events if event["event"] == "Note"]


def test_a_short_run_with_sources_runs_its_experiments_within_its_time(tmp_path: Path) -> None:
    home = tmp_path / "home"
    task = task_with_sources(tmp_path / "task")
    env = {**os.environ, "STROP_HOME": str(home), "PYTHONPATH": str(ROOT), "COLUMNS": "120"}
    command = [sys.executable, "-W", "ignore", "-c", "from agent.cli import main; main()"]
    started = time.monotonic()
    done = subprocess.run(
        [*command, "run", str(task), "--time", "15s", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    wall = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["experiments"] >= 2  # experiment 0 and the search, not ingestion
    assert wall < 15 + 5, f"{wall:.1f}s for a 15 s run"  # + the interpreter's start, before strop's clock
    said = [text for text in notes(home) if text.startswith("knowledge:")]
    assert said == [
        "knowledge: not loaded with 15s of the run left (its model takes 10-50 s to load), "
        "nor docs ingested; give at least 120s to use it"
    ]  # one note, once: no "ingested docs" beside it


class Slowed(HashingEmbedder):
    """The hashing embedder, counting its texts, slow past the store's first batch (a loaded machine)."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.texts = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self.texts >= FIRST_BATCH:
            time.sleep(self.delay * len(texts))
        self.texts += len(texts)
        return super().embed(texts)


def loop_memory(task_file: Path, store_dir: Path, embedder: HashingEmbedder) -> KnowledgeMemory:
    from agent.loop.ingestion import SharedEmbedder

    shared = SharedEmbedder(embedder)
    return KnowledgeMemory(
        load_task(task_file),
        None,
        None,
        None,
        open_store=lambda: KnowledgeStore.open(store_dir, embedder=shared),
    )


def test_an_ingestion_stops_when_the_run_ends_and_the_next_run_continues_it(tmp_path: Path) -> None:
    task = task_with_sources(tmp_path / "task", memory=False)
    store_dir = tmp_path / "store"
    slow = Slowed(delay=0.02)  # ~7 s for the second batch
    first = loop_memory(task, store_dir, slow)
    first.warm_up(time_budget=600.0)
    deadline = time.monotonic() + 60
    while slow.texts < FIRST_BATCH + 64 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert slow.texts >= FIRST_BATCH + 64, "the ingestion never got under way"
    assert first.retrieve(None, "tune the learning rate") == ""  # the store is being written

    started = time.monotonic()
    first.close()  # the run ended
    assert time.monotonic() - started < 3.0  # one slice, then the store closed
    assert slow.texts < CHUNKS
    assert first.notes == [
        f"knowledge: ingesting docs stopped before the run's end ({FIRST_BATCH} of {CHUNKS} chunks stored, "
        "kept: the next run with more time, or `strop knowledge add`, continues it); no passages from it this run"
    ]
    assert not any(t.name == "strop-knowledge-warm-up" and t.is_alive() for t in threading.enumerate())

    fast = Slowed(delay=0.0)
    second = loop_memory(task, store_dir, fast)
    second.warm_up(time_budget=None)
    deadline = time.monotonic() + 60
    while not second.ingested and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fast.texts == CHUNKS - FIRST_BATCH  # the stored batch was not embedded again
    assert "Gradient boosting tip" in second.retrieve(None, "tune the learning rate")
    [note] = second.notes
    assert note.startswith("knowledge: ingested docs (added 3, updated 0")
    assert f"chunks_embedded {CHUNKS - FIRST_BATCH}" in note
    second.close()
    assert second.notes == [note]  # nothing more to say


def test_an_ingestion_stops_by_itself_before_the_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run of 120 s whose ingestion must stop 117 s before its deadline (`MARGIN` raised to
    say so): it stops there, without the run's end, and the loop may use the store at once."""
    import agent.loop.ingestion as ingestion
    from agent.loop.memory import WARM_UP_MIN_BUDGET

    monkeypatch.setattr(ingestion, "MARGIN", WARM_UP_MIN_BUDGET - 3.0)
    task = task_with_sources(tmp_path / "task", memory=False)
    slow = Slowed(delay=0.05)  # ~17 s for the second batch
    memory = loop_memory(task, tmp_path / "store", slow)
    started = time.monotonic()
    memory.warm_up(time_budget=WARM_UP_MIN_BUDGET)
    while not memory.ingested and time.monotonic() - started < 60:
        time.sleep(0.02)
    assert time.monotonic() - started < 3.0 + 2.0  # the cutoff, then one slice (1.6 s) at most
    assert memory.retrieve(None, "tune the learning rate") == ""  # nothing committed yet: no passages
    [note] = memory.notes
    assert note.startswith("knowledge: ingesting docs stopped before the run's end (")
    memory.close()
    assert memory.notes == [note]


def test_without_a_time_budget_waiting_covers_the_sources(tmp_path: Path) -> None:
    """A run with no time budget waits for its sources as for the model: its first experiments get
    the passages (in the background they would have had none until the ingestion ended)."""
    task = task_with_sources(tmp_path / "task", memory=False)
    slow = Slowed(delay=0.005)  # ~2 s past the first batch
    memory = loop_memory(task, tmp_path / "store", slow)
    memory.warm_up(time_budget=None)
    assert memory.wait() is True
    assert memory.ingested and slow.texts == CHUNKS
    assert "Gradient boosting tip" in memory.retrieve(None, "tune the learning rate")
    memory.close()
