"""`strop adopt` into a plain folder it cannot write whole: refused before a file is written,
or, when a write fails anyway (a full disk), rolled back.

A failed write left the "adopt cut short" mark in the managed repo, and every later `strop
run` or `strop eval` of the task was refused with "was cut short (killed while writing its
files): run `strop adopt …`", which failed the same way each time; the one line said
"strop cannot write …/v: Permission denied; … point STROP_HOME at a folder you may write".

Permissions are real: as root the command runs without the capabilities that let root write
any file (`setpriv`), so a read-only file refuses it as it refuses an ordinary user. The full
disk is real too: a 1 MiB tmpfs mounted over the task, in a mount namespace of the command's own.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from agent.experiments import ADOPTING
from agent.home import strop_home
from agent.run import Candidate, Run
from agent.run_index import RunIndex
from agent.task import load_task
from tests.spine.conftest import Result, plain_folder_task
from tests.spine.test_adopt_killed import _killed_adopt


def _as_a_user(*args: str) -> Result:
    """`strop ARGS` bound by file permissions as an ordinary user is: as root, without
    CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (root still owns its files, so it runs as usual)."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("as root, these checks need setpriv (util-linux) to drop root's file capabilities")
        prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"]
    done = subprocess.run(
        [*prefix, sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True, timeout=120
    )
    return Result(done.returncode, done.stdout, done.stderr)


def _run(task: Path, files: dict[str, str]) -> str:
    """A finished run whose experiment 1 writes `files` into the task's folder; that experiment's name."""
    run = Run.start(load_task(task), strop_home(), RunIndex(strop_home()))
    base = run.evaluate(run.commit_candidate(0, None, Candidate("baseline")))
    run.evaluate(run.commit_candidate(1, base, Candidate("lower", files=files)))
    run.finish()
    return f"{run.record.id}/1"


def _marks() -> list[Path]:
    """The "adopt cut short" marks in strop's managed repos."""
    return list((strop_home() / "repos").glob(f"*/.git/{ADOPTING}"))


def _one_line(result: Result) -> str:
    assert result.code == 2, result.stdout + result.stderr
    assert result.stderr.count("error:") == 1 and "Traceback" not in result.stderr, result.stderr
    assert "STROP_HOME" not in result.stderr, result.stderr  # strop's home was not the problem
    return " ".join(result.stderr.split())


def test_a_read_only_file_refuses_the_adopt_before_anything_is_written(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    folder, task = plain_folder_task(tmp_path)
    name = _run(task, {"v": "1", "new.txt": "hello"})  # new.txt comes first: it was written, then v failed
    (folder / "v").chmod(0o444)
    words = _one_line(_as_a_user("adopt", name))
    assert f"cannot write v (read-only: no permission to write it) in {folder}: nothing was adopted" in words
    assert (folder / "v").read_text() == "3" and not (folder / "new.txt").exists()
    assert _marks() == []
    assert cli("eval", str(task)).code == 0  # the task is not stuck
    (folder / "v").chmod(0o644)
    adopted = _as_a_user("adopt", name)
    assert adopted.code == 0, adopted.stderr
    assert (folder / "v").read_text() == "1" and (folder / "new.txt").read_text() == "hello"


def test_a_folder_that_takes_no_new_file_refuses_the_adopt(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    folder, task = plain_folder_task(tmp_path)
    name = _run(task, {"v": "1", "sub/new.txt": "hello"})
    folder.chmod(0o555)
    try:
        words = _one_line(_as_a_user("adopt", name))
        assert (
            f"cannot write the folder itself (no permission to add or remove files in it) in {folder}"
            in words
        )
        assert (folder / "v").read_text() == "3" and not (folder / "sub").exists()
        assert _marks() == []
        assert cli("eval", str(task)).code == 0
    finally:
        folder.chmod(0o755)


SMALL_DISK = """
set -e
cp -a "$1" "$1.saved"
mount -t tmpfs -o size=1m tmpfs "$1"
cp -a "$1.saved/." "$1/"
set +e
"$2" -m agent.cli adopt "$3"
echo "code=$?"
echo "v=$(cat "$1/plain/v")"
echo "files=$(ls -A "$1/plain" | tr '\\n' ' ')"
"""


def test_a_disk_that_fills_mid_adopt_puts_back_what_was_written(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """v is written, then the 2 MB file fills the folder's 1 MiB disk: v is put back, the 2 MB file
    removed, the merge forgotten, and the task runs on."""
    disk = tmp_path / "disk"
    disk.mkdir()
    folder, task = plain_folder_task(disk)
    name = _run(task, {"v": "1", "zbig.bin": "x" * 2_000_000})
    own = ["--mount"] if os.geteuid() == 0 else ["--user", "--map-root-user", "--mount"]
    done = subprocess.run(
        ["unshare", *own, "sh", "-c", SMALL_DISK, "sh", str(disk), sys.executable, name],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if "code=" not in done.stdout:
        pytest.skip(f"no mount namespace with a tmpfs here: {done.stderr.strip()[:200]}")
    assert "code=2" in done.stdout, done.stdout + done.stderr
    words = " ".join(done.stderr.split())
    assert words.count("error:") == 1 and "STROP_HOME" not in words, words
    assert f"could not write zbig.bin in {folder} (No space left on device): nothing was adopted" in words
    assert "v=3" in done.stdout and "files=evaluate.py v " in done.stdout, done.stdout
    assert _marks() == []
    assert cli("eval", str(task)).code == 0
    adopted = cli("adopt", name)  # on the real disk, it goes through
    assert adopted.code == 0, adopted.stderr
    assert (folder / "v").read_text() == "1" and (folder / "zbig.bin").stat().st_size == 2_000_000


def test_a_killed_adopt_that_cannot_be_finished_says_why_and_stays_to_finish(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """Killed after its first file: the rest is written by the next adopt, which here may not write
    them. It says so in one line and keeps the mark: the folder is half adopted."""
    folder, task, name = _killed_adopt(tmp_path)
    locked = [folder / "v", folder]
    for path in locked:
        path.chmod(stat.S_IMODE(path.stat().st_mode) & ~0o222)
    try:
        words = _one_line(_as_a_user("adopt", name))
        assert f"in {folder}: the adopt of {name} cut short earlier is still not finished" in words, words
        assert len(_marks()) == 1
    finally:
        for path in locked:
            path.chmod(stat.S_IMODE(path.stat().st_mode) | 0o200)
    finished = _as_a_user("adopt", name)
    assert finished.code == 0, finished.stderr
    assert (folder / "v").read_text() == "1" and (folder / "new.txt").read_text() == "hello"
    assert _marks() == [] and cli("eval", str(task)).code == 0
