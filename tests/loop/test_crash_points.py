"""Crash safety at exact moments: SIGKILL inside one git command of the bookkeeping, then resume.

`test_crash.py` kills at random times; these kill at chosen points, found by the chaos
runs to leave the repo in a state a reader gets wrong. A `git` first on PATH runs the real
git and SIGKILLs the strop process group on the Nth call whose arguments match a pattern,
before or after that call: the moment a real crash can hit, made repeatable.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agent.experiments import ExperimentRepo
from agent.home import strop_home
from agent.loop.audit import audit_run
from agent.run_index import RunIndex

from .conftest import make_task

STROP = [sys.executable, "-c", "from agent.cli import main; main()"]
ROOT = Path(__file__).resolve().parents[2]

KILLER = """#!/bin/sh
# the real git, but the Nth call matching $KILL_PATTERN SIGKILLs the caller's process group
case "$*" in
  *"$KILL_PATTERN"*)
    n=$(( $(cat "$KILL_COUNTER" 2>/dev/null || echo 0) + 1 )); echo $n > "$KILL_COUNTER"
    if [ "$n" = "$KILL_AT" ]; then
      [ "$KILL_WHEN" = after ] && "$REAL_GIT" "$@"
      kill -9 -$(ps -o pgid= $$ | tr -d ' ')
    fi ;;
esac
exec "$REAL_GIT" "$@"
"""


def _strop(args: list[str], tmp_path: Path, kill: tuple[str, int, str] | None = None, **extra: str) -> int:
    """Run `strop ARGS` in a session of its own; with `kill`, under the killing git. Its exit code."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **extra}
    if kill is not None:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir(exist_ok=True)
        wrapper = bin_dir / "git"
        wrapper.write_text(KILLER)
        wrapper.chmod(0o755)
        pattern, at, when = kill
        env.update(
            PATH=f"{bin_dir}:{env['PATH']}",
            REAL_GIT=shutil.which("git") or "git",
            KILL_PATTERN=pattern,
            KILL_AT=str(at),
            KILL_WHEN=when,
            KILL_COUNTER=str(tmp_path / "counter"),
        )
    done = subprocess.run(
        [*STROP, *args, "--quiet"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        start_new_session=True,
        timeout=240,
    )
    return done.returncode


def _branches_and_notes(run_id: str) -> dict[int, int | None]:
    """Each experiment branch's number → the experiment id its tip's note names (None: no note)."""
    home = strop_home()
    index = RunIndex(home)
    repo = ExperimentRepo.open(Path(index.find_run(run_id).repo), home)
    listing = repo.git.for_each_ref("--format=%(refname:short) %(objectname)", f"refs/heads/strop/{run_id}/")
    found: dict[int, int | None] = {}
    for line in listing.splitlines():
        branch, commit = line.split()
        note = repo.git.notes("--ref=strop", "show", commit, with_exceptions=False)
        found[int(branch.rsplit("/", 1)[1])] = json.loads(note)["id"] if note else None
    return found


@pytest.mark.parametrize(
    ("pattern", "at", "when"),
    [
        # (the folder's sync is commit 1; experiment 0's commit is 2 and its notes 1 and 2)
        (" commit ", 3, "before"),  # experiment 1's branch was made at experiment 0's commit
        (" commit ", 4, "after"),  # experiment 2 committed on its branch, its record not yet written
        ("notes --ref=strop add", 3, "before"),  # the same, killed at the note itself
    ],
)
def test_a_kill_in_the_commit_never_leaves_a_branch_that_names_another_experiment(
    tmp_path: Path, pattern: str, at: int, when: str
) -> None:
    """Between creating experiment N's branch and writing its note, a branch `strop/R/N` used to
    point at its parent's commit: git then held two records of the parent (`read_records` listed
    it twice; `strop reindex` and `adopt R/N` took the parent for N), until a resume re-committed.
    A branch must appear only once its commit and record exist."""
    task = make_task(tmp_path / "t", experiments=5)
    assert _strop(["run", str(task)], tmp_path, kill=(pattern, at, when)) == -signal.SIGKILL
    home = strop_home()
    run_id = RunIndex(home).runs()[0].id
    branches = _branches_and_notes(run_id)
    assert all(named == number for number, named in branches.items()), branches
    records = ExperimentRepo.open(Path(RunIndex(home).find_run(run_id).repo), home).read_records(run_id)
    ids = [record.id for record in records]
    assert ids == list(range(len(ids))), ids
    assert _strop(["resume", run_id], tmp_path) == 0
    assert audit_run(run_id, home, RunIndex(home), evaluated=5) == []


def test_a_killed_run_never_leaves_git_maintenance_running_in_the_repo(tmp_path: Path) -> None:
    """Every `git commit` started git's auto maintenance, which holds `objects/maintenance.lock`;
    a SIGKILL of the run then left the lock behind (the chaos runs found one), and git skips
    maintenance for good while it exists. strop's commands start none; the run's end does one
    `gc --auto`, whose lock git knows to be stale after a crash."""
    task = make_task(tmp_path / "t", experiments=5)
    trace = tmp_path / "trace"
    killed = _strop(
        ["run", str(task)], tmp_path, kill=("notes --ref=strop add", 6, "before"), GIT_TRACE=str(trace)
    )
    assert killed == -signal.SIGKILL
    started = [line for line in trace.read_text().splitlines() if "run_command" in line]
    assert not [line for line in started if "maintenance" in line or " gc " in line], started[:5]
    run_id = RunIndex(strop_home()).runs()[0].id
    assert _strop(["resume", run_id], tmp_path) == 0
    assert audit_run(run_id, strop_home(), RunIndex(strop_home()), evaluated=5) == []


def test_a_run_killed_as_it_is_recorded_is_listed_and_resumed_as_asked(tmp_path: Path) -> None:
    """Killed after its record reached git but before the index (or its `-n` reached the run
    folder), a run could not be listed or resumed (only `strop reindex` found it, and a resume
    forgot the command line's budget). The next `strop run` in the repo lists it again."""
    task = make_task(tmp_path / "t", experiments=5)
    killed = _strop(["run", str(task), "-n", "3"], tmp_path, kill=("update-ref refs/strop/runs", 1, "after"))
    assert killed == -signal.SIGKILL
    assert RunIndex(strop_home()).runs() == []
    assert _strop(["run", str(task), "-n", "3"], tmp_path) == 0
    runs = RunIndex(strop_home()).runs()
    assert len(runs) == 2, [run.id for run in runs]
    orphan = next(run for run in runs if run.status == "running")
    assert _strop(["resume", orphan.id], tmp_path) == 0
    for run in runs:
        assert audit_run(run.id, strop_home(), RunIndex(strop_home()), evaluated=3) == [], run.id


def test_a_kill_after_the_run_is_recorded_done_keeps_its_budget_line(tmp_path: Path) -> None:
    """The run's end and its budget line were two writes of the run record; killed between
    them, the run said `done` (so `strop resume` refuses it) and `strop log` had no budget line."""
    task = make_task(tmp_path / "t", experiments=3)
    # run records: the start (1), the end (2), the budget line (3, when it was a write of its own)
    assert _strop(["run", str(task)], tmp_path, kill=("commit-tree", 3, "after")) in (0, -signal.SIGKILL)
    home = strop_home()
    run = RunIndex(home).runs()[0]
    stored = ExperimentRepo.open(Path(run.repo), home).read_run(run.id)
    if stored.status == "running":  # killed before the end reached git: resume finishes it
        assert _strop(["resume", run.id], tmp_path) == 0
        stored = ExperimentRepo.open(Path(run.repo), home).read_run(run.id)
    assert stored.status == "done"
    assert stored.budget_report.startswith("experiments: 3 of 3"), stored.budget_report
    assert audit_run(run.id, home, RunIndex(home), evaluated=3) == []


def test_a_kill_between_the_runs_end_in_git_and_in_the_index_is_healed_by_resume(tmp_path: Path) -> None:
    """Killed after git recorded the run's end but before the index did, the run was `done` for
    `strop resume` (which refused it) and `running`, with no best, for `strop runs` and `log`, for good."""
    task = make_task(tmp_path / "t", experiments=3)
    killed = _strop(["run", str(task)], tmp_path, kill=("update-ref refs/strop/runs", 2, "after"))
    assert killed == -signal.SIGKILL
    home = strop_home()
    run_id = RunIndex(home).runs()[0].id
    assert _strop(["resume", run_id], tmp_path) == 2  # it has ended: nothing to continue
    indexed = RunIndex(home).find_run(run_id)
    assert indexed.status == "done" and indexed.best is not None
    assert audit_run(run_id, home, RunIndex(home), evaluated=3) == []


FORK_SIGINT = """
import os, signal
_forks = [0]
def _after_fork_in_parent():
    _forks[0] += 1
    if _forks[0] == int(os.environ["SIGINT_AT_FORK"]):
        open(os.environ["SIGINT_SENT"], "w").close()
        os.kill(os.getpid(), signal.SIGINT)  # its handler runs here, inside the fork callback
os.register_at_fork(after_in_parent=_after_fork_in_parent)
"""


def test_a_ctrl_c_that_lands_in_a_fork_still_stops_the_run(tmp_path: Path) -> None:
    """A SIGINT handled inside an at-fork callback raises KeyboardInterrupt where CPython drops
    it ("Exception ignored"): the chaos runs saw `strop run` ignore such a Ctrl-C and spend its
    whole budget. Here the 10th fork with callbacks (a sandboxed stage's: `preexec_fn`) delivers
    SIGINT from inside the callback."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(FORK_SIGINT)
    task = make_task(tmp_path / "t", experiments=40)
    sent = tmp_path / "sent"
    env = {**os.environ, "PYTHONPATH": f"{hook}:{ROOT}", "SIGINT_AT_FORK": "10", "SIGINT_SENT": str(sent)}
    done = subprocess.run(
        [*STROP, "run", str(task), "--quiet"], cwd=ROOT, env=env, capture_output=True, timeout=240
    )
    assert sent.exists()
    assert done.returncode == 130, done.stderr.decode()[-1000:]
    home = strop_home()
    run = RunIndex(home).runs()[0]
    assert run.status == "running"  # stopped where it was: resumable
    assert _strop(["resume", run.id], tmp_path) == 0
    assert audit_run(run.id, home, RunIndex(home), evaluated=40) == []
