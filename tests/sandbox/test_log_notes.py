"""Each stage's log says which limits held for it: the README sends users to a run's notes
(`memory: a cgroup …` or `memory: a watchdog …`, `syscalls: …`), and the sandbox's notes were
made for every command, then dropped before the log was written."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.domains.mle.final_failure import read_stages
from evaluators.verdict import Status
from tests.sandbox.support import final_phase_evaluator


@pytest.mark.parametrize("backend", ["bwrap", "docker"])
def test_both_stages_logs_name_the_memory_limit_and_the_syscall_filter(tmp_path: Path, backend: str) -> None:
    """bwrap says which of its two memory holds it had; docker's is always Docker's cgroup."""
    judge = final_phase_evaluator(
        tmp_path,
        {
            "work/run.py": "print('ran')\n",
            "scorer/score.py": "print('{\"rows\": 1}')\n",
            "public/rows.txt": "a",
            "final_public/rows.txt": "a",
            "private/a": "v",
            "final_private/a": "v",
        },
        backend=backend,
    )
    verdict = judge.evaluate(tmp_path / "work", "0")
    assert verdict.status is Status.OK, verdict
    log = Path(verdict.log_path).read_text()
    for stage in ("run", "score"):
        block = log[log.index(f"# stage {stage}") :].split("--- stdout ---")[0]
        notes = [line for line in block.splitlines() if line.startswith("# note: ")]
        if backend == "bwrap":
            assert any(line.startswith("# note: memory: ") for line in notes), block
        assert any(line.startswith("# note: syscalls: ") for line in notes), block
    # the notes sit between a stage's status line and its output: the log's readers still find both
    assert [stage.name for stage in read_stages(Path(verdict.log_path))] == ["run", "score"]
