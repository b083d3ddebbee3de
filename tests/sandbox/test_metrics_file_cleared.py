"""A metrics file counts only when the stage that writes it wrote it in this evaluation.

The two-stage forgery (a file left in the scorer's folder) is tested end to end in
tests/redteam/test_hostile_candidates.py; these check the removal itself: in the copy only,
never through a link out of it.
"""

from __future__ import annotations

from pathlib import Path

from evaluators.command import clear_metrics_file
from evaluators.spec import EvaluatorSpec


def _spec(metrics_file: str) -> EvaluatorSpec:
    return EvaluatorSpec(
        command="python eval.py", metric="score", direction="maximize", metrics_file=metrics_file
    )


def test_the_file_is_removed_from_the_copy_and_a_folder_of_that_name_is_not(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "metrics.json").write_text('{"score": 1.0}')
    clear_metrics_file(_spec("out/metrics.json"), tmp_path)
    assert not (tmp_path / "out" / "metrics.json").exists() and (tmp_path / "out").is_dir()
    (tmp_path / "metrics.json").mkdir()
    (tmp_path / "metrics.json" / "x").write_text("1")
    clear_metrics_file(_spec("metrics.json"), tmp_path)
    assert (tmp_path / "metrics.json" / "x").exists()  # reading it fails, saying it is no file


def test_nothing_is_removed_through_a_link_out_of_the_copy(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "metrics.json").write_text("the user's file")
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "out").symlink_to(outside)
    clear_metrics_file(_spec("out/metrics.json"), copy)
    assert (outside / "metrics.json").read_text() == "the user's file"
    (copy / "metrics.json").symlink_to(outside / "metrics.json")
    clear_metrics_file(_spec("metrics.json"), copy)
    assert not (copy / "metrics.json").is_symlink() and (outside / "metrics.json").exists()


def test_a_one_stage_evaluator_does_not_read_a_committed_metrics_file(tmp_path: Path) -> None:
    """A workspace that committed a metrics.json, and an evaluator that failed to write one."""
    from evaluators.command import CommandEvaluator
    from evaluators.integrity import ProtectedFiles
    from evaluators.verdict import Status
    from sandbox import open_sandbox
    from tests.sandbox.support import require_backend

    require_backend("bwrap")
    work = tmp_path / "work"
    work.mkdir()
    (work / "eval.py").write_text("print('nothing measured')\n")
    (work / "metrics.json").write_text('{"score": 1.0}')
    spec = EvaluatorSpec(
        command="python eval.py",
        metric="score",
        direction="maximize",
        metrics_file="metrics.json",
        sandbox="bwrap",
    )
    protected = ProtectedFiles.snapshot(work, ["eval.py"], tmp_path / "store")
    evaluator = CommandEvaluator(spec, protected, open_sandbox("bwrap"), tmp_path / "logs", tmp_path)
    verdict = evaluator.evaluate(work, "0")
    assert verdict.status is Status.BUGGY and "metrics file 'metrics.json'" in (verdict.reason or ""), verdict
    assert (work / "metrics.json").read_text() == '{"score": 1.0}'  # removed from the throwaway copy only


def test_a_metrics_file_that_names_a_folder_is_refused() -> None:
    """`metrics_file = "."` passed the check, and clearing it before a stage removed the whole copy."""
    import pytest
    from pydantic import ValidationError

    for name in (".", "out/", "out/."):
        with pytest.raises(ValidationError, match="names a folder, not a file"):
            _spec(name)
