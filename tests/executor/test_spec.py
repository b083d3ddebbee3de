"""Choosing the executor: the command line, task.toml's [search], jobs.toml; bad input is one line.

No cluster needed: these run where Ray is installed (the package's conftest skips otherwise).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.errors import UserError
from agent.executors import ExecutorSpec
from agent.executors.remote import pack_tree, unpack_tree
from agent.loop import Overrides
from agent.loop.graph import executor_spec
from agent.nightly.jobs import load_jobs
from agent.nightly.runner import _command
from agent.task import load_task
from tests.loop.conftest import make_task


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "dask"}, "unknown executor 'dask'"),
        ({"kind": "local", "address": "auto"}, "--address is for the ray executor"),
        ({"kind": "ray", "address": "no port"}, "give auto or HOST:PORT"),
        ({"kind": "ray", "retries": 11}, "between 0 and 10"),
    ],
)
def test_bad_executor_input_is_a_user_error(kwargs: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        ExecutorSpec(**kwargs)


def test_the_command_line_wins_over_the_task_and_the_task_over_the_default(tmp_path: Path) -> None:
    path = make_task(tmp_path / "t")
    plain = load_task(path)
    assert executor_spec(plain, Overrides()) == ExecutorSpec()
    path.write_text(
        path.read_text().replace("[search]", '[search]\nexecutor = "ray"\naddress = "10.0.0.1:6379"')
    )
    task = load_task(path)
    assert executor_spec(task, Overrides()) == ExecutorSpec("ray", "10.0.0.1:6379")
    chosen = ExecutorSpec("local").to_dict()
    assert executor_spec(task, Overrides(executor=chosen)) == ExecutorSpec("local")


def test_jobs_choose_their_executor_or_the_nights(tmp_path: Path) -> None:
    jobs_file = tmp_path / "jobs.toml"
    jobs_file.write_text(
        '[nightly]\nexecutor = "ray"\naddress = "127.0.0.1:6379"\n\n'
        '[jobs.a]\nkind = "numerics"\nargs = ["--fn", "exp"]\nschedule = "0 2 * * *"\n\n'
        '[jobs.b]\nkind = "numerics"\nargs = ["--fn", "exp"]\nschedule = "0 2 * * *"\nexecutor = "local"\n'
    )
    jobs = load_jobs(jobs_file)
    assert jobs.executor("a") == ExecutorSpec("ray", "127.0.0.1:6379")
    assert jobs.executor("b") == ExecutorSpec("local")
    command = _command(jobs, "a", jobs.spec.jobs["a"], 60, None, None)
    assert command[command.index("--executor") + 1 :][:3] == ["ray", "--address", "127.0.0.1:6379"]
    assert "--executor" not in _command(jobs, "b", jobs.spec.jobs["b"], 60, None, None)


def test_a_tree_travels_without_git_and_keeps_its_links(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / ".git").mkdir(parents=True)
    (source / ".git" / "config").write_text("[core]\n")
    (source / "pkg").mkdir()
    (source / "pkg" / "a.py").write_text("x = 1\n")
    (source / "link").symlink_to("pkg/a.py")
    unpack_tree(pack_tree(source), tmp_path / "dst")
    assert sorted(p.relative_to(tmp_path / "dst").as_posix() for p in (tmp_path / "dst").rglob("*")) == [
        "link",
        "pkg",
        "pkg/a.py",
    ]
    assert (tmp_path / "dst" / "link").is_symlink() and (tmp_path / "dst" / "link").read_text() == "x = 1\n"
