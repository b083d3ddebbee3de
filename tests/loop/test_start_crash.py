"""A run killed or refused as it starts: nothing of it is left that no command lists or removes.

Lane 0's worktree and the evaluator's snapshot used to be made before the run was recorded:
a SIGKILL in between left a worktree registered in the user's own repo and a copy of the
evaluator files that no run owned (`strop runs` empty, `strop resume` "no run"). The run is
now recorded first, so it is listed as interrupted and its resume finishes it, lanes and all.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from filelock import FileLock

from agent.errors import UserError
from agent.home import strop_home
from agent.loop.audit import audit_run
from agent.report.data import is_interrupted
from agent.run import Run
from agent.run_index import RunIndex
from agent.task import load_task

from .conftest import make_task
from .test_crash_points import _strop


def _git(path: Path, *args: str) -> str:
    command = ["git", "-C", str(path), "-c", "user.name=u", "-c", "user.email=u@x", *args]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def _git_task(root: Path, experiments: int = 3) -> Path:
    """The tiny task in a git repo of its own: strop works in it in place (its lanes are the user's worktrees)."""
    task = make_task(root, experiments=experiments)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "init")
    return task


def _worktrees(repo: Path) -> list[str]:
    return [
        line
        for line in _git(repo, "worktree", "list", "--porcelain").splitlines()
        if line.startswith("worktree ")
    ]


def test_a_kill_as_lane_0_is_made_leaves_a_run_that_is_listed_and_resumed(tmp_path: Path) -> None:
    task = _git_task(tmp_path / "t")
    killed = _strop(["run", str(task), "-n", "2"], tmp_path, kill=("worktree add", 1, "after"))
    assert killed == -signal.SIGKILL
    assert len(_worktrees(task.parent)) == 2, "the kill came after lane 0 was registered in the user's repo"
    home = strop_home()
    runs = RunIndex(home).runs()
    assert [run.status for run in runs] == ["running"], "the run was not recorded: nothing listed it"
    assert is_interrupted(runs[0], home)  # `strop runs` says so, and how to continue
    assert _strop(["resume", runs[0].id], tmp_path) == 0
    assert _worktrees(task.parent) == [f"worktree {task.parent}"]
    assert audit_run(runs[0].id, home, RunIndex(home), evaluated=2) == []  # `-n 2` was kept too


def test_a_run_that_fails_to_start_leaves_no_folder_ref_or_index_entry(tmp_path: Path) -> None:
    """Refused at its start (an evaluator file that matches nothing), a run leaves nothing behind:
    its folder (which may hold a copy of the private data) went on living with no run to own it."""
    task = _git_task(tmp_path / "t")
    text = task.read_text().replace('files = ["evaluate.py"]', 'files = ["evaluate.py", "missing.py"]')
    task.write_text(text)
    _git(task.parent, "commit", "-qam", "a missing evaluator file")
    home = strop_home()
    with pytest.raises(UserError, match="matches no file"):
        Run.start(load_task(task), home, RunIndex(home))
    assert list((home / "runs").iterdir()) == []
    assert RunIndex(home).runs() == []
    assert _git(task.parent, "for-each-ref", "refs/strop/") == ""
    assert _worktrees(task.parent) == [f"worktree {task.parent}"]


def test_a_run_another_process_is_still_starting_is_not_indexed_by_a_new_run(tmp_path: Path) -> None:
    """Recorded in git but not yet indexed, a run whose runner lock is held is being started:
    a second `strop run` in the repo must leave it alone (it indexes only the killed ones)."""
    task = load_task(_git_task(tmp_path / "t"))
    home = strop_home()
    index = RunIndex(home)
    starting = Run.start(task, home, index)
    starting.runner_lock.release(force=True)
    index.forget_run(starting.record.id)  # as between its record in git and in the index
    with FileLock(str(starting.folder / "runner.lock"), timeout=0):  # another process, starting it
        Run.start(task, home, index)
        assert starting.record.id not in index.run_ids()
    Run.start(task, home, index)  # now nobody holds it: a killed start, indexed to be resumed
    assert starting.record.id in index.run_ids()
