"""A strop home copied (`cp -a`) or moved works on its own repos, never on the original's.

The index and `repos.txt` wrote each run's managed repo as an absolute path: a copy's
`strop resume` added its branches to the original home's repo (whose index then disagreed
with git, and `strop audit` there failed), and a moved home's runs named a repo that was gone.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from .conftest import make_task

ROOT = Path(__file__).resolve().parents[2]


def strop(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120", "STROP_HOME": str(home)}
    command = [sys.executable, "-W", "ignore", "-c", "from agent.cli import main; main()", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def started(home: Path, task: Path, experiments: int) -> str:
    """A real run of the tiny task in `home`; its id."""
    done = strop(home, "run", str(task), "-n", str(experiments))
    assert done.returncode == 0, done.stderr
    return done.stdout.split("run ", 1)[1].split()[0]


def branches(home: Path) -> list[str]:
    """The experiment branches of the home's one managed repo."""
    (repo,) = (home / "repos").iterdir()
    listed = subprocess.run(
        ["git", "-C", str(repo), "branch", "--list", "strop/*", "--format=%(refname:short)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return sorted(listed.stdout.split())


def indexed_repos(home: Path) -> list[tuple[str, str]]:
    """What the index wrote of each run's repo: its column and its record's field."""
    db = sqlite3.connect(home / "index.sqlite")
    try:
        rows = db.execute("SELECT repo, data FROM runs").fetchall()
    finally:
        db.close()
    return [(column, json.loads(data)["repo"]) for column, data in rows]


def written_as_old_strop(home: Path) -> None:
    """Rewrite the home's index and registry as strop wrote them before: absolute paths."""
    db = sqlite3.connect(home / "index.sqlite")
    try:
        for run_id, data in db.execute("SELECT id, data FROM runs").fetchall():
            record = json.loads(data)
            record["repo"] = str(home / record["repo"])
            db.execute(
                "UPDATE runs SET repo = ?, data = ? WHERE id = ?",
                (record["repo"], json.dumps(record, sort_keys=True), run_id),
            )
        db.commit()
    finally:
        db.close()
    lines = (home / "repos.txt").read_text().splitlines()
    (home / "repos.txt").write_text("".join(f"{home / line}\n" for line in lines))


def test_a_copied_home_resumes_into_its_own_repo(tmp_path: Path) -> None:
    original, copy = tmp_path / "home", tmp_path / "copy"
    run_id = started(original, make_task(tmp_path / "t", experiments=3), 3)
    assert indexed_repos(original)[0][0].startswith("repos/"), (
        "a managed repo is written relative to the home"
    )
    assert (original / "repos.txt").read_text().startswith("repos/")
    shutil.copytree(original, copy, symlinks=True)
    before = branches(original)

    resumed = strop(copy, "resume", run_id, "--experiments", "5")
    assert resumed.returncode == 0, resumed.stderr
    assert branches(original) == before, "the copy wrote into the original home's repo"
    assert len(branches(copy)) == 5
    for home, count in ((original, 3), (copy, 5)):
        audit = strop(home, "audit", run_id)
        assert audit.returncode == 0, audit.stdout + audit.stderr
        assert f"is whole: {count} experiments" in audit.stdout

    for name in ("index.sqlite", "index.sqlite-wal", "index.sqlite-shm"):
        (copy / name).unlink(missing_ok=True)
    rebuilt = strop(copy, "reindex")
    assert rebuilt.returncode == 0 and "1 run, 5 experiments" in rebuilt.stdout, rebuilt.stdout
    assert indexed_repos(copy) == [(indexed_repos(original)[0][0],) * 2]
    assert "experiments: 5 of 5" in strop(copy, "log", run_id).stdout


def test_an_old_index_copied_with_its_home_reads_the_copys_repo(tmp_path: Path) -> None:
    """Absolute paths into another home's `repos/` (an older strop's index) read as this home's."""
    original, copy = tmp_path / "home", tmp_path / "copy"
    run_id = started(original, make_task(tmp_path / "t", experiments=3), 3)
    written_as_old_strop(original)
    shutil.copytree(original, copy, symlinks=True)
    before = branches(original)

    resumed = strop(copy, "resume", run_id, "--experiments", "5")
    assert resumed.returncode == 0, resumed.stderr
    assert branches(original) == before, "the copy wrote into the original home's repo"
    assert len(branches(copy)) == 5
    assert strop(original, "audit", run_id).returncode == 0
    assert strop(copy, "audit", run_id).returncode == 0
    assert indexed_repos(copy)[0][0].startswith("repos/"), "the run's next write is relative"
    shown = strop(copy, "log", run_id)
    assert shown.returncode == 0 and "experiments: 5 of 5" in shown.stdout, shown.stdout + shown.stderr


def test_a_moved_home_finds_its_repos(tmp_path: Path) -> None:
    """A home moved elsewhere (or to another machine) with an older index still resumes its runs."""
    first, moved = tmp_path / "home", tmp_path / "elsewhere" / "home"
    run_id = started(first, make_task(tmp_path / "t", experiments=3), 3)
    written_as_old_strop(first)
    moved.parent.mkdir()
    first.rename(moved)

    resumed = strop(moved, "resume", run_id, "--experiments", "4")
    assert resumed.returncode == 0, resumed.stderr
    assert len(branches(moved)) == 4
    rebuilt = strop(moved, "reindex")
    assert rebuilt.returncode == 0 and "1 run, 4 experiments from 1 repo" in rebuilt.stdout, rebuilt.stdout
    assert "skipping" not in rebuilt.stderr


def test_the_users_own_git_workspace_stays_absolute(tmp_path: Path) -> None:
    """A repo outside the home (the user's own, used in place) is written as it is."""
    task = make_task(tmp_path / "t", experiments=2)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "start"]):
        subprocess.run(
            ["git", "-c", "user.name=u", "-c", "user.email=u@x", *args], cwd=task.parent, check=True
        )
    home = tmp_path / "home"
    started(home, task, 2)
    workspace = str(task.parent.resolve())
    assert indexed_repos(home) == [(workspace, workspace)]
    assert (home / "repos.txt").read_text() == f"{workspace}\n"
