"""`strop rm`: old runs go from the home, the index and the experiment repo; nothing else does.

Real runs (the real CLI, or the Run API where a live run or an adopt is needed), real git,
the real index. What must hold: another run stays listed, logged and whole; `strop reindex`
does not bring a removed run back; a running run is refused while the others go; `--dry-run`
and a refusal change nothing; the user's own branches, HEAD and an adopted commit stay; a
removal cut short leaves a listable home and is finished by `strop rm` again.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.errors import UserError
from agent.home import strop_home
from agent.nightly.history import History, NightRecord
from agent.run import Candidate, Run
from agent.run_index import RunIndex
from agent.run_removal import parse_age, plan, remove, select
from agent.task import load_task
from tests.spine.conftest import Result, Workspace, git, plain_folder_task


def _strop(*args: str) -> Result:
    """The real CLI with no terminal on stdin (as under cron or a script)."""
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def _eval(task: Path) -> str:
    """A finished run (experiment 0, scored), made by `strop eval`; its id."""
    done = _strop("eval", str(task), "--json")
    assert done.code == 0, done.stderr
    return json.loads(done.stdout)["run"]


def _listed() -> list[str]:
    done = _strop("runs", "--json")
    assert done.code == 0, done.stderr
    return [run["id"] for run in json.loads(done.stdout)]


def _refs(repo: Path) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname) %(objectname)").splitlines()


def _notes(repo: Path) -> list[str]:
    return git(repo, "notes", "--ref=strop", "list").splitlines()


def _home_files() -> list[str]:
    home = strop_home()
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if "index.sqlite" not in p.name)


def _improved(ws: Workspace, value: str = "0.9") -> Run:
    """A finished run whose experiment 1 writes `value`; its runner lock let go, as at its process's end."""
    run = Run.start(load_task(ws.task), strop_home(), RunIndex(strop_home()))
    base = run.evaluate(run.commit_candidate(0, None, Candidate("baseline")))
    run.evaluate(run.commit_candidate(1, base, Candidate("raise the value", files={"value.txt": value})))
    run.finish()
    run.runner_lock.release(force=True)
    return run


def test_removing_one_run_leaves_the_other_whole_and_reindex_does_not_bring_it_back(
    make_workspace: Callable[..., Workspace],
) -> None:
    ws = make_workspace(value="0.5")
    gone, kept = _eval(ws.task), _eval(ws.task)
    kept_log = json.loads(_strop("log", kept, "--json").stdout)
    kept_refs = [ref for ref in _refs(ws.path) if f"/{kept}" in ref]
    gone_commit = git(ws.path, "rev-parse", f"strop/{gone}/0")
    before = ws.snapshot()

    done = _strop("rm", gone, "--yes")
    assert done.code == 0, done.stderr
    assert f"removed run {gone}" in done.stdout and "freed" in done.stdout
    assert "git's own gc" in done.stdout  # the objects are git's to free, and it says how

    assert _listed() == [kept]
    assert json.loads(_strop("log", kept, "--json").stdout) == kept_log
    audit = _strop("audit", kept)
    assert audit.code == 0, audit.stdout + audit.stderr
    assert not [ref for ref in _refs(ws.path) if gone in ref], "its branches and run ref are gone"
    assert [ref for ref in _refs(ws.path) if f"/{kept}" in ref] == kept_refs
    assert not [line for line in _notes(ws.path) if line.endswith(gone_commit)], "its note is gone"
    assert len(_notes(ws.path)) == 1, "the other run's note stays"
    assert not (strop_home() / "runs" / gone).exists() and (strop_home() / "runs" / kept).is_dir()
    assert not list((strop_home() / "worktrees").rglob(gone))
    assert ws.snapshot() == before, "the user's branch, HEAD and tree are untouched"

    reindexed = _strop("reindex")
    assert reindexed.code == 0 and "1 run, 1 experiment" in reindexed.stdout, reindexed.stdout
    assert _listed() == [kept]
    again = _strop("rm", gone, "--yes")
    assert again.code == 2 and f"no run {gone!r}" in again.stderr
    fsck = subprocess.run(["git", "fsck", "--strict"], cwd=ws.path, capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr


def test_dry_run_lists_what_would_go_and_changes_nothing(make_workspace: Callable[..., Workspace]) -> None:
    ws = make_workspace()
    run = _eval(ws.task)
    refs, notes, files = _refs(ws.path), _notes(ws.path), _home_files()

    done = _strop("rm", run, "--dry-run")
    assert done.code == 0, done.stderr
    assert f"would remove run {run} · toy · done" in done.stdout and "1 experiment" in done.stdout
    assert "dry run: nothing changed" in done.stdout and " B in the home" in done.stdout
    assert (_refs(ws.path), _notes(ws.path), _home_files()) == (refs, notes, files)
    assert _listed() == [run]


def test_without_a_terminal_it_needs_yes_and_changes_nothing(
    make_workspace: Callable[..., Workspace],
) -> None:
    ws = make_workspace()
    run = _eval(ws.task)
    refs, files = _refs(ws.path), _home_files()

    done = _strop("rm", run)
    assert done.code == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "add --yes" in lines[0], done.stderr
    assert (_refs(ws.path), _home_files(), _listed()) == (refs, files, [run])


def test_a_running_run_is_refused_and_the_others_still_go(make_workspace: Callable[..., Workspace]) -> None:
    ws = make_workspace()
    finished = _eval(ws.task)
    live = Run.start(load_task(ws.task), strop_home(), RunIndex(strop_home()))  # holds its runner lock
    live.evaluate(live.commit_candidate(0, None, Candidate("baseline")))
    live_refs = [ref for ref in _refs(ws.path) if live.record.id in ref]

    done = _strop("rm", live.record.id, finished, "--yes")
    assert done.code == 1, done.stdout + done.stderr
    refused = [line for line in done.stderr.splitlines() if line.startswith("refused:")]
    assert len(refused) == 1 and f"run {live.record.id} is running" in refused[0], done.stderr
    assert f"removed run {finished}" in done.stdout
    assert _listed() == [live.record.id]
    assert [ref for ref in _refs(ws.path) if live.record.id in ref] == live_refs
    assert (strop_home() / "runs" / live.record.id).is_dir()

    live.finish()
    live.runner_lock.release(force=True)  # its process ended
    assert _strop("rm", "latest", "--yes").code == 0
    assert _listed() == [] and not [ref for ref in _refs(ws.path) if "strop" in ref and "notes" not in ref]


def test_the_users_branches_head_and_adopted_commit_stay(make_workspace: Callable[..., Workspace]) -> None:
    ws = make_workspace(value="0.1")
    run = _improved(ws)
    run_id = run.record.id
    adopted = git(ws.path, "rev-parse", f"strop/{run_id}/1")
    assert _strop("adopt", f"{run_id}/1").code == 0
    git(ws.path, "branch", "feature", "main~1")  # the user's own branches, one on an experiment's commit
    git(ws.path, "branch", "keep-zero", f"strop/{run_id}/0")
    users = [ref for ref in _refs(ws.path) if "refs/heads/strop/" not in ref and "refs/strop/" not in ref]
    users = [ref for ref in users if "refs/notes/" not in ref]
    before = ws.snapshot()

    done = _strop("rm", run_id, "--yes")
    assert done.code == 0, done.stderr
    assert ws.snapshot() == before and (ws.path / "value.txt").read_text() == "0.9"
    remaining = _refs(ws.path)
    assert [ref for ref in remaining if "refs/notes/" not in ref] == users
    assert not [ref for ref in remaining if "refs/heads/strop/" in ref or "refs/strop/" in ref]
    ancestor = subprocess.run(
        ["git", "merge-base", "--is-ancestor", adopted, "main"], cwd=ws.path, check=False
    )
    assert ancestor.returncode == 0, "the adopted experiment stays in the user's history"
    assert git(ws.path, "cat-file", "-t", adopted) == "commit"
    fsck = subprocess.run(["git", "fsck", "--strict"], cwd=ws.path, capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr


def test_a_branch_the_user_checked_out_refuses_its_run(make_workspace: Callable[..., Workspace]) -> None:
    ws = make_workspace()
    run = _eval(ws.task)
    other = ws.path.parent / "look"
    git(ws.path, "worktree", "add", "-q", str(other), f"strop/{run}/0")
    refs = _refs(ws.path)

    done = _strop("rm", run, "--yes")
    assert done.code == 1 and f"strop/{run}/0 is checked out in {other}" in " ".join(done.stderr.split())
    assert _refs(ws.path) == refs and _listed() == [run]


def test_a_managed_repo_goes_with_its_last_run(tmp_path: Path) -> None:
    folder, task = plain_folder_task(tmp_path)
    first, second = _eval(task), _eval(task)
    repos = list((strop_home() / "repos").iterdir())
    assert len(repos) == 1
    files = sorted(p.name for p in folder.iterdir())

    assert _strop("rm", first, "--yes").code == 0
    assert repos[0].is_dir() and _listed() == [second]
    done = _strop("rm", second, "--yes")
    assert done.code == 0, done.stderr
    assert "removed the repo strop made for a folder" in done.stdout
    assert not repos[0].exists() and (strop_home() / "repos.txt").read_text().strip() == ""
    assert sorted(p.name for p in folder.iterdir()) == files, "the user's folder is untouched"
    reindexed = _strop("reindex")
    assert reindexed.code == 0 and "skipping" not in reindexed.stderr and "0 runs" in reindexed.stdout
    assert _eval(task) in _listed(), "the folder runs again, in a new managed repo"


def test_a_removal_cut_short_stays_listable_and_rm_again_finishes_it(
    make_workspace: Callable[..., Workspace],
) -> None:
    ws = make_workspace()
    zeroth, first, second = _eval(ws.task), _eval(ws.task), _eval(ws.task)
    index = RunIndex(strop_home())

    def killed(*_: object) -> None:
        raise KeyboardInterrupt  # stands for a SIGKILL between two steps

    with pytest.MonkeyPatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr("agent.run_removal._remove_refs", killed)  # its notes are gone, its branches not
        remove(index, plan(index, select(index, [zeroth], None, None, datetime.now(UTC))))
    assert _strop("runs").code == 0 and _listed() == [zeroth, first, second]
    assert "3 runs" in _strop("reindex").stdout and _listed() == [zeroth, first, second]
    assert _strop("rm", zeroth, "--yes").code == 0
    assert _listed() == [first, second] and not [ref for ref in _refs(ws.path) if zeroth in ref]

    with pytest.MonkeyPatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(RunIndex, "forget_run", killed)  # git's refs are gone, the index rows not
        remove(index, plan(index, select(index, [first], None, None, datetime.now(UTC))))
    assert _strop("runs").code == 0 and _listed() == [first, second]  # listed whole: from the index
    assert _strop("log", first, "--json").code == 0
    assert _strop("rm", first, "--yes").code == 0
    assert _listed() == [second] and not (strop_home() / "runs" / first).exists()

    with pytest.MonkeyPatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr("agent.run_removal.discard", killed)  # the index rows are gone, the folder not
        remove(index, plan(index, select(index, [second], None, None, datetime.now(UTC))))
    assert _listed() == [] and (strop_home() / "runs" / second).is_dir()
    assert "0 runs" in _strop("reindex").stdout and _listed() == []
    done = _strop("rm", second, "--yes")  # found by its exact id: only its folder was left
    assert done.code == 0, done.stderr
    assert not (strop_home() / "runs" / second).exists()
    assert not [ref for ref in _refs(ws.path) if "refs/heads/strop/" in ref or "refs/strop/" in ref]


def test_older_than_and_status_select_by_start_and_end(make_workspace: Callable[..., Workspace]) -> None:
    ws = make_workspace()
    run = _eval(ws.task)
    index = RunIndex(strop_home())
    now = datetime.now(UTC)
    assert select(index, [], parse_age("30d"), None, now) == []
    assert [rid for rid, _ in select(index, [], parse_age("30d"), None, now + timedelta(days=31))] == [run]
    assert [rid for rid, _ in select(index, [], None, "done", now)] == [run]
    assert select(index, [], None, "failed", now) == []
    assert parse_age("2w") == timedelta(days=14) and parse_age("1w2d") == timedelta(days=9)
    assert parse_age("12h") == timedelta(hours=12) and parse_age("3 days") == timedelta(days=3)
    for bad in ("30", "2.5", "d", "-1d", "", "soon", "0s", "99999999d"):  # the last: an OverflowError once
        with pytest.raises(UserError):
            parse_age(bad)
    none = _strop("rm", "--older-than", "30d", "--yes")
    assert none.code == 0 and "no run matches" in none.stdout and _listed() == [run]
    bad = _strop("rm", "--older-than", "soon")
    assert bad.code == 2 and "not an age" in bad.stderr
    both = _strop("rm", run, "--status", "done")
    assert both.code == 2 and "not both" in both.stderr


def test_a_nightly_warm_start_from_the_run_is_said(make_workspace: Callable[..., Workspace]) -> None:
    ws = make_workspace()
    run = _eval(ws.task)
    commit = git(ws.path, "rev-parse", f"strop/{run}/0")
    night = NightRecord(job="toy-nightly", night="2026-12-01T02:00", kind="run", started="s", status="done")
    night.run, night.commit, night.best_metric = run, commit, 0.5
    History(strop_home()).put(night)

    done = _strop("rm", run, "--dry-run")
    assert done.code == 0, done.stderr
    said = " ".join(done.stderr.split())
    assert f"nightly job toy-nightly warm-starts from run {run}'s best" in said and "starts cold" in said


def test_help_teaches(cli: Callable[..., Result]) -> None:
    text = " ".join(cli("rm", "--help").stdout.split())
    for words in ("--older-than", "--dry-run", "--yes", "never your branches", "git's own gc", "reindex"):
        assert words in text, words


def test_an_interrupted_run_goes_with_its_worktrees(make_workspace: Callable[..., Workspace]) -> None:
    """A run whose process died mid-experiment: its lane is still a worktree of the user's repo."""
    ws = make_workspace()
    run = Run.start(load_task(ws.task), strop_home(), RunIndex(strop_home()))
    run.evaluate(run.commit_candidate(0, None, Candidate("baseline")))
    run.runner_lock.release(force=True)  # its process is gone; the record still says running
    assert len(git(ws.path, "worktree", "list").splitlines()) == 2

    done = _strop("rm", "--status", "interrupted", "--yes")
    assert done.code == 0, done.stderr
    assert f"removed run {run.record.id}" in done.stdout
    assert len(git(ws.path, "worktree", "list").splitlines()) == 1, "its lane is no worktree any more"
    assert not list((strop_home() / "worktrees").rglob("lane-*")) and _listed() == []
