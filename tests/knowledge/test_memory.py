"""Episodic memory: lessons from traces, confidence, fixes, dedup, retrieval, regions, persistence."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.context import format_context
from knowledge.embedder import HashingEmbedder
from knowledge.entry import Hit
from knowledge.errors import EntryNotFound, StoreUnavailable
from knowledge.memory import ExperimentTrace, LessonKind, Memory, approx_tokens

OOM_LOG = 'epoch 1\nTraceback (most recent call last):\n  File "/w/e{n}/train.py", line 9\nMemoryError: cannot allocate {n} bytes'


def _fail(
    n: int, parent: str | None = None, idea: str = "double the batch size", **kw: object
) -> ExperimentTrace:
    return ExperimentTrace(
        run_id="r1", experiment_id=f"e{n}", task_name="digits", status="buggy", parent_id=parent,
        error_text=OOM_LOG.format(n=n * 1000), idea=idea, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.fixture
def memory(tmp_path: Path, hashing: HashingEmbedder) -> Memory:
    return Memory.open(tmp_path / "memory", embedder=hashing)


def test_repeated_failure_is_one_lesson_whose_confidence_rises(memory: Memory) -> None:
    [first] = memory.learn(_fail(1))
    assert first.kind is LessonKind.FAILURE and first.confidence == 0.5
    assert first.signature == "MemoryError: cannot allocate <n> bytes"
    memory.learn(_fail(2))
    [lesson] = memory.lessons()
    assert lesson.confidence > 0.5 and lesson.confirmations == 1
    assert [e.experiment_id for e in lesson.evidence] == ["e1", "e2"]
    assert "MemoryError" in lesson.evidence[0].excerpt and lesson.evidence[0].run_id == "r1"


def test_ok_child_of_a_failure_is_its_fix_and_a_failed_retry_of_the_fix_contradicts_it(
    memory: Memory,
) -> None:
    memory.learn(_fail(1))
    fix = ExperimentTrace(
        run_id="r1", experiment_id="e2", parent_id="e1", task_name="digits", status="ok",
        idea="halve the batch size", diff="-batch = 512\n+batch = 256", metric_delta=0.01,
        parent_status="buggy", parent_error=OOM_LOG.format(n=1000),
    )  # fmt: skip
    [lesson] = memory.learn(fix)
    assert (
        lesson.fix is not None
        and lesson.fix.startswith("halve the batch size")
        and "+batch = 256" in lesson.fix
    )
    assert lesson.fix_experiment == "e2" and lesson.score_delta == 0.01
    retry = _fail(
        4, parent="e3", idea="halve the batch size", parent_status="buggy", parent_error=OOM_LOG.format(n=7)
    )
    [after] = memory.learn(retry)
    # the crash recurred (confirms the failure) although the known fix was tried (contradicts it)
    assert (after.confirmations, after.contradictions, after.fix) == (1, 1, lesson.fix)
    assert memory.lessons()[0].confidence == 0.5


def test_outcome_lessons_confirm_on_same_sign_and_are_contradicted_on_opposite(memory: Memory) -> None:
    def ok(n: int, delta: float) -> ExperimentTrace:
        return ExperimentTrace("r1", f"e{n}", "digits", "ok", idea="use a wider hidden layer of 128 units",
                               metric_delta=delta, parent_status="ok")  # fmt: skip

    [lesson] = memory.learn(ok(1, 0.02))
    assert lesson.kind is LessonKind.OUTCOME and lesson.text.endswith("improved the score by +0.02.")
    memory.learn(ok(2, 0.01))
    assert memory.lessons()[0].confirmations == 1
    assert memory.lessons()[0].text.endswith("improved the score by +0.015 on average over 2 runs.")
    memory.learn(ok(3, -0.05))
    [final] = memory.lessons()
    assert final.contradictions == 1 and final.confidence == 0.5
    assert final.score_delta is not None and final.text.endswith(  # the text says what render's delta says
        f"worsened the score by {final.score_delta:+.4g} on average over 3 runs."
    )


def test_distinct_signatures_stay_distinct_and_relevant_puts_the_matching_error_first(memory: Memory) -> None:
    memory.learn(_fail(1))
    memory.learn(
        ExperimentTrace("r1", "e9", "digits", "buggy", error_text="KeyError: 'learning_rate'", idea="rename")
    )
    memory.learn(ExperimentTrace("r1", "e8", "digits", "timeout", error_text="", idea="1000 trees"))
    assert len(memory.lessons()) == 3
    top = memory.relevant("improve accuracy", error_text="Traceback...\nKeyError: 'learning_rate'", k=3)
    assert top[0].signature == "KeyError: 'learning_rate'"
    budget = approx_tokens(top[0].render())
    assert len(memory.relevant("x", "KeyError: 'learning_rate'", k=3, token_budget=budget)) == 1


def test_failing_regions_from_traces_with_params(memory: Memory) -> None:
    for n, batch in enumerate([64, 128, 256]):
        memory.learn(ExperimentTrace("r1", f"ok{n}", "digits", "ok", params={"batch": batch, "act": "relu"}))
    memory.learn(_fail(1, params={"batch": 1024, "act": "relu"}))
    assert memory.failing_regions("digits") == []
    memory.learn(_fail(2, params={"batch": 2048, "act": "relu"}))
    [region] = memory.failing_regions("digits")
    # the simplest rule: batch alone separates, the choice every run shared is incidental
    assert region.exclusion_rule() == "not (batch >= 512.0)" and region.names == {"batch"}
    assert region.signature == "MemoryError: cannot allocate <n> bytes" and region.experiments == ("e1", "e2")
    assert memory.failing_regions("other-task") == []


def test_phrase_words_new_lessons_and_its_failure_falls_back(
    tmp_path: Path, hashing: HashingEmbedder
) -> None:
    worded = Memory.open(
        tmp_path / "a", embedder=hashing, phrase=lambda prompt: "Smaller batches avoid OOM.\nextra"
    )
    assert worded.learn(_fail(1))[0].text == "Smaller batches avoid OOM."

    def broken(prompt: str) -> str:
        raise ConnectionError("no LLM")

    plain = Memory.open(tmp_path / "b", embedder=hashing, phrase=broken)
    assert plain.learn(_fail(1))[0].text.startswith("Experiments ended buggy with `MemoryError")


def test_persistence_forget_and_corruption(tmp_path: Path, hashing: HashingEmbedder, memory: Memory) -> None:
    memory.learn(_fail(1))
    reopened = Memory.open(memory.root, embedder=hashing)
    [lesson] = reopened.lessons()
    assert reopened.search("MemoryError cannot allocate")[0].lesson.id == lesson.id
    with pytest.raises(EntryNotFound):
        reopened.forget(["Lnope"])
    assert reopened.forget([lesson.id]) == 1 and reopened.lessons() == []
    (memory.root / "lessons.json").write_text("{not json")
    with pytest.raises(StoreUnavailable, match="corrupt"):
        Memory.open(memory.root, embedder=hashing)


def test_format_context_stays_within_budget_and_puts_lessons_first(memory: Memory) -> None:
    memory.learn(_fail(1))
    hits = [
        Hit(f"/docs/{i}.md", "lines 1-9", "reference", 0.1, "word " * 300, title=f"T{i}") for i in range(5)
    ]
    text = format_context(hits, memory.lessons(), token_budget=300)
    assert approx_tokens(text) <= 300
    assert text.index("## Lessons") < text.index("## Relevant knowledge")
    assert "[reference] 0.md (lines 1-9) — T0" in text and "4.md" not in text and "/docs/" not in text
    assert format_context([], [], 100) == ""


def test_a_lesson_keeps_the_digits_of_names_in_its_text(memory: Memory) -> None:
    """It read "… with `ValueError: p7<n> e1` when trying Plan: p7<n> fail." (the run said `p75`)."""
    trace = ExperimentTrace(
        "r1", "e1", "plans", "buggy", error_text="ValueError: p75 e1", idea="Plan: p75 fail"
    )
    [lesson] = memory.learn(trace)
    assert lesson.text == "Experiments ended buggy with `ValueError: p75 e1` when trying Plan: p75 fail."
