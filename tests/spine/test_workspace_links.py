"""A workspace link that leads out of the workspace, or nowhere: said before any evaluation.

An experiment's copy holds a link as a link, so `n.txt -> ../data/n.txt` led nowhere in the
sandbox and every experiment failed with a bare `cp: cannot stat 'n.txt'` that never named the
link. `strop eval` and `strop run` now say, in one note line before experiment 0, which links
these are, that the sandbox does not follow them, and what to do. Links that work stay unsaid.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from agent.loop.graph import preflight
from agent.task import load_task
from agent.workspace_links import link_notes
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


def counted_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `git` first on PATH that notes each start in the returned file, then runs the real one."""
    real, log, folder = shutil.which("git"), tmp_path / "git-starts", tmp_path / "bin"
    folder.mkdir()
    (folder / "git").write_text(f'#!/bin/sh\necho "$@" >> {log}\nexec {real} "$@"\n')
    (folder / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")
    log.write_text("")
    return log


def test_a_plain_folder_with_a_gitignore_asks_git_once_not_once_per_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A JS folder ignoring node_modules/, whose .bin holds a link per package: two git
    processes per link (an empty repo, a check-ignore) took 14 s for 1,000 links before each run."""
    task = load_task(linked_task(tmp_path))
    workspace = tmp_path / "ws"
    (workspace / ".gitignore").write_text("node_modules/\n")
    (workspace / "n.txt").unlink()
    (workspace / "n.txt").write_text("7\n")
    starts = counted_git(tmp_path, monkeypatch)
    counts = []
    for count in (2, 30):
        for i in range(len(counts) * 2, count):
            (workspace / "node_modules" / f"p{i}").mkdir(parents=True)
            (workspace / "node_modules" / ".bin").mkdir(exist_ok=True)
            (workspace / "node_modules" / ".bin" / f"p{i}").symlink_to(f"../p{i}/cli.js")
            (workspace / f"l{i}.txt").symlink_to("n.txt")  # copied, and works: a link git is asked about
        starts.write_text("")
        assert link_notes(task) == []
        counts.append(len(starts.read_text().splitlines()))
    assert counts[0] == counts[1] <= 2, counts  # an empty repo and one listing, whatever the links


def test_a_link_into_what_git_ignores_leads_nowhere_in_the_experiments(tmp_path: Path) -> None:
    """The copy holds only what the commit holds (git) or the managed copy takes (plain folder):
    `n.txt -> data/n.txt` with data/ ignored worked by hand and failed every experiment, unsaid."""
    task = linked_task(tmp_path)
    workspace = tmp_path / "ws"
    (workspace / "n.txt").unlink()
    (workspace / "n.txt").symlink_to("data/n.txt")
    (workspace / "data").mkdir()
    (workspace / "data" / "n.txt").write_text("7\n")
    (workspace / ".gitignore").write_text("data/\n")
    (workspace / "v2").mkdir()
    (workspace / "v2" / "x.txt").write_text("1\n")
    (workspace / "current").symlink_to("v2")
    (workspace / "x.txt").symlink_to("current/x.txt")  # through a link the copy holds: it works
    (workspace / "all").symlink_to("v2")  # a folder the copy holds
    for kind in ("plain folder", "git"):
        if kind == "git":
            git(workspace, "init", "-q")
            git(workspace, "add", "-A")
            git(workspace, "-c", "user.name=u", "-c", "user.email=u@x", "commit", "-qm", "init")
        (note,) = link_notes(load_task(task))
        assert "n.txt -> data/n.txt (leads to nothing)" in note, kind
        assert "x.txt" not in note and "all" not in note.split(": ", 1)[1], kind
