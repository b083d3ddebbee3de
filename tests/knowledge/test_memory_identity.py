"""What a lesson is made of: one task and one metric, one error in both its wordings, evidence named by
run and experiment, no credential, and traces that go with it when it is forgotten (red team).

Found by a red-team pass: "Increase the batch size to 64" on an accuracy task (+0.01) and "… to
128" on a latency task (−250 ms) merged into one lesson that told the accuracy task the idea
"worsened the score by -125 on average over 2 runs"; experiment "1" of a second run was dropped
as evidence already held; a crash learned from its log tail (`RuntimeError: …`) and its fix
learned from the verdict's reason (`the candidate's run stage exited with status 1: RuntimeError:
…`) became two lessons, so the failure never got its fix; a `.env` key a candidate printed was kept
in a lesson, `strop memory list`, `traces.jsonl` and other tasks' prompts, and `forget` left it in
`traces.jsonl`. Real `Memory` on disk with the shipped MiniLM embedder, the real CLI.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app
from knowledge.embedder import MiniLMEmbedder
from knowledge.memory import ExperimentTrace, LessonKind, Memory, error_signature

KEY = "sk-proj-WorkspaceSecretQwErTy98765zz"
CRASH = f"RuntimeError: configuration mismatch OPENAI_API_KEY={KEY} None"
LOG = f'Traceback (most recent call last):\n  File "/w/e1/train.py", line 15, in <module>\n{CRASH}'
REASON = f"the candidate's run stage exited with status 1: {CRASH}"


def _ok(run: str, n: str, task: str, idea: str, delta: float, metric: str | None = None) -> ExperimentTrace:
    return ExperimentTrace(
        run, n, task, "ok", parent_id="0", parent_status="ok", idea=idea, metric_delta=delta, metric=metric
    )


def test_the_same_idea_in_two_tasks_is_two_lessons_with_their_own_deltas(
    tmp_path: Path, minilm: MiniLMEmbedder
) -> None:
    memory = Memory.open(tmp_path / "memory", embedder=minilm)
    memory.learn(_ok("r1", "1", "acc-task", "Increase the batch size to 64.", 0.01))
    memory.learn(_ok("r2", "1", "latency-task", "Increase the batch size to 128.", -250.0))
    lessons = {lesson.task_name: lesson for lesson in memory.lessons()}
    assert sorted(lessons) == ["acc-task", "latency-task"]
    acc, latency = lessons["acc-task"], lessons["latency-task"]
    assert (acc.score_delta, acc.confirmations, acc.contradictions) == (0.01, 0, 0)
    assert acc.text == "In acc-task, Increase the batch size to 64. improved the score by +0.01."
    assert latency.score_delta == -250.0 and acc.id != latency.id
    [own] = [lesson for lesson in memory.relevant("Improve accuracy", task_name="acc-task")
             if lesson.task_name == "acc-task"]  # fmt: skip
    assert "-125" not in own.render() and "+0.01" in own.render()


def test_two_metrics_of_one_task_never_average(tmp_path: Path, minilm: MiniLMEmbedder) -> None:
    memory = Memory.open(tmp_path / "memory", embedder=minilm)
    memory.learn(_ok("r1", "1", "model", "Use mixed precision.", 0.02, metric="accuracy"))
    memory.learn(_ok("r2", "1", "model", "Use mixed precision.", -40.0, metric="latency_ms"))
    memory.learn(_ok("r3", "1", "model", "Use mixed precision.", 0.04, metric="accuracy"))
    by_metric = {lesson.metric: lesson for lesson in memory.lessons()}
    assert sorted(by_metric) == ["accuracy", "latency_ms"]
    assert by_metric["accuracy"].score_delta == 0.03 and by_metric["accuracy"].confirmations == 1
    assert by_metric["latency_ms"].score_delta == -40.0


def test_experiment_one_of_a_later_run_is_new_evidence(tmp_path: Path, minilm: MiniLMEmbedder) -> None:
    memory = Memory.open(tmp_path / "memory", embedder=minilm)
    memory.learn(_ok("r1", "1", "acc-task", "Increase the batch size to 64.", 0.01))
    memory.learn(_ok("r2", "1", "acc-task", "Increase the batch size to 64.", 0.03))
    [lesson] = memory.lessons()
    assert lesson.confirmations == 1
    assert [(e.run_id, e.experiment_id) for e in lesson.evidence] == [("r1", "1"), ("r2", "1")]


@pytest.mark.parametrize(
    ("log", "reason"),
    [
        (LOG, REASON),
        ("step 3\nusage: train.py [-h] --lr LR", "the evaluator exited with status 2: usage: train.py [-h] --lr LR"),
        ("x\ntorch.cuda.OutOfMemoryError: CUDA out of memory", "the candidate's run stage exited with status 1: "
         "torch.cuda.OutOfMemoryError: CUDA out of memory"),
    ],
)  # fmt: skip
def test_a_log_tail_and_the_verdicts_reason_have_one_signature(log: str, reason: str) -> None:
    assert error_signature("buggy", log) == error_signature("buggy", reason)
    assert not error_signature("buggy", reason).startswith("the ")


def test_a_crash_and_its_fix_are_one_lesson_in_either_wording(tmp_path: Path, minilm: MiniLMEmbedder) -> None:
    memory = Memory.open(tmp_path / "memory", embedder=minilm)
    memory.learn(ExperimentTrace("r1", "1", "t", "buggy", parent_id="0", error_text=LOG, idea="Validate it."))
    fix = ExperimentTrace(
        "r1", "2", "t", "ok", parent_id="1", parent_status="buggy", parent_error=REASON,
        idea="Restore train.py.", diff="-raise\n+pass", metric_delta=0.5,
    )  # fmt: skip
    memory.learn(fix)
    [lesson] = memory.lessons()  # one error, one lesson
    assert lesson.kind is LessonKind.FAILURE and lesson.fix is not None
    assert lesson.fix.startswith("Restore train.py.")
    retry = ExperimentTrace(
        "r1", "4", "t", "buggy", parent_id="3", parent_status="buggy", parent_error=REASON,
        error_text=LOG, idea="Restore train.py.",
    )  # fmt: skip
    memory.learn(retry)
    [after] = memory.lessons()
    assert (after.confirmations, after.contradictions) == (1, 1)  # the known fix was tried and failed


def test_a_printed_credential_is_kept_nowhere_and_forget_takes_the_traces(
    isolated_home: Path, minilm: MiniLMEmbedder
) -> None:
    memory = Memory.open(isolated_home / "knowledge" / "memory", embedder=minilm)
    memory.learn(
        ExperimentTrace("r1", "1", "t", "buggy", parent_id="0", error_text=LOG, idea=f"Print {KEY}.")
    )
    memory.learn(ExperimentTrace("r1", "2", "t", "buggy", parent_id="0", error_text="MemoryError: out"))
    files = [memory.root / "lessons.json", memory.root / "traces.jsonl"]
    assert all(KEY not in path.read_text() for path in files)
    [crash] = [lesson for lesson in memory.lessons() if lesson.signature.startswith("RuntimeError")]
    assert "OPENAI_API_KEY=[credential] None" in crash.signature
    runner = CliRunner()
    listed = runner.invoke(app, ["memory", "list"])
    assert listed.exit_code == 0 and "[credential]" in listed.stdout and KEY not in listed.stdout
    shown = "\n".join(lesson.render() for lesson in memory.relevant("configuration", LOG, task_name="other"))
    assert "RuntimeError: configuration mismatch" in shown and KEY not in shown

    assert "forgot 1" in runner.invoke(app, ["memory", "forget", crash.id]).stdout
    kept = [json.loads(line) for line in (memory.root / "traces.jsonl").read_text().splitlines()]
    assert [(t["run_id"], t["experiment_id"]) for t in kept] == [("r1", "2")]


def test_forget_takes_the_traces_a_lesson_cites_in_lines_written_before_they_named_it(
    tmp_path: Path, minilm: MiniLMEmbedder
) -> None:
    memory = Memory.open(tmp_path / "memory", embedder=minilm)
    [crash] = memory.learn(ExperimentTrace("r1", "1", "t", "buggy", error_text="KeyError: 'lr'"))
    memory.learn(ExperimentTrace("r1", "2", "t", "buggy", error_text="MemoryError: out"))
    traces = memory.root / "traces.jsonl"
    older = [json.loads(line) for line in traces.read_text().splitlines()]
    traces.write_text(
        "".join(json.dumps({k: v for k, v in t.items() if k != "lessons"}) + "\n" for t in older)
    )
    memory.forget([crash.id])
    assert [t.experiment_id for t in memory.traces()] == ["2"]
