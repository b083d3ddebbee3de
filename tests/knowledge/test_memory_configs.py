"""An outcome lesson merged over different configs says so, and never quotes one run's values as its own.

The scale pass of a digits task: eight random samples (`sample: learning_rate=0.02098, max_iter=47,
…`) masked to one idea and merged into one lesson whose text read "In digits-gbm, sample:
learning_rate=0.02098, max_iter=47, … improved the score by +0.1628 on average over 8 runs".
Real `Memory` on disk, the hashing embedder.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from knowledge.embedder import HashingEmbedder
from knowledge.memory import ExperimentTrace, LessonKind, Memory


def _sample(n: int, params: dict[str, float | int | str]) -> ExperimentTrace:
    """An ok experiment of the offline proposer: its idea is the point, as `Space.describe` writes it."""
    shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
    return ExperimentTrace(
        run_id="r1", experiment_id=str(n), task_name="digits-gbm", status="ok", idea=f"sample: {shown}",
        params=params, metric_delta=0.1 + n / 100, parent_status="ok",
    )  # fmt: skip


def _points(count: int) -> list[dict[str, float | int | str]]:
    rng = random.Random(7)
    return [
        {
            "learning_rate": round(rng.uniform(0.01, 0.5), 5),
            "max_iter": rng.randint(5, 200),
            "mode": rng.choice(["hist", "exact"]),
        }
        for _ in range(count)
    ]


def test_a_lesson_merged_over_eight_samples_shows_their_class_and_count(tmp_path: Path) -> None:
    memory = Memory.open(tmp_path / "memory", embedder=HashingEmbedder())
    points = _points(8)
    for n, point in enumerate(points, start=1):
        memory.learn(_sample(n, point))
    [lesson] = memory.lessons()
    assert lesson.kind is LessonKind.OUTCOME and lesson.confirmations == 7
    for point in points:  # no one run's values, quoted as if they were the lesson
        assert f"learning_rate={point['learning_rate']:.4g}," not in lesson.text
        assert f"max_iter={point['max_iter']}," not in lesson.text
    low = min(p["learning_rate"] for p in points)
    high = max(p["learning_rate"] for p in points)
    iters = sorted(p["max_iter"] for p in points)
    assert lesson.text.startswith("In digits-gbm, 8 distinct configs (sample: ")
    assert f"learning_rate={low:.4g}–{high:.4g}" in lesson.text
    assert f"max_iter={iters[0]}–{iters[-1]}" in lesson.text
    assert "mode=hist|exact" in lesson.text or "mode=exact|hist" in lesson.text
    assert lesson.text.endswith("on average over 8 runs.")
    again = Memory.open(tmp_path / "memory", embedder=HashingEmbedder()).lessons()[0]
    assert again.text == lesson.text and again.configs == lesson.configs  # kept on disk


def test_one_config_seen_twice_still_quotes_it(tmp_path: Path) -> None:
    memory = Memory.open(tmp_path / "memory", embedder=HashingEmbedder())
    [point] = _points(1)
    memory.learn(_sample(1, point))
    memory.learn(_sample(2, point))
    [lesson] = memory.lessons()
    assert lesson.configs is not None and len(lesson.configs) == 1
    assert lesson.text.startswith(f"In digits-gbm, sample: learning_rate={point['learning_rate']:.4g}, ")
    assert lesson.text.endswith("on average over 2 runs.")


def test_free_text_ideas_count_as_configs_and_their_numbers_are_masked(tmp_path: Path) -> None:
    memory = Memory.open(tmp_path / "memory", embedder=HashingEmbedder())
    for n, width in enumerate((128, 256, 512)):
        memory.learn(
            ExperimentTrace(
                "r1",
                f"e{n}",
                "mlp",
                "ok",
                idea=f"use a wider hidden layer of {width} units",
                metric_delta=0.01,
                parent_status="ok",
            )  # fmt: skip
        )
    [lesson] = memory.lessons()
    assert lesson.text == (
        "In mlp, 3 distinct configs (use a wider hidden layer of … units) "
        "improved the score by +0.01 on average over 3 runs."
    )


def test_a_lesson_merged_before_configs_were_kept_reads_without_numbers(tmp_path: Path) -> None:
    """lessons.json as strop wrote it before (the finder's lesson): no `configs`, eight runs."""
    folder = tmp_path / "memory"
    folder.mkdir()
    signature = "sample: learning_rate=<n>, max_iter=<n>, max_depth=<n>"
    legacy = {
        "id": "L1", "kind": "outcome", "task_name": "digits-gbm", "signature": signature,
        "situation": f"digits-gbm: trying {signature}",
        "text": "In digits-gbm, sample: learning_rate=0.02098, max_iter=47, max_depth=9 improved the "
        "score by +0.1628 on average over 8 runs.",
        "score_delta": 0.1628, "confirmations": 7, "contradictions": 0, "evidence": [],
    }  # fmt: skip
    (folder / "lessons.json").write_text(json.dumps({"schema": 1, "lessons": [legacy], "vectors": {}}))
    [lesson] = Memory.open(folder, embedder=HashingEmbedder()).lessons()
    assert "0.02098" not in lesson.text and "47" not in lesson.text
    assert lesson.text == (
        "In digits-gbm, ideas of the form (sample: learning_rate=…, max_iter=…, max_depth=…) "
        "improved the score by +0.1628 on average over 8 runs."
    )
