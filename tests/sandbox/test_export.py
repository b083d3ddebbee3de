"""The candidate's export (`evaluators.scratch.export_tree`): a copy of its lane that shares nothing with it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from evaluators.scratch import export_tree, tree_digest
from sandbox.execution import Limits, Sandbox

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]


def _lane(tmp_path: Path, depth: int = 3) -> Path:
    """A git worktree (a lane's shape: its `.git` is a file) holding files, links and a deep folder."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "train.py").write_text("print('train')\n")
    (repo / "run.sh").write_text("#!/bin/sh\necho run\n")
    os.chmod(repo / "run.sh", 0o755)
    os.symlink("train.py", repo / "main.py")
    os.symlink("/etc/hostname", repo / "outside")  # copied as a link, never followed
    deep = repo.joinpath(*["d"] * depth)
    deep.mkdir(parents=True)
    (deep / "leaf.txt").write_text("leaf\n")
    (repo / "data").mkdir()
    for k in range(30):
        (repo / "data" / f"{k}.bin").write_bytes(os.urandom(2048))
    subprocess.run([*GIT, "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*GIT, "commit", "-q", "-m", "c"], cwd=repo, check=True)
    lane = tmp_path / "lane"
    subprocess.run([*GIT, "worktree", "add", "-q", "--detach", str(lane), "HEAD"], cwd=repo, check=True)
    return lane


def test_the_export_is_the_lanes_files_without_its_git_pointer(tmp_path: Path) -> None:
    lane = _lane(tmp_path)
    work = tmp_path / "work"
    export_tree(lane, work)
    assert not (work / ".git").exists() and (lane / ".git").is_file()
    assert tree_digest(work) == tree_digest(lane)
    assert os.readlink(work / "main.py") == "train.py" and os.readlink(work / "outside") == "/etc/hostname"
    assert stat.S_IMODE(os.stat(work / "run.sh").st_mode) == stat.S_IMODE(os.stat(lane / "run.sh").st_mode)
    assert os.stat(work / "train.py").st_mtime_ns == os.stat(lane / "train.py").st_mtime_ns
    for name in ("train.py", "data/0.bin"):  # new inodes: writing the copy cannot write the lane
        assert os.stat(work / name).st_ino != os.stat(lane / name).st_ino
        assert os.stat(work / name).st_nlink == 1


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="no /dev/shm")
def test_an_export_to_another_file_system_copies_every_byte(tmp_path: Path) -> None:
    """From a tmpfs to the test's folder: `copy_file_range` refuses a copy across file systems
    (EXDEV), and the bytes are read and written instead."""
    with tempfile.TemporaryDirectory(dir="/dev/shm") as shm:
        source = Path(shm) / "lane"
        (source / "sub").mkdir(parents=True)
        (source / "big.bin").write_bytes(os.urandom(3 << 20))
        (source / "sub" / "empty").write_bytes(b"")
        work = tmp_path / "work"
        export_tree(source, work)
        assert tree_digest(work) == tree_digest(source)


def test_a_tree_nested_past_the_recursion_limit_is_exported(tmp_path: Path) -> None:
    """600 folders deep (1,200 characters: a path git, a checkout and the edit guard all allow);
    `shutil.copytree` recursed and stopped the evaluation with a RecursionError."""
    lane = _lane(tmp_path, depth=600)
    work = tmp_path / "work"
    export_tree(lane, work)
    assert work.joinpath(*["d"] * 600, "leaf.txt").read_text() == "leaf\n"
    assert tree_digest(work) == tree_digest(lane)


def test_a_candidate_writing_its_copy_in_place_leaves_the_lane_alone(
    tmp_path: Path, backend: Sandbox
) -> None:
    lane = _lane(tmp_path)
    before = tree_digest(lane)
    work = tmp_path / "work"
    export_tree(lane, work)
    script = (
        "import os\n"
        "for folder, _, files in os.walk('.'):\n"
        "    for name in files:\n"
        "        path = os.path.join(folder, name)\n"
        "        if not os.path.islink(path):\n"
        "            os.chmod(path, 0o666)\n"
        "            with open(path, 'r+b') as f: f.write(b'HOSTILE')\n"
        "print('done')\n"
    )
    ran = backend.run([sys.executable, "-c", script], work, Limits(timeout=60))
    assert ran.exit_code == 0, ran.stderr
    assert (work / "train.py").read_bytes().startswith(b"HOSTILE")
    assert tree_digest(lane) == before
