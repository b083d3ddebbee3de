"""Failing regions steer only runs of the code they were learned on (red-team finding).

Real git (a managed workspace repo), real local sandbox, real `knowledge.Memory` on disk:
a run of code that crashes for x > 0.6 learns the region; a new run of the same code is
steered out of it, a run after the user fixed the code is not (it scores at x = 1, inside
the old region), and traces written before fingerprints existed do not steer it either.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from agent.home import strop_home
from agent.loop.memory import KnowledgeMemory
from agent.records import ExperimentRecord
from agent.run import Candidate, Run
from agent.run_index import RunIndex
from agent.space import Space
from agent.task import Task, load_task
from evaluators.verdict import Status
from knowledge.embedder import HashingEmbedder
from knowledge.memory import Memory

from .conftest import make_task

BUGGY = textwrap.dedent(
    """
    import json
    p = json.load(open("params.json"))
    if p["x"] > 0.6:
        raise RuntimeError("unstable solver: x=%s" % p["x"])
    print(json.dumps({"score": -(p["x"] - 1) ** 2}))
    """
)
FIXED = BUGGY.replace('if p["x"] > 0.6:\n    raise', 'if p["x"] > 99:\n    raise')


def _evaluate(run: Run, exp: int, base: ExperimentRecord | None, x: float) -> ExperimentRecord:
    """Experiment `exp` of `run` at point x, evaluated in the sandbox (the baseline without a base)."""
    if base is None:
        return run.evaluate(run.commit_candidate(exp, None, Candidate("baseline")))
    point = {"x": x, "n": 2, "mode": "a"}
    files = Space.from_task(run.task).materialise(
        point, run.repo.lane(run.record.id, 0), run.task.spec.proposer
    )
    candidate = Candidate(idea=f"try x={x}", files=files, proposer="scripted", params=point)
    return run.evaluate(run.commit_candidate(exp, base, candidate))


def _loop_memory(task: Task, memory: Memory) -> tuple[Run, KnowledgeMemory]:
    run = Run.start(task, strop_home(), RunIndex(strop_home()))
    loop_memory = KnowledgeMemory(task, memory, None, run)
    assert loop_memory.wait(30)
    return run, loop_memory


def _learn_the_crash_region(task: Task, memory: Memory) -> None:
    run, loop_memory = _loop_memory(task, memory)
    base = _evaluate(run, 0, None, 0.0)
    for exp, x in enumerate([-1.0, 0.5, 0.8, 0.9, 2.0], start=1):
        record = _evaluate(run, exp, base, x)
        assert record.status is (Status.OK if x <= 0.6 else Status.BUGGY), record.reason
        loop_memory.learn(record, None, Path(record.log_path).read_text())
    [rule] = loop_memory.exclusions()
    assert rule.text.startswith("not (x >= 0.6") and "crashes in" in rule.origin


def test_regions_of_changed_code_do_not_steer_and_of_the_same_code_do(tmp_path: Path) -> None:
    task_file = make_task(tmp_path / "t", rules=[], params={"x": 0.0, "n": 2, "mode": "a"})
    (task_file.parent / "evaluate.py").write_text(BUGGY)
    memory = Memory.open(tmp_path / "memory", embedder=HashingEmbedder())
    _learn_the_crash_region(load_task(task_file), memory)

    task_text = task_file.read_text()
    task_file.write_text(task_text.replace("experiments = 6", "experiments = 9"))  # a new budget
    _, same_code = _loop_memory(load_task(task_file), memory)
    [rule] = same_code.exclusions()  # the same code is still steered
    assert rule.text.startswith("not (x >= 0.6")

    (task_file.parent / "evaluate.py").write_text(FIXED)  # the user fixes the bug
    fixed_run, fixed_code = _loop_memory(load_task(task_file), memory)
    assert fixed_code.exclusions() == []
    assert fixed_code.fingerprint != same_code.fingerprint
    base = _evaluate(fixed_run, 0, None, 0.0)
    best = _evaluate(fixed_run, 1, base, 1.0)  # inside the old region: the best point now
    assert best.status is Status.OK and best.metrics["score"] == 0.0


def test_traces_without_a_fingerprint_keep_working_but_never_steer_a_fingerprinted_run(
    tmp_path: Path,
) -> None:
    task_file = make_task(tmp_path / "t", rules=[], params={"x": 0.0, "n": 2, "mode": "a"})
    (task_file.parent / "evaluate.py").write_text(BUGGY)
    memory = Memory.open(tmp_path / "memory", embedder=HashingEmbedder())
    _learn_the_crash_region(load_task(task_file), memory)
    traces = memory.root / "traces.jsonl"
    older = [
        {k: v for k, v in json.loads(line).items() if k != "fingerprint"}
        for line in traces.read_text().splitlines()
    ]
    traces.write_text("".join(json.dumps(item) + "\n" for item in older))  # as strop wrote them before

    assert all(trace.fingerprint is None for trace in memory.traces("tiny"))
    assert len(memory.failing_regions("tiny")) == 1  # read, and used by a caller without a fingerprint
    _, loop_memory = _loop_memory(load_task(task_file), memory)
    assert loop_memory.fingerprint is not None and loop_memory.exclusions() == []


def test_a_task_without_mounts_keeps_the_fingerprint_its_earlier_runs_recorded(tmp_path: Path) -> None:
    """`[evaluator] mounts` came after runs were fingerprinted: while empty it is left out of what
    the digest reads (in it, every task's fingerprint changed, and the failing regions learned
    before stopped steering); a mount set is part of the evaluator and changes it."""
    from agent.loop.fingerprint import evaluator_identity, run_fingerprint

    task_file = make_task(tmp_path / "t")
    before = run_fingerprint(load_task(task_file))
    assert "mounts" not in json.loads(evaluator_identity(load_task(task_file)))
    text = task_file.read_text().replace("[evaluator]\n", f'[evaluator]\nmounts = ["{tmp_path}"]\n', 1)
    task_file.write_text(text)
    assert json.loads(evaluator_identity(load_task(task_file)))["mounts"] == [str(tmp_path)]
    assert run_fingerprint(load_task(task_file)) != before
