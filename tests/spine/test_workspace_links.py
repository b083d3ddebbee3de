"""A workspace link that leads out of the workspace, or nowhere: said before any evaluation.

An experiment's copy holds a link as a link, so `n.txt -> ../data/n.txt` led nowhere in the
sandbox and every experiment failed with a bare `cp: cannot stat 'n.txt'` that never named the
link. `strop eval` and `strop run` now say, in one note line before experiment 0, which links
these are, that the sandbox does not follow them, and what to do. Links that work stay unsaid.
"""

from __future__ import annotations

import os
from pathlib import Path

from agent.loop.graph import preflight
from agent.task import load_task
from tests.spine.conftest import git, strop

TASK = """[task]
name = "links"
goal = "g"
workspace = "ws"

[evaluator]
run = "sh run.sh"
score = "python -I s.py"
scorer = "scorer"
metric = "v"
direction = "maximize"
timeout = "20s"
sandbox = "local"
score_sandbox = "local"
{more}
"""


def linked_task(tmp_path: Path, more: str = "") -> Path:
    """ws/n.txt -> ../data/n.txt, read by the run stage, and the task file; returns the task file."""
    for folder in ("ws", "scorer", "data"):
        (tmp_path / folder).mkdir()
    (tmp_path / "data" / "n.txt").write_text("7\n")
    (tmp_path / "ws" / "n.txt").symlink_to("../data/n.txt")
    (tmp_path / "ws" / "run.sh").write_text('cp n.txt "$STROP_OUTPUTS/n.txt"\n')
    (tmp_path / "scorer" / "s.py").write_text(
        'import json, os\nprint(json.dumps({"v": int(open(os.environ["STROP_OUTPUTS"] + "/n.txt").read())}))\n'
    )
    (tmp_path / "task.toml").write_text(TASK.format(more=more))
    return tmp_path / "task.toml"


def notes(task: Path) -> list[str]:
    return [note for note in preflight(load_task(task)) if "link" in note]


def test_strop_eval_names_the_link_out_before_the_evaluation_fails_on_it(tmp_path: Path) -> None:
    done = strop("eval", str(linked_task(tmp_path)))
    assert done.code == 2 and "cannot stat 'n.txt'" in done.stderr  # the evaluation fails as before
    lines = done.stderr.splitlines()
    (note,) = [line for line in lines if line.startswith("note: ") and "link" in line]
    assert lines.index(note) < next(i for i, line in enumerate(lines) if line.startswith("error: "))
    assert "n.txt -> ../data/n.txt (outside it)" in note
    assert "the sandbox does not follow a link out of the workspace" in note
    assert "`public` folder" in note and "copy the file into the workspace" in note
    assert "Traceback" not in done.stderr


def test_links_that_work_are_not_named_and_dangling_ones_are(tmp_path: Path) -> None:
    task = linked_task(tmp_path)
    workspace = tmp_path / "ws"
    (workspace / "n.txt").unlink()
    (workspace / "n.txt").write_text("7\n")
    (workspace / "sub").mkdir()
    (workspace / "sub" / "again.txt").symlink_to("../n.txt")  # stays inside: the copy has both
    (workspace / ".venv").mkdir()
    (workspace / ".venv" / "python").symlink_to("/opt/python3")  # strop never copies .venv
    assert notes(task) == []
    assert strop("eval", str(task)).code == 0
    (workspace / "gone.txt").symlink_to("missing.txt")
    (note,) = notes(task)
    assert "gone.txt -> missing.txt (leads to nothing)" in note and "again.txt" not in note


def test_an_absolute_link_is_fine_into_a_mount_or_on_the_local_backend_only(tmp_path: Path) -> None:
    task = linked_task(tmp_path, more='mounts = ["{data}"]'.format(data=tmp_path / "data"))
    link = tmp_path / "ws" / "n.txt"
    link.unlink()
    link.symlink_to(tmp_path / "data" / "n.txt")
    task.write_text(task.read_text().replace('sandbox = "local"\n', 'sandbox = "bwrap"\n', 1))
    assert notes(task) == []  # the mount is bound at its own path: the link works there
    task.write_text(task.read_text().replace("mounts = ", "# mounts = "))
    (note,) = notes(task)
    assert f"n.txt -> {tmp_path / 'data' / 'n.txt'} (outside it)" in note


def test_a_git_workspace_names_its_tracked_links_only(tmp_path: Path) -> None:
    task = linked_task(tmp_path)
    workspace = tmp_path / "ws"
    git(workspace, "init", "-q")
    git(workspace, "add", "-A")
    git(workspace, "-c", "user.name=u", "-c", "user.email=u@x", "commit", "-qm", "init")
    (workspace / "loose.txt").symlink_to("/etc/hostname")  # untracked: no experiment has it anyway
    (note,) = notes(task)
    assert "n.txt -> ../data/n.txt" in note and "loose.txt" not in note


def test_the_target_is_never_opened(tmp_path: Path) -> None:
    """A link to a FIFO outside: opening it would block the check for ever."""
    task = linked_task(tmp_path)
    os.mkfifo(tmp_path / "data" / "pipe")
    (tmp_path / "ws" / "pipe").symlink_to("../data/pipe")
    (note,) = notes(task)
    assert "pipe -> ../data/pipe (outside it)" in note
