"""An outcome lesson merged over different configs says so, and never quotes one run's values as its own.

The scale pass of a digits task: eight random samples (`sample: learning_rate=0.02098, max_iter=47,
…`) masked to one idea and merged into one lesson whose text read "In digits-gbm, sample:
learning_rate=0.02098, max_iter=47, … improved the score by +0.1628 on average over 8 runs".
Real `Memory` on disk, the hashing embedder.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
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


def _near(count: int) -> list[dict[str, float | int | str]]:
    """Points of one region: every number within a factor of 2 of the others, one mode."""
    rng = random.Random(7)
    return [
        {"learning_rate": round(rng.uniform(0.1, 0.19), 5), "max_iter": rng.randint(100, 190), "mode": "hist"}
        for _ in range(count)
    ]


def test_a_lesson_merged_over_eight_samples_of_one_region_shows_their_class_and_count(tmp_path: Path) -> None:
    memory = Memory.open(tmp_path / "memory", embedder=HashingEmbedder())
    points = _near(8)
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
    assert "mode=hist" in lesson.text
    assert lesson.text.endswith("on average over 8 runs.")
    again = Memory.open(tmp_path / "memory", embedder=HashingEmbedder()).lessons()[0]
    assert again.text == lesson.text and again.configs == lesson.configs  # kept on disk


def test_random_samples_of_the_space_are_not_one_lesson(tmp_path: Path) -> None:
    """The two-errors run: three random samples (+0.14, +1.10, +3.03) merged by their label `sample:`
    into "3 distinct configs (sample: lr=0.0005723–0.00796, …) improved the score by +1.424 on
    average over 3 runs", confidence 0.75. Each is its own lesson, with its own delta."""
    memory = Memory.open(tmp_path / "memory", embedder=HashingEmbedder())
    points = [
        {"lr": 0.0005723, "width": 52, "batch": 475, "dropout": 0.3759},
        {"lr": 0.00796, "width": 16, "batch": 528, "dropout": 0.229},
        {"lr": 0.001941, "width": 156, "batch": 33, "dropout": 0.2045},
    ]
    for n, (point, delta) in enumerate(zip(points, (1.101, 0.1385, 3.031), strict=True), start=1):
        memory.learn(replace(_sample(n, point), task_name="two-errors", metric_delta=delta))
    lessons = memory.lessons()
    assert len(lessons) == 3
    assert all(lesson.confirmations == 0 and lesson.confidence == 0.5 for lesson in lessons)
    assert sorted(lesson.score_delta or 0 for lesson in lessons) == [0.1385, 1.101, 3.031]
    assert any(lesson.text.startswith("In two-errors, sample: lr=0.00796, width=16,") for lesson in lessons)
    # a point of one of their regions (within a factor of 2 of it on every number) confirms that one
    near = {"lr": 0.0009, "width": 80, "batch": 400, "dropout": 0.3}
    [merged] = memory.learn(replace(_sample(4, near), task_name="two-errors", metric_delta=0.9))
    assert merged.confirmations == 1 and "lr=0.0005723–0.0009" in merged.text
    assert len(memory.lessons()) == 3


def test_samples_of_a_space_with_many_parameters_keep_apart_although_their_key_is_cut(tmp_path: Path) -> None:
    """A space of 30 parameters: the masked idea passes the 240 characters of a lesson's key."""
    memory = Memory.open(tmp_path / "memory", embedder=HashingEmbedder())
    for n, scale in enumerate((1.0, 10.0), start=1):
        point = {f"parameter_{i:02d}x": scale * (i + 1) for i in range(30)}
        memory.learn(_sample(n, point))
    assert len(memory.lessons()) == 2


def test_a_mutation_in_its_parents_region_confirms_the_parents_lesson(tmp_path: Path) -> None:
    """The label is no part of the idea: `mutate of 1:` next to sample 1 is one region, one lesson."""
    memory = Memory.open(tmp_path / "memory", embedder=HashingEmbedder())
    sample = {"lr": 0.01861, "width": 31, "batch": 19, "dropout": 0.2836}
    memory.learn(replace(_sample(1, sample), task_name="two-errors", metric_delta=0.56))
    mutated = replace(
        _sample(4, {**sample, "dropout": 0.3063}),
        task_name="two-errors",
        idea="mutate of 1: lr=0.01861, width=31, batch=19, dropout=0.3063",
        metric_delta=0.2,
    )
    [lesson] = memory.learn(mutated)
    assert lesson.confirmations == 1 and "dropout=0.2836–0.3063" in lesson.text
    assert lesson.text.endswith("improved the score by +0.38 on average over 2 runs.")
    far = replace(mutated, experiment_id="5", idea="mutate of 1: lr=0.2, width=31, batch=19, dropout=0.3")
    memory.learn(replace(far, params={"lr": 0.2, "width": 31, "batch": 19, "dropout": 0.3}))
    assert len(memory.lessons()) == 2


def test_a_sample_does_not_merge_with_an_idea_in_words_nor_widen_it(tmp_path: Path) -> None:
    memory = Memory.open(tmp_path / "memory", embedder=HashingEmbedder())
    words = ExperimentTrace(
        "r1", "e1", "mlp", "ok", idea="set learning_rate=0.1 and train longer", metric_delta=0.2, parent_status="ok"
    )  # fmt: skip
    memory.learn(words)
    memory.learn(replace(words, experiment_id="e2", idea="set learning_rate=0.12 and train longer"))
    [lesson] = memory.lessons()  # ideas in words merge by meaning, as before
    assert lesson.confirmations == 1
    memory.learn(replace(_sample(3, {"learning_rate": 0.45}), task_name="mlp"))
    assert len(memory.lessons()) == 2


def test_one_config_seen_twice_still_quotes_it(tmp_path: Path) -> None:
    memory = Memory.open(tmp_path / "memory", embedder=HashingEmbedder())
    [point] = _near(1)
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


def _diverged(n: int, lr: float, width: int = 47, batch: int = 25) -> ExperimentTrace:
    """A failed experiment of the offline proposer in the two-errors task."""
    params = {"lr": lr, "width": width, "batch": batch, "dropout": 0.1554}
    shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
    return ExperimentTrace(
        "r1", str(n), "two-errors", "buggy", idea=f"model: {shown}", params=params, parent_status="ok",
        error_text=f"Traceback …\nFloatingPointError: loss diverged to nan at step {n + 17} (lr={lr:.2g})",
    )  # fmt: skip


def test_a_failure_lesson_says_the_values_it_failed_at(tmp_path: Path) -> None:
    """It read "… when trying model: lr=<n>, width=<n>, batch=<n>, dropout=<n>.": which lr diverged
    was only in the evidence's log tail."""
    memory = Memory.open(tmp_path / "memory", embedder=HashingEmbedder())
    [lesson] = memory.learn(_diverged(1, 0.5495))
    assert lesson.signature == "FloatingPointError: loss diverged to nan at step <n> (lr=<n>)"
    assert lesson.text == (
        "Experiments ended buggy with `FloatingPointError: loss diverged to nan at step <n> (lr=<n>)` "
        "when trying model: lr=0.5495, width=47, batch=25, dropout=0.1554."
    )
    [again] = memory.learn(_diverged(2, 0.5495))  # the same config: the same text
    assert again.text == lesson.text and again.confirmations == 1
    [merged] = memory.learn(_diverged(3, 0.12, width=300, batch=8))
    assert merged.text.endswith(
        "when trying 2 distinct configs (model: lr=0.12–0.5495, width=47–300, batch=8–25, dropout=0.1554)."
    )
    assert merged.ranges["lr"] == [0.12, 0.5495] and merged.configs is not None and len(merged.configs) == 2
    assert Memory.open(tmp_path / "memory", embedder=HashingEmbedder()).lessons()[0].text == merged.text


def test_a_failure_lesson_from_before_configs_were_kept_learns_them_at_its_next_failure(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "memory"
    folder.mkdir()
    signature = "FloatingPointError: loss diverged to nan at step <n> (lr=<n>)"
    legacy = {
        "id": "L1", "kind": "failure", "task_name": "two-errors", "signature": signature,
        "situation": "two-errors: trying model: lr=<n>, width=<n>, batch=<n>, dropout=<n>",
        "text": f"Experiments ended buggy with `{signature}` when trying model: lr=<n>, width=<n>, batch=<n>, "
        "dropout=<n>.", "evidence": [],
    }  # fmt: skip
    (folder / "lessons.json").write_text(json.dumps({"schema": 1, "lessons": [legacy], "vectors": {}}))
    memory = Memory.open(folder, embedder=HashingEmbedder())
    [lesson] = memory.learn(_diverged(1, 0.9))
    assert lesson.id == "L1" and lesson.confirmations == 1
    assert lesson.text.endswith("when trying model: lr=0.9, width=47, batch=25, dropout=0.1554.")


def test_a_failure_of_an_idea_in_words_with_params_names_them(tmp_path: Path) -> None:
    memory = Memory.open(tmp_path / "memory", embedder=HashingEmbedder())
    trace = replace(_diverged(1, 0.3), idea="raise the learning rate a lot", params={"lr": 0.3})
    [lesson] = memory.learn(trace)
    assert lesson.text.endswith("when trying raise the learning rate a lot; lr=0.3.")
