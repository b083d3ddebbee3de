"""Adopting into a plain folder that holds links: links are compared and written as links.

A folder holding any link could never be adopted: strop records a link as a link (git keeps
its target's name), but the check that the folder is unchanged read through it, so every such
folder had "changed since strop last recorded it". Writing the result into the folder went
through the links too: a link to a file outside the folder had that file overwritten with the
link's target name and its mode set to 000.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from agent.adoption import adopt
from agent.errors import WorkspaceError
from agent.experiments import MANAGED_BRANCH, ExperimentRepo
from agent.home import strop_home
from agent.records import ExperimentRecord
from agent.run import Candidate, Run
from agent.run_index import RunIndex
from agent.task import load_task
from tests.spine.conftest import crafted_commit, git, plain_folder_task


def _linked_folder(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A plain-folder task whose folder links to a file in it, to a folder in it, and to a file outside it."""
    folder, task = plain_folder_task(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "host.txt").write_text("the user's own file\n")
    (folder / "data.csv").write_text("a,b\n")
    (folder / "lib").mkdir()
    (folder / "lib" / "util.py").write_text("X = 1\n")
    (folder / "data").symlink_to("data.csv")
    (folder / "tools").symlink_to("lib")
    (folder / "host").symlink_to(outside / "host.txt")
    return folder, task, outside


def _run(task: Path, *changes: dict[str, str | None]) -> tuple[Run, list[ExperimentRecord]]:
    run = Run.start(load_task(task), strop_home(), RunIndex(strop_home()))
    base = run.evaluate(run.commit_candidate(0, None, Candidate("baseline")))
    records = [
        run.evaluate(run.commit_candidate(n, base, Candidate(f"c{n}", files=files)))
        for n, files in enumerate(changes, 1)
    ]
    run.finish()
    return run, records


def test_a_folder_with_links_is_adopted_and_its_links_stay_links(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    folder, task, outside = _linked_folder(tmp_path)
    run, _ = _run(task, {"v": "1"})
    result = cli("adopt", f"{run.record.id}/1")
    assert result.code == 0, result.stderr
    assert "wrote v" in " ".join(result.stdout.split()), result.stdout
    assert (folder / "v").read_text() == "1"
    assert os.readlink(folder / "data") == "data.csv" and (folder / "data.csv").read_text() == "a,b\n"
    assert os.readlink(folder / "tools") == "lib"
    assert os.readlink(folder / "host") == str(outside / "host.txt")
    host = outside / "host.txt"
    assert host.read_text() == "the user's own file\n" and host.stat().st_mode & 0o777 == 0o644
    again = cli("adopt", f"{run.record.id}/1")
    assert again.code == 0 and "no file changed" in " ".join(again.stdout.split()), again.stdout


@pytest.mark.parametrize(
    "change",
    ["repointed", "repointed-outside", "made-a-file"],
)
def test_a_link_changed_since_the_run_is_a_change(tmp_path: Path, cli, change: str) -> None:  # type: ignore[no-untyped-def]
    folder, task, outside = _linked_folder(tmp_path)
    run, _ = _run(task, {"v": "1"})
    (folder / "data").unlink()
    if change == "repointed":
        (folder / "data").symlink_to("v")  # another file the folder holds: the same names, one link moved
    elif change == "repointed-outside":
        (folder / "data").symlink_to(outside / "host.txt")
    else:
        (folder / "data").write_text("data.csv")  # a file holding the link's target name, byte for byte
    result = cli("adopt", f"{run.record.id}/1")
    assert result.code == 2 and "changed since strop last recorded it" in result.stderr, result
    assert (folder / "v").read_text() == "3"


def test_an_experiment_is_never_written_through_a_link_leading_out(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """`.venv` is left out of strop's copy, so the folder's link is no file of the experiment's."""
    folder, task, outside = _linked_folder(tmp_path)
    (folder / ".venv").symlink_to(outside)
    run, _ = _run(task, {"v": "1", ".venv/planted.py": "import os\n"})
    result = cli("adopt", f"{run.record.id}/1")
    assert result.code == 2 and "through the link .venv" in result.stderr, result
    assert not (outside / "planted.py").exists()
    assert (folder / "v").read_text() == "3"


def _with_link(repo: ExperimentRepo, commit: str, name: str, target: str) -> str:
    """A commit on top of `commit` that adds the link `name -> target` (as an older strop or a hand could make)."""
    return crafted_commit(repo.path, commit, {name: ("120000", target)})


def test_an_experiment_s_links_are_written_as_links_and_none_may_lead_out(tmp_path: Path) -> None:
    folder, task, outside = _linked_folder(tmp_path)
    run, (record,) = _run(task, {"v": "1"})
    repo = ExperimentRepo.open(run.repo.path, strop_home())
    leaving = dataclasses.replace(
        record, commit=_with_link(repo, record.commit, "out", str(outside / "host.txt"))
    )
    recorded = git(repo.path, "rev-parse", MANAGED_BRANCH)
    with pytest.raises(WorkspaceError, match="a link to .*outside"):
        adopt(repo, leaving, squash=False)
    assert not (folder / "out").exists() and not (folder / "out").is_symlink()
    assert (folder / "v").read_text() == "3", "nothing was written"
    assert git(repo.path, "rev-parse", MANAGED_BRANCH) == recorded, "nor recorded as written"
    sideways = dataclasses.replace(record, commit=_with_link(repo, record.commit, "again", "host"))
    with pytest.raises(WorkspaceError, match="outside"):  # `host` is in the folder, but it leads out
        adopt(repo, sideways, squash=False)
    inside = dataclasses.replace(record, commit=_with_link(repo, record.commit, "alias", "v"))
    assert "wrote alias, v" in adopt(repo, inside, squash=False)
    assert os.readlink(folder / "alias") == "v" and (folder / "v").read_text() == "1"
    assert (outside / "host.txt").read_text() == "the user's own file\n"
