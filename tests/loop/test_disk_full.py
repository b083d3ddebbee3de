"""A disk that fills during a run: one line naming the cause and the resume, and nothing lost.

STROP_HOME sits on a small tmpfs of its own, filled with a ballast file mid-run; freed,
`strop resume` finishes the run and the audit finds it whole. Mounting needs root (CI is).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.loop.audit import audit_run
from agent.run_index import RunIndex

from .conftest import make_task

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


def _strop(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "STROP_HOME": str(home)}
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
