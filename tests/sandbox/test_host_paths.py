"""What the proposer reads of a verdict names no host path: every backend binds the throwaway
copy at its host path, and a traceback read `/home/alice/.strop/runs/…/scratch/…/work/run.py`,
sent on to the LLM endpoint with the user's name, strop's home and the run in it."""

from __future__ import annotations

from pathlib import Path

from evaluators.scratch import without_host_paths
from evaluators.verdict import Status
from tests.sandbox.support import final_phase_evaluator, require_backend

RUN = """
import os
print("public at", os.environ["STROP_PUBLIC"], "outputs at", os.environ["STROP_OUTPUTS"])
raise ValueError("the model does not fit")
"""


def test_a_two_stage_verdict_names_the_folders_not_their_host_paths(tmp_path: Path) -> None:
    home = tmp_path / "home-of-alice"
    home.mkdir()
    judge = final_phase_evaluator(
        home,
        {
            "work/run.py": RUN,
            "scorer/score.py": "print(1)\n",
            "public/rows.txt": "a",
            "final_public/rows.txt": "a",
            "private/a": "v",
            "final_private/a": "v",
        },
    )
    verdict = judge.evaluate(home / "work", "0")
    assert verdict.status is Status.BUGGY, verdict
    said = f"{verdict.reason}\n{verdict.feedback}"
    assert 'File "<work>/run.py"' in said and "public at <public> outputs at <outputs>" in said, said
    assert "home-of-alice" not in said and str(tmp_path) not in said, said
    assert str(home) in Path(verdict.log_path).read_text()  # the user's own log keeps them


def test_a_one_stage_verdict_names_the_copy_not_its_host_path(tmp_path: Path) -> None:
    from evaluators.command import CommandEvaluator
    from evaluators.integrity import ProtectedFiles
    from evaluators.spec import EvaluatorSpec

    box = require_backend("bwrap")
    work = tmp_path / "home-of-alice" / "work"
    work.mkdir(parents=True)
    (work / "eval.py").write_text("import os\nprint(os.getcwd())\nraise SystemExit('no score')\n")
    spec = EvaluatorSpec(command="python eval.py", metric="score", direction="maximize", sandbox="bwrap")
    protected = ProtectedFiles.snapshot(work, ["eval.py"], tmp_path / "store")
    verdict = CommandEvaluator(spec, protected, box, tmp_path / "logs", work.parent).evaluate(work, "0")
    assert verdict.status is Status.BUGGY and "<work>" in verdict.feedback, verdict
    assert "home-of-alice" not in f"{verdict.reason}\n{verdict.feedback}", verdict


def test_the_users_home_is_written_as_a_tilde(tmp_path: Path, monkeypatch) -> None:
    """The runtime's frames (`/home/alice/.pyenv/…/json/__init__.py`) still named the user."""
    monkeypatch.setenv("HOME", "/home/alice")
    text = 'File "/home/alice/.pyenv/versions/3.11.7/lib/python3.11/json/__init__.py", line 3; /home/alicex'
    assert without_host_paths(text, tmp_path / "scratch") == (
        'File "~/.pyenv/versions/3.11.7/lib/python3.11/json/__init__.py", line 3; /home/alicex'
    )


def test_only_whole_path_names_are_replaced(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    public = tmp_path / "pub"
    text = f"{scratch}/7-0123456789ab/work/a.py {scratch}/7-0123456789ab {public}/x {public}lic {scratch}x"
    assert without_host_paths(text, scratch, {"public": public}) == (
        f"<work>/a.py <scratch> <public>/x {public}lic {scratch}x"
    )
