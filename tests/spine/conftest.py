"""Fixtures for the spine: real git workspaces with small evaluators, and the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

GOOD_EVALUATOR = """
import json
value = float(open("value.txt").read())
print("warming up")
print(json.dumps({"score": value, "extra": 1}))
"""

TASK = """
[task]
name = "toy"
goal = "make the score high"
workspace = "{workspace}"

[evaluator]
command = "python evaluate.py"
metric = "score"
direction = "maximize"
timeout = "{timeout}"
files = ["evaluate.py"]
"""


def git_output(cwd: Path, *args: str) -> str:
    """git in `cwd` as a throwaway user; its output as it is (a file's text keeps its last newline)."""
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def git(cwd: Path, *args: str) -> str:
    """`git_output`, stripped: for ids, names and one-line answers."""
    return git_output(cwd, *args).strip()


def crafted_commit(
    repo: Path, commit: str, write: dict[str, tuple[str, str]], delete: tuple[str, ...] = ()
) -> str:
    """A commit on `commit` made with git's plumbing, as an older strop or a hand could leave one:
    `write` maps a path to (mode, text), e.g. ("100644", "x") for a file, ("120000", target) for a link."""
    env = {**os.environ, "GIT_INDEX_FILE": str(repo.parent / f"crafted-index-{commit[:12]}")}

    def plumb(*args: str, text: str | None = None) -> str:
        command = ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args]
        done = subprocess.run(
            command, cwd=repo, env=env, input=text, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    plumb("read-tree", commit)
    for path, (mode, text) in write.items():
        blob = plumb("hash-object", "-w", "--stdin", text=text)
        plumb("update-index", "--add", "--cacheinfo", f"{mode},{blob},{path}")
    for path in delete:
        plumb("update-index", "--force-remove", path)
    return plumb("commit-tree", plumb("write-tree"), "-p", commit, "-m", "crafted")


@dataclass
class Workspace:
    """A user's git repo holding a toy artifact (value.txt) and its evaluator."""

    path: Path
    task: Path

    def snapshot(self) -> tuple[str, str, str]:
        """HEAD, branch and working-tree status: what must be equal before and after strop."""
        return (
            git(self.path, "rev-parse", "HEAD"),
            git(self.path, "rev-parse", "--abbrev-ref", "HEAD"),
            git(self.path, "status", "--porcelain", "--untracked-files=all"),
        )


def plain_folder_task(tmp_path: Path) -> tuple[Path, Path]:
    """A folder that is no git repo (its file v holds the loss) and a task.toml over it."""
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "evaluate.py").write_text('import json\nprint(json.dumps({"loss": float(open("v").read())}))\n')
    (folder / "v").write_text("3")
    task = tmp_path / "task.toml"
    task.write_text(
        '[task]\nname = "plain"\ngoal = "g"\nworkspace = "plain"\n'
        '[evaluator]\ncommand = "python evaluate.py"\nmetric = "loss"\ndirection = "minimize"\nfiles = ["evaluate.py"]\n'
    )
    return folder, task


@pytest.fixture
def make_workspace(tmp_path: Path) -> Callable[..., Workspace]:
    def make(
        evaluator: str = GOOD_EVALUATOR, value: str = "0.5", timeout: str = "20s", task: str = TASK
    ) -> Workspace:
        path = tmp_path / "user-repo"
        path.mkdir()
        (path / "evaluate.py").write_text(textwrap.dedent(evaluator))
        (path / "value.txt").write_text(value)
        git(path, "init", "-q", "-b", "main")
        git(path, "add", "-A")
        git(path, "commit", "-qm", "initial")
        task_file = tmp_path / "task.toml"
        task_file.write_text(task.format(workspace=path, timeout=timeout))
        return Workspace(path, task_file)

    return make


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def strop(*args: str, timeout: float = 120) -> Result:
    """Run the real CLI in a fresh interpreter, as a user would."""
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def cli() -> Callable[..., Result]:
    return strop
