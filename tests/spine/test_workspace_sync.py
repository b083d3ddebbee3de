"""A plain folder's managed copy is re-synced at each run by touching only what changed, on real git."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from agent.experiments import MANAGED_BRANCH, ExperimentRepo


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    (folder / "data" / "a").mkdir(parents=True)
    for k in range(50):
        (folder / "data" / "a" / f"{k}.bin").write_bytes(bytes([k]) * 2048)
    (folder / "train.py").write_text("print('hi')\n")
    (folder / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(folder / "run.sh", 0o755)
    os.symlink("train.py", folder / "main.py")
    (folder / ".gitignore").write_text("*.log\n")
    (folder / "out.log").write_text("noise\n")
    return folder


def _inodes(root: Path) -> dict[str, int]:
    return {
        p.relative_to(root).as_posix(): p.lstat().st_ino
        for p in root.rglob("*")
        if ".git" not in p.relative_to(root).parts
    }


def _recorded(repo: ExperimentRepo) -> dict[str, str]:
    """Each path the managed branch records: its mode and blob, as git lists them."""
    listing = subprocess.run(
        ["git", "-C", str(repo.path), "ls-tree", "-r", MANAGED_BRANCH],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line.split("\t")[1]: line.split("\t")[0] for line in listing.splitlines()}


def test_an_unchanged_folder_is_synced_without_remaking_a_file(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    home = tmp_path / "home"
    first = ExperimentRepo.for_workspace(folder, home)
    before = _inodes(first.path)
    head = first.repo.commit(MANAGED_BRANCH).hexsha
    again = ExperimentRepo.for_workspace(folder, home)  # the next run's sync
    assert again.path == first.path
    assert _inodes(again.path) == before  # the old sync removed and copied every file
    assert again.repo.commit(MANAGED_BRANCH).hexsha == head  # and recorded nothing new
    assert "out.log" not in before and "data/a/7.bin" in before


def test_every_kind_of_change_reaches_the_managed_copy(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    home = tmp_path / "home"
    ExperimentRepo.for_workspace(folder, home)
    same_size = folder / "data" / "a" / "3.bin"
    times = os.stat(same_size)
    same_size.write_bytes(b"\xff" * 2048)  # other bytes, same size and modification time
    os.utime(same_size, ns=(times.st_atime_ns, times.st_mtime_ns))
    (folder / "data" / "a" / "4.bin").unlink()
    (folder / "main.py").unlink()
    os.symlink("run.sh", folder / "main.py")  # a link repointed
    (folder / "train.py").unlink()
    (folder / "train.py").mkdir()  # a file become a folder
    (folder / "train.py" / "x.py").write_text("x\n")
    os.chmod(folder / "run.sh", 0o644)  # the executable bit dropped
    (folder / "new.txt").write_text("new\n")
    (folder / "later.log").write_text("ignored\n")
    repo = ExperimentRepo.for_workspace(folder, home)
    copy = repo.path
    assert (copy / "data" / "a" / "3.bin").read_bytes() == b"\xff" * 2048
    assert not (copy / "data" / "a" / "4.bin").exists() and not (copy / "later.log").exists()
    assert os.readlink(copy / "main.py") == "run.sh"
    assert (copy / "train.py" / "x.py").read_text() == "x\n"
    assert not os.stat(copy / "run.sh").st_mode & 0o111
    assert (copy / "new.txt").read_text() == "new\n"
    recorded = _recorded(repo)
    assert recorded["main.py"].startswith("120000") and recorded["run.sh"].startswith("100644")
    assert "data/a/4.bin" not in recorded and "later.log" not in recorded and "train.py/x.py" in recorded
    assert repo.user_changes() == []  # the folder and its record agree
    assert (copy / ".git").is_dir()


def test_a_hard_link_in_the_managed_copy_is_replaced_not_written_through(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    home = tmp_path / "home"
    repo = ExperimentRepo.for_workspace(folder, home)
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"keep me")
    target = repo.path / "data" / "a" / "9.bin"
    target.unlink()
    os.link(outside, target)
    (folder / "data" / "a" / "9.bin").write_bytes(b"changed")
    ExperimentRepo.for_workspace(folder, home)
    assert outside.read_bytes() == b"keep me"
    assert target.read_bytes() == b"changed" and target.stat().st_nlink == 1


def test_a_named_pipe_in_a_plain_folder_is_one_line_naming_it(tmp_path: Path) -> None:
    """A FIFO a dev server left in the folder was an internal error (SpecialFileError) at every run."""
    import os
    import subprocess
    import sys

    folder = tmp_path / "ws"
    folder.mkdir()
    (folder / "train.py").write_text("import json\nprint(json.dumps({'score': 1}))\n")
    os.mkfifo(folder / "server.sock")
    (tmp_path / "task.toml").write_text(
        '[task]\nname = "fifo"\ngoal = "g"\nworkspace = "ws"\n[evaluator]\ncommand = "python train.py"\n'
        'metric = "score"\ndirection = "maximize"\nsandbox = "local"\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "eval", str(tmp_path / "task.toml")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "server.sock" in done.stderr and "named pipe" in done.stderr and "Traceback" not in done.stderr
    assert "internal error" not in done.stderr
