"""What `strop adopt` says it did into a plain folder (no git there): the files it wrote and removed.

It said "merged strop/RUN/N's changes into /folder", though no merge happens in the folder:
the merge is done in strop's managed copy, and the result written into the folder as files.
"""

from __future__ import annotations

from pathlib import Path

from agent.home import strop_home
from agent.run import Candidate, Run
from agent.run_index import RunIndex
from agent.task import load_task
from tests.spine.conftest import plain_folder_task


def test_adopting_into_a_plain_folder_names_the_files_written_and_removed(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    folder, task = plain_folder_task(tmp_path)
    (folder / "old.txt").write_text("to go")
    run = Run.start(load_task(task), strop_home(), RunIndex(strop_home()))
    base = run.evaluate(run.commit_candidate(0, None, Candidate("baseline")))
    change = Candidate("lower", files={"v": "1", "old.txt": None, "new.txt": "hello"})
    run.evaluate(run.commit_candidate(1, base, change))
    run.finish()
    result = cli("adopt", f"{run.record.id}/1")
    assert result.code == 0, result.stderr
    words = " ".join(result.stdout.split())
    assert "merged" not in words, words
    assert f"applied strop/{run.record.id}/1 to" in words and "no git merge" in words, words
    assert "wrote new.txt, v" in words and "removed old.txt" in words, words
    assert (
        (folder / "v").read_text() == "1"
        and (folder / "new.txt").exists()
        and not (folder / "old.txt").exists()
    )
    again = cli("adopt", f"{run.record.id}/1")
    assert again.code == 0 and "no file changed" in " ".join(again.stdout.split()), again.stdout


def test_adopting_into_a_folder_that_is_gone_says_so(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """It said the folder "has changed since strop last recorded it: run `strop eval`", which
    cannot help a folder that was moved away."""
    folder, task = plain_folder_task(tmp_path)
    run = Run.start(load_task(task), strop_home(), RunIndex(strop_home()))
    base = run.evaluate(run.commit_candidate(0, None, Candidate("baseline")))
    run.evaluate(run.commit_candidate(1, base, Candidate("lower", files={"v": "1"})))
    run.finish()
    folder.rename(tmp_path / "moved")
    result = cli("adopt", f"{run.record.id}/1")
    assert result.code == 2, result.stderr
    assert f"the workspace {folder} does not exist (moved or deleted): nothing was adopted" in result.stderr
    assert not folder.exists()


def test_adopting_an_unscored_experiment_says_so_and_a_tampered_one_is_refused(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """A buggy experiment was adopted with no word; a tampered one (it changed the evaluator's own
    protected files) would have brought that change into the user's branch."""
    from dataclasses import replace

    from evaluators.verdict import Status

    folder, task = plain_folder_task(tmp_path)
    run = Run.start(load_task(task), strop_home(), RunIndex(strop_home()))
    base = run.evaluate(run.commit_candidate(0, None, Candidate("baseline")))
    broken = run.evaluate(run.commit_candidate(1, base, Candidate("broken", files={"v": "not a number"})))
    run.finish()
    assert broken.status is not Status.OK
    adopted = cli("adopt", f"{run.record.id}/1")
    assert adopted.code == 0, adopted.stderr
    assert f"note: experiment {run.record.id}/1 was never scored ({broken.status.value}" in adopted.stderr
    from agent.adoption import adopt
    from agent.errors import WorkspaceError
    from agent.experiments import ExperimentRepo

    repo = ExperimentRepo.open(Path(run.record.repo), strop_home())
    try:
        adopt(repo, replace(broken, status=Status.TAMPERED), squash=False)
    except WorkspaceError as error:
        assert "changed the evaluator's protected files and was never scored" in str(error)
    else:
        raise AssertionError("a tampered experiment was adopted")


def test_adopting_into_a_folder_changed_since_it_was_recorded_names_the_changes(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """It said only "has changed since strop last recorded it": a user who had edited task.toml's
    budget inside the workspace could not tell which file blocked the adoption."""
    folder, task = plain_folder_task(tmp_path)
    run = Run.start(load_task(task), strop_home(), RunIndex(strop_home()))
    base = run.evaluate(run.commit_candidate(0, None, Candidate("baseline")))
    run.evaluate(run.commit_candidate(1, base, Candidate("lower", files={"v": "1"})))
    run.finish()
    (folder / "v").write_text("7")
    (folder / "notes.txt").write_text("mine")
    result = cli("adopt", f"{run.record.id}/1")
    assert result.code == 2, result.stderr
    words = " ".join(result.stderr.split())
    assert "has changed since strop last recorded it (notes.txt, v): run `strop eval`" in words, words
    assert (folder / "v").read_text() == "7" and (folder / "notes.txt").read_text() == "mine"


def test_run_slash_best_names_the_runs_best_experiment(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """`strop adopt RUN/best` was "not an experiment": the user had to read the table for N."""
    folder, task = plain_folder_task(tmp_path)
    run = Run.start(load_task(task), strop_home(), RunIndex(strop_home()))
    nothing = cli("show", f"{run.record.id}/best")
    assert nothing.code == 2 and f"run {run.record.id} has no scored experiment yet" in nothing.stderr
    base = run.evaluate(run.commit_candidate(0, None, Candidate("baseline")))
    run.evaluate(run.commit_candidate(1, base, Candidate("lower", files={"v": "1"})))
    run.evaluate(run.commit_candidate(2, base, Candidate("higher", files={"v": "5"})))
    run.finish()
    shown = cli("show", f"{run.record.id}/best")
    assert shown.code == 0 and f"{run.record.id}/1" in shown.stdout.split("\n", 1)[0], shown.stdout
    adopted = cli("adopt", "best")  # the latest run's best
    assert adopted.code == 0, adopted.stderr
    assert (folder / "v").read_text() == "1"
