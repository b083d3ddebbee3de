"""`strop adopt` into a plain folder killed while it writes the files (SIGKILL, a real one).

The merge was recorded before the first file was written, so the next adopt said the folder
had "changed since strop last recorded it" (the user had changed nothing), and once `strop
eval` recorded the half-written folder, adopt said "no file changed (the folder had its
changes already)" with the old files in place: the experiment was never adopted.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from agent.home import strop_home
from agent.run import Candidate, Run
from agent.run_index import RunIndex
from agent.task import load_task
from tests.spine.conftest import plain_folder_task

KILLED_AT_THE_SECOND_FILE = """
import os, signal, sys
import agent.adoption as adoption
written = []
real = adoption._write
def write(path, blob):
    if written:
        os.kill(os.getpid(), signal.SIGKILL)
    written.append(path)
    real(path, blob)
adoption._write = write
sys.argv = ["strop", "adopt", sys.argv[1]]
from agent.cli import main
main()
"""


def _adopt_killed_by(script: str, tmp_path: Path) -> tuple[Path, Path, str]:
    """A run whose experiment 1 writes two files, adopted by `script` (which kills itself); the
    folder, the task, the experiment's name."""
    folder, task = plain_folder_task(tmp_path)
    run = Run.start(load_task(task), strop_home(), RunIndex(strop_home()))
    base = run.evaluate(run.commit_candidate(0, None, Candidate("baseline")))
    run.evaluate(run.commit_candidate(1, base, Candidate("lower", files={"v": "1", "new.txt": "hello"})))
    run.finish()
    name = f"{run.record.id}/1"
    killed = subprocess.run([sys.executable, "-c", script, name], capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    return folder, task, name


def _killed_adopt(tmp_path: Path) -> tuple[Path, Path, str]:
    """Killed after writing the first of the two files."""
    folder, task, name = _adopt_killed_by(KILLED_AT_THE_SECOND_FILE, tmp_path)
    assert (folder / "v").read_text() == "1" or (folder / "new.txt").exists()  # one written
    assert not ((folder / "v").read_text() == "1" and (folder / "new.txt").exists())  # not both
    return folder, task, name


def test_the_next_adopt_finishes_a_killed_one_and_eval_will_not_record_it_half_done(
    tmp_path: Path, cli
) -> None:  # type: ignore[no-untyped-def]
    folder, task, name = _killed_adopt(tmp_path)
    recorded = cli("eval", str(task))
    assert recorded.code == 2, recorded.stdout + recorded.stderr
    words = " ".join(recorded.stderr.split())
    assert (
        f"an adopt of {name} into {folder} is not finished" in words and f"`strop adopt {name}`" in words
    ), words
    finished = cli("adopt", name)
    assert finished.code == 0, finished.stderr
    said = " ".join(finished.stdout.split())
    assert said.startswith(f"finished the adopt cut short earlier: applied strop/{name} to {folder}"), said
    assert (folder / "v").read_text() == "1" and (folder / "new.txt").read_text() == "hello"
    again = cli("adopt", name)
    assert again.code == 0 and "no file changed" in " ".join(again.stdout.split()), (
        again.stdout + again.stderr
    )
    assert cli("eval", str(task)).code == 0  # the folder is recorded as adopted


def test_a_file_the_user_changed_after_the_kill_is_not_overwritten(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    folder, _, name = _killed_adopt(tmp_path)
    unwritten = "new.txt" if (folder / "v").read_text() == "1" else "v"
    (folder / unwritten).write_text("mine")
    refused = cli("adopt", name)
    assert refused.code == 2, refused.stdout + refused.stderr
    words = " ".join(refused.stderr.split())
    assert f"an adopt of {name} into {folder} was cut short, and {unwritten} changed since" in words, words
    assert (folder / unwritten).read_text() == "mine"


KILLED_AFTER_THE_MERGE = """
import os, signal, sys
import agent.adoption as adoption
real = adoption._merge
def merge(*args, **kwargs):
    real(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
adoption._merge = merge
sys.argv = ["strop", "adopt", sys.argv[1]]
from agent.cli import main
main()
"""


def test_an_adopt_killed_after_its_merge_before_any_write_is_undone_then_done(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """The merge recorded, no file written: the folder looked changed by the user ("run strop
    eval"), and recording it would have made the merge look done with the old files in place."""
    folder, task, name = _adopt_killed_by(KILLED_AFTER_THE_MERGE, tmp_path)
    assert (folder / "v").read_text() == "3" and not (folder / "new.txt").exists()  # nothing written
    adopted = cli("adopt", name)
    assert adopted.code == 0, adopted.stderr
    assert "wrote new.txt, v" in " ".join(adopted.stdout.split()), adopted.stdout
    assert (folder / "v").read_text() == "1" and (folder / "new.txt").read_text() == "hello"
    assert cli("eval", str(task)).code == 0
