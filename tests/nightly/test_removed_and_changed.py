"""A night's run removed (`strop rm`), a lost mle best commit, a job re-pointed or its task edited,
and `--job` while another nightly holds the lock.

Real nights through the CLI where the behaviour is the night's (`--now` is the scheduler's clock);
the warm-start and identity checks directly, with real git and real task files.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from agent.nightly.history import History, NightRecord
from agent.nightly.jobs import load_jobs
from agent.nightly.lock import NightlyLock
from agent.nightly.runner import _previous_good, job_identity
from agent.nightly.summary import JobMorning, morning
from agent.nightly.warm import warm_start
from tests.nightly.test_nights import finish, make_jobs, nightly
from tests.ui.conftest import git, make_live_task

GONE = "0123456789abcdef0123456789abcdef01234567"


def _strop(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_an_mle_job_whose_best_commit_is_gone_starts_cold_and_says_why(
    tmp_path: Path, isolated_home: Path
) -> None:
    """An mle job warm-started from a commit gone from its folder's repo: "no commit …", exit 1, for ever."""
    competition = tmp_path / "comp"
    competition.mkdir()
    (tmp_path / "jobs.toml").write_text(
        '[jobs.comp]\nkind = "mle"\ncompetition = "comp"\nschedule = "0 1 * * *"\n'
    )
    jobs = load_jobs(tmp_path / "jobs.toml")
    folder = tmp_path / "mle-folder"
    make_live_task(folder)  # a prepared folder: task.toml and its workspace
    previous = NightRecord(job="comp", night="2026-12-01T01:00", kind="mle", started="s", commit=GONE)
    start = warm_start(jobs, "comp", previous, True, isolated_home, folder)
    assert start.base is None
    assert start.note.startswith(f"not warm-started: last night's best commit {GONE[:12]} is no longer in")
    head = git_head(folder)
    kept = NightRecord(job="comp", night="2026-12-01T01:00", kind="mle", started="s", commit=head)
    assert warm_start(jobs, "comp", kept, True, isolated_home, folder).base == head  # there: warm
    unprepared = warm_start(jobs, "comp", previous, True, isolated_home, tmp_path / "never-made")
    assert unprepared.base is None and "gone with the job's working folder" in unprepared.note


def git_head(folder: Path) -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_a_removed_runs_night_is_neither_the_warm_start_nor_the_comparison_nor_adopted(
    tmp_path: Path, isolated_home: Path
) -> None:
    """After `strop rm RUN` the summary still said `adopt: strop adopt RUN/N` ("no run"), and the next
    night kept choosing the removed night: its commit (gone after a gc) and its score."""
    jobs = make_jobs(tmp_path, experiments=3, sleep=0.0)
    code, out, err = finish(nightly("run", "--jobs", str(jobs), "--now", "2026-12-01T02:05"))
    assert code == 0, (out, err)
    (first,) = History(isolated_home).nights("live")
    assert first.run and first.best and first.commit
    assert f"adopt: strop adopt {first.run}/{first.best}" in _strop("nightly", "summary").stdout
    removed = _strop("rm", first.run, "--yes", cwd=tmp_path / "live")
    assert removed.returncode == 0, removed.stderr

    summary = _strop("nightly", "summary").stdout
    assert "strop adopt" not in summary
    assert f"removed: its run {first.run} was removed (`strop rm`); nothing to adopt" in summary
    (item,) = morning(isolated_home)
    assert item.removed and item.to_dict()["adopt"] == "" and item.to_dict()["removed"] is True

    tonight = NightRecord(job="live", night="2026-12-02T02:00", kind="run", started="t")
    assert _previous_good(History(isolated_home), tonight, isolated_home) is None


def test_a_job_pointed_at_another_task_is_not_compared_nor_warm_started(tmp_path: Path) -> None:
    """`task = "task2"` after nights of task1: "worse by 0.086 since an earlier run" (task1's score),
    and the identity, though computed, was never checked for the comparison."""
    night = NightRecord(
        job="j", night="2026-12-02T02:00", kind="run", started="s", status="done", metric="score",
        direction="maximize", best_metric=0.5, previous_night="2026-12-01T02:00", task_changed=True,
    )  # fmt: skip
    assert JobMorning("j", night).change == "score = 0.5 (task changed since the last night: not compared)"
    assert night.gain is None


def test_a_run_jobs_identity_holds_its_task_text_and_its_scorer_and_data(tmp_path: Path) -> None:
    """It hashed the task's path only: a new scorer, new labels or another metric in the same file
    compared the new scores with the old and warm-started from a best found under the old scorer."""
    root = tmp_path / "task"
    (root / "workspace").mkdir(parents=True)
    (root / "scorer").mkdir()
    (root / "private").mkdir()
    (root / "public").mkdir()
    (root / "scorer" / "score.py").write_text("print('score: 1')\n")
    (root / "private" / "labels.json").write_text("[1, 2]\n")
    (root / "task.toml").write_text(
        '[task]\nname = "t"\ngoal = "g"\nworkspace = "workspace"\n\n[evaluator]\nrun = "python x.py"\n'
        'score = "python score.py"\nscorer = "scorer"\npublic = "public"\nprivate = "private"\n'
        'metric = "score"\ndirection = "maximize"\n'
    )
    (tmp_path / "jobs.toml").write_text('[jobs.j]\ntask = "task"\nschedule = "0 2 * * *"\n')
    from agent.nightly.runner import same_identity  # new: a night from before still counts as the same

    jobs = load_jobs(tmp_path / "jobs.toml")
    before = job_identity(jobs, "j")
    (root / "scorer" / "__pycache__").mkdir()  # the scorer ran: Python's byte code is no change
    (root / "scorer" / "__pycache__" / "score.cpython-311.pyc").write_bytes(b"x")
    assert job_identity(jobs, "j") == before
    (root / "private" / "labels.json").write_text("[2, 1, 0]\n")  # new labels
    relabelled = job_identity(jobs, "j")
    assert relabelled != before
    (root / "scorer" / "score.py").write_text("print('score: 2')\n")  # another scorer
    rescored = job_identity(jobs, "j")
    assert rescored != relabelled
    (root / "task.toml").write_text((root / "task.toml").read_text().replace("maximize", "minimize"))
    assert job_identity(jobs, "j") != rescored
    assert not same_identity(jobs, "j", before)
    import hashlib
    import json

    legacy = hashlib.sha256(json.dumps(["run", [], str(root.resolve())]).encode()).hexdigest()[:12]
    assert same_identity(jobs, "j", legacy)  # a night from before: not taken for another task


def test_a_changed_task_starts_cold_with_a_note_and_is_not_compared(
    tmp_path: Path, isolated_home: Path
) -> None:
    """A real night after the task file changed: no comparison, no warm start, and a note saying why."""
    jobs = make_jobs(tmp_path, experiments=2, sleep=0.0)
    code, out, err = finish(nightly("run", "--jobs", str(jobs), "--now", "2026-12-01T02:05"))
    assert code == 0, (out, err)
    task = tmp_path / "live" / "task.toml"
    task.write_text(task.read_text() + "\n# the scorer changed its scale\n")
    git(tmp_path / "live", "commit", "-qam", "task")
    code, out, err = finish(nightly("run", "--jobs", str(jobs), "--now", "2026-12-02T02:05"))
    assert code == 0, (out, err)
    first, second = History(isolated_home).nights("live")
    assert second.task_changed and second.previous_metric is None and second.gain is None
    assert second.base is None and second.start_note.startswith(
        f"not warm-started: the job's task changed since {first.night}"
    )
    summary = _strop("nightly", "summary").stdout
    assert "task changed since the last night: not compared" in summary and second.start_note in summary


def test_an_explicit_job_refused_by_the_lock_exits_non_zero(tmp_path: Path, isolated_home: Path) -> None:
    """`--job NAME` said "not started: … holds the nightly lock" and exited 0: a script read success."""
    jobs = make_jobs(tmp_path, experiments=1, sleep=0.0)
    with NightlyLock(isolated_home):
        code, out, _ = finish(nightly("run", "--jobs", str(jobs), "--job", "live"))
        assert code == 75 and "holds the nightly lock" in out
        code, out, _ = finish(nightly("run", "--jobs", str(jobs)))  # cron's call: nothing wrong
        assert code == 0 and "holds the nightly lock" in out
    assert "75" in _strop("nightly", "run", "--help").stdout
