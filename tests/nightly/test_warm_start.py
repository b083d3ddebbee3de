"""When a night warm-starts, when it starts cold and says why, and when a night that scored nothing failed.

Real nights through the CLI (`--now` is the scheduler's clock), real git in the user's workspace:
its strop branches deleted and garbage-collected, its branch moved by a commit of the user's.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from agent.nightly.history import History
from agent.run_index import RunIndex
from tests.nightly.test_nights import finish, make_jobs, nightly
from tests.ui.conftest import git


def _night(jobs: Path, day: int) -> tuple[int, str, str]:
    return finish(nightly("run", "--jobs", str(jobs), "--now", f"2026-12-{day:02d}T02:05"))


def test_a_lost_best_commit_or_a_moved_branch_starts_cold_and_says_why(
    tmp_path: Path, isolated_home: Path
) -> None:
    """Before, a best commit gone from the workspace failed every later night ("no commit …", exit 1,
    for ever); and a warm start ran the whole night on last night's code, the user's new commits unseen."""
    jobs = make_jobs(tmp_path, experiments=3, sleep=0.0)
    workspace = tmp_path / "live"
    code, _, err = _night(jobs, 1)
    assert code == 0, err
    branches = subprocess.run(
        ["git", "branch", "--list", "strop/*", "--format=%(refname:short)"],
        cwd=workspace, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    git(workspace, "branch", "-D", *branches)  # the user cleans up; gc prunes the commits
    git(workspace, "reflog", "expire", "--expire=now", "--all")
    git(workspace, "gc", "-q", "--prune=now")

    code, out, err = _night(jobs, 2)
    assert code == 0, (out, err)
    first, second = History(isolated_home).nights("live")
    assert second.status == "done" and second.base is None and second.best_metric is not None
    assert f"last night's best commit {first.commit[:12]} is no longer in {workspace}" in second.start_note
    assert second.start_note in err  # said as the night starts, and kept for the summary
    summary = subprocess.run(
        [sys.executable, "-m", "agent.cli", "nightly", "summary"], capture_output=True, text=True
    )
    assert second.start_note in summary.stdout

    (workspace / "NOTES.md").write_text("the user's own work\n")  # the user's branch moves
    git(workspace, "add", "NOTES.md")
    git(workspace, "commit", "-qm", "notes")
    code, out, err = _night(jobs, 3)
    assert code == 0, (out, err)
    third = History(isolated_home).last("live")
    assert (
        third is not None and third.base is None and "not warm-started: your workspace changed since" in err
    )
    assert third.start_note.startswith(f"not warm-started: your workspace changed since {second.night}")
    run3 = RunIndex(isolated_home).find_run(third.run or "")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=workspace, capture_output=True, text=True).stdout
    assert run3.base_commit == head.strip() == third.head  # experiment 0 is the user's branch as it is

    code, out, err = _night(jobs, 4)  # nothing moved: a warm start, from the third night's best
    assert code == 0, (out, err)
    fourth = History(isolated_home).last("live")
    assert fourth is not None and fourth.base == third.commit and not fourth.start_note
    assert "not warm-started" not in err


BROKEN = "raise SystemExit('evaluator broken')\n"


def test_a_night_in_which_nothing_scored_failed(tmp_path: Path, isolated_home: Path) -> None:
    """`strop run` exits 1 when no experiment scored; the night was recorded `done` with exit 0."""
    jobs = make_jobs(tmp_path, experiments=2, sleep=0.0)
    (tmp_path / "live" / "evaluate.py").write_text(BROKEN)
    git(tmp_path / "live", "commit", "-qam", "broken")
    code, out, err = _night(jobs, 1)
    assert code == 1, (out, err)
    (night,) = History(isolated_home).nights("live")
    assert night.status == "failed" and night.run and night.best_metric is None
    assert night.error.startswith("no experiment scored: none of its 2 experiments")
    assert f"see `strop show {night.run}/0`" in night.error and night.error in out


def test_a_plain_folder_warm_starts_until_its_files_change(tmp_path: Path, isolated_home: Path) -> None:
    """A workspace that is no git repo of its own lives in a managed copy: the check asked the folder
    itself (no repo, or the repo around it) for the best commit, and every night started cold."""
    jobs = make_jobs(tmp_path, experiments=3, sleep=0.0)
    workspace = tmp_path / "live"
    subprocess.run(["rm", "-rf", str(workspace / ".git")], check=True)  # a plain folder now
    assert _night(jobs, 1)[0] == 0
    code, out, err = _night(jobs, 2)
    assert code == 0, (out, err)
    first, second = History(isolated_home).nights("live")
    assert second.base == first.commit and not second.start_note and "not warm-started" not in err
    (workspace / "NOTES.md").write_text("the user's own work\n")
    code, out, err = _night(jobs, 3)
    assert code == 0, (out, err)
    third = History(isolated_home).last("live")
    assert third is not None and third.base is None
    assert third.start_note.startswith(f"not warm-started: your workspace changed since {second.night}")


def test_a_best_adopted_in_the_morning_is_not_offered_for_adoption_again(
    tmp_path: Path, isolated_home: Path
) -> None:
    """The adopt moved the branch, so the night starts from it (right), but the note still said
    "`strop adopt RUN/N` brings it in" of a best the branch already held."""
    jobs = make_jobs(tmp_path, experiments=3, sleep=0.0)
    workspace = tmp_path / "live"
    assert _night(jobs, 1)[0] == 0
    first = History(isolated_home).last("live")
    assert first is not None and first.run and first.best
    adopted = subprocess.run(
        [sys.executable, "-m", "agent.cli", "adopt", f"{first.run}/{first.best}"],
        capture_output=True, text=True, cwd=workspace,
    )  # fmt: skip
    assert adopted.returncode == 0, adopted.stderr
    code, out, err = _night(jobs, 2)
    assert code == 0, (out, err)
    second = History(isolated_home).last("live")
    assert second is not None and second.base is None
    assert second.start_note == f"started from your branch, which holds {first.night}'s best (adopted)"
    assert "strop adopt" not in err
