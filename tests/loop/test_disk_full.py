"""A disk that fills during a run: one line naming the cause and the resume, and nothing lost.

STROP_HOME sits on a small tmpfs of its own, filled with a ballast file mid-run; freed,
`strop resume` finishes the run and the audit finds it whole. Mounting needs root (CI is).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agent.errors import RunError, disk_full
from agent.experiments import ExperimentRepo
from agent.loop.audit import audit_run
from agent.records import ExperimentRecord
from agent.run_index import RunIndex

from .conftest import make_task

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


def _strop(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "STROP_HOME": str(home), **(env or {})}
    env.pop("STROP_DEBUG", None)
    command = [sys.executable, "-c", "from agent.cli import main; main()", *args, "--quiet"]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def small_disk(tmp_path: Path):
    mount = tmp_path / "home"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_stops_the_run_with_one_line_and_resume_finishes_it(
    tmp_path: Path, small_disk: Path
) -> None:
    task = make_task(tmp_path / "t", experiments=2)
    started = _strop(small_disk, "run", str(task))
    assert started.returncode == 0, started.stderr
    run_id = next(p.name for p in (small_disk / "runs").iterdir())
    ballast = small_disk / "ballast"
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    ballast.write_bytes(b"\0" * max(0, free - 96 * 1024))  # room for a few experiments, not 40

    full = _strop(small_disk, "resume", run_id, "--experiments", "40")
    assert full.returncode == 1, full.stderr
    assert "internal error" not in full.stderr and "Traceback" not in full.stderr
    assert "a disk it writes to is full" in full.stderr and f"strop resume {run_id}" in full.stderr

    ballast.unlink()
    finished = _strop(small_disk, "resume", run_id)
    assert finished.returncode == 0, finished.stderr
    assert audit_run(run_id, small_disk, RunIndex(small_disk), evaluated=40) == []


FILLER = """#!/bin/sh
# the real git, but the Nth call matching $FILL_PATTERN first fills the disk to its last byte
case "$*" in
  *"$FILL_PATTERN"*)
    n=$(( $(cat "$FILL_COUNTER" 2>/dev/null || echo 0) + 1 )); echo $n > "$FILL_COUNTER"
    [ "$n" = "$FILL_AT" ] && dd if=/dev/zero of="$BALLAST" bs=4k 2>/dev/null ;;
esac
exec "$REAL_GIT" "$@"
"""


def test_a_branch_git_cannot_write_on_a_full_disk_is_the_one_line_too(
    tmp_path: Path, small_disk: Path
) -> None:
    """Git says only "couldn't write '….lock'" when a ref's lock file gets no block: the run
    stopped with git's lines as an internal error, not the full disk and its resume."""
    task = make_task(tmp_path / "t", experiments=3)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").write_text(FILLER)
    (bin_dir / "git").chmod(0o755)
    ballast = small_disk / "ballast"
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "REAL_GIT": shutil.which("git") or "git",
        "FILL_PATTERN": "update-ref refs/heads/strop/",  # an experiment's branch, once its note is written
        "FILL_AT": "2",
        "FILL_COUNTER": str(tmp_path / "counter"),
        "BALLAST": str(ballast),
    }
    full = _strop(small_disk, "run", str(task), env=env)
    assert ballast.exists(), "the disk was never filled"
    run_id = next(p.name for p in (small_disk / "runs").iterdir())
    assert full.returncode == 1, full.stderr
    assert "internal error" not in full.stderr and "Traceback" not in full.stderr
    lines = [line for line in full.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "a disk it writes to is full" in lines[0], full.stderr
    assert "couldn't write" in lines[0] and "cmdline" not in lines[0], lines[
        0
    ]  # git's own line, not its command
    assert f"strop resume {run_id}" in lines[0]

    ballast.unlink()
    finished = _strop(small_disk, "resume", run_id)
    assert finished.returncode == 0, finished.stderr
    assert audit_run(run_id, small_disk, RunIndex(small_disk), evaluated=3) == []


def test_a_note_git_cannot_write_on_a_full_disk_is_a_disk_full_error(small_disk: Path) -> None:
    """`git notes add` whose objects fit but whose ref's lock file does not: git's message names
    no cause, and the run stopped on a plain `RunError` with git's two lines. Tried with 0 to 5
    blocks left, one of which is that case: each failure must say the disk is full, in one line."""
    workspace = small_disk / "ws"
    workspace.mkdir()
    identity = ["-c", "user.name=u", "-c", "user.email=u@x"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(workspace)], check=True)
    subprocess.run(
        ["git", "-C", str(workspace), *identity, "commit", "-q", "--allow-empty", "-m", "i"], check=True
    )
    repo = ExperimentRepo.for_workspace(workspace, small_disk / "home")
    commit = repo.head()[1]
    ballast = small_disk / "ballast"
    unnamed = 0
    for blocks in range(6):
        ballast.unlink(missing_ok=True)
        with ballast.open("wb", buffering=0) as handle, contextlib.suppress(OSError):
            while True:
                handle.write(b"\0" * 4096)
        size = ballast.stat().st_size
        os.truncate(ballast, max(0, size - size % 4096 - blocks * 4096))
        record = ExperimentRecord(
            run="r", id=0, parent=None, branch="strop/r/0", commit=commit, idea=f"try {blocks}"
        )
        try:
            repo.write_record(record)
        except RunError as error:
            assert disk_full(error) and "\n" not in str(error), error  # what the run checks; one line
            unnamed += "couldn't write" in str(error)
    assert unnamed, "no try failed at the ref's lock file: the case this test is for was not reached"
