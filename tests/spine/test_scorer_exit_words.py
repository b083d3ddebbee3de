"""What a scorer that exits non-zero is said to have done: only a real refusal is a refusal.

A missing scorer command read "the scorer did not accept the outputs: strop-gate: 1: exec:
nosuchscorer: not found" (a missing command called a judgement, and the name of strop's own
shell door shown), and a scorer that printed a valid score then exited 1 read "the scorer did
not accept the outputs: {"loss": 1.94}", without the exit status that made it count for nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.sandbox.support import require_backend
from tests.spine.conftest import Result
from tests.spine.test_odd_tasks import odd_task


def _error(result: Result) -> str:
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.code == 2 and len(errors) == 1, result.stderr
    return " ".join(result.stderr.split())


@pytest.mark.parametrize("backend", ["local", "bwrap"])
def test_a_missing_scorer_command_is_exit_127_with_the_run_stages_hint(
    tmp_path: Path, cli: Callable[..., Result], backend: str
) -> None:
    require_backend(backend)
    task = odd_task(tmp_path)
    text = task.read_text().replace('score = "python -I score.py"', 'score = "nosuchscorer"')
    task.write_text(text.replace('sandbox = "local"', f'sandbox = "{backend}"'))
    said = _error(cli("eval", str(task)))
    assert "the scorer exited with status 127: nosuchscorer: not found" in said, said
    assert "127 is a shell's 'not found'" in said, said
    if backend != "local":
        assert "[evaluator] mounts" in said, said
    assert "did not accept" not in said and "strop-gate" not in said, said


def test_a_scorer_that_prints_a_score_then_exits_1_is_said_to_exit_1(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    task = odd_task(tmp_path, score='import json\nprint(json.dumps({"loss": 1.94}))\nraise SystemExit(1)\n')
    said = _error(cli("eval", str(task)))
    assert 'the scorer exited with status 1 after printing {"loss": 1.94}' in said, said
    assert "did not accept" not in said, said


def test_a_scorer_that_refuses_the_outputs_is_still_a_refusal_with_its_status(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    refuse = 'import sys\nprint("invalid predictions: need a list", file=sys.stderr)\nraise SystemExit(3)\n'
    said = _error(cli("eval", str(odd_task(tmp_path, score=refuse))))
    assert (
        "the scorer did not accept the outputs (it exited with status 3): invalid predictions: need a list"
        in said
    ), said
