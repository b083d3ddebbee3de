"""`strop init` and tasks from the command line: real git repos, the real CLI, the file loaded back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from agent.errors import UserError
from agent.task import load_task
from agent.taskgen import draft, files_to_protect, render, task_from_goal

BENCH = 'import json\nprint(json.dumps({"seconds": 1.5}))\n'


def strop(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def workspace(tmp_path: Path, repo: bool) -> Path:
    folder = tmp_path / "bench-ws"
    folder.mkdir()
    (folder / "bench.py").write_text(BENCH)
    (folder / "data.csv").write_text("1,2\n")
    if repo:
        for args in (
            ["init", "-q", "-b", "main"],
            ["add", "-A"],
            ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "i"],
        ):
            subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True)
    return folder


@pytest.mark.parametrize("repo", [True, False])
def test_init_writes_a_commented_task_that_loads_and_evaluates(tmp_path: Path, repo: bool) -> None:
    folder = workspace(tmp_path, repo)
    done = strop(
        "init",
        "--goal",
        'make "bench" fast',
        "--eval",
        "python bench.py data.csv",
        "--metric",
        "seconds",
        "--direction",
        "min",
        cwd=folder,
    )
    assert done.returncode == 0, done.stderr
    text = (folder / "task.toml").read_text()
    assert ("git repo: strop works in it in place" in text) is repo
    task = load_task(folder / "task.toml")
    assert task.workspace == folder.resolve()
    assert list(task.evaluator.files) == ["bench.py", "data.csv"]  # what the eval command names
    assert task.evaluator.direction.value == "minimize" and task.spec.task.goal == 'make "bench" fast'
    # the default count is not written: `strop run --time 30s` stopped at a written 20 in 8 s
    from agent.budget import RunBudget

    assert RunBudget(task.spec.budget).experiments == 20
    assert RunBudget(task.spec.budget).with_overrides(None, 30.0).experiments is None
    if repo:  # the task file itself would dirty the repo: commit it, as a user would
        subprocess.run(["git", "add", "task.toml"], cwd=folder, check=True)
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "task"],
            cwd=folder,
            check=True,
        )
    evaluated = strop("eval", str(folder / "task.toml"), "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["experiment"]["metrics"]["seconds"] == 1.5


def test_init_refuses_to_overwrite_and_bad_input_is_one_line(tmp_path: Path) -> None:
    folder = workspace(tmp_path, repo=False)
    args = ["init", str(folder), "--goal", "g", "--eval", "python bench.py", "--metric", "m"]
    assert strop(*args).returncode == 0
    again = strop(*args)
    assert again.returncode == 2 and "--force" in again.stderr and len(again.stderr.strip().splitlines()) == 1
    assert strop(*args, "--force").returncode == 0
    for bad in (["--direction", "up"], ["--goal", " "], ["--eval", "python 'unclosed"]):
        done = strop(*args, "--force", *bad)
        assert done.returncode == 2 and done.stderr.startswith("error:"), done.stderr
    missing = strop("init", str(tmp_path / "nope"), "--goal", "g", "--eval", "e", "--metric", "m")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    elsewhere = tmp_path / "tasks"  # -o FOLDER writes FOLDER/task.toml (a rename over it: internal error)
    elsewhere.mkdir()
    for extra, code in (([], 0), (["--force"], 0), ([], 2)):
        into = strop(*args, "-o", str(elsewhere), *extra)
        assert into.returncode == code and "internal error" not in into.stderr, into.stderr
    assert load_task(elsewhere / "task.toml").workspace == folder.resolve()
    bare = strop("init", str(folder), "--metric", "m")  # the options it needs, named, with an example
    assert (
        bare.returncode == 2 and "needs --goal, --eval:" in bare.stderr and "e.g. strop init" in bare.stderr
    )


def test_files_outside_the_workspace_are_not_proposed(tmp_path: Path) -> None:
    folder = workspace(tmp_path, repo=False)
    (tmp_path / "secret.py").write_text("")
    assert files_to_protect(folder, "python bench.py ../secret.py missing.py") == ["bench.py"]


def test_what_the_eval_tool_reads_unnamed_is_protected_too(tmp_path: Path) -> None:
    """`make -s` left the Makefile editable, a bare `pytest` the tests: a candidate could change the judge."""
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_a.py").write_text("")
    for name in ("Makefile", "conftest.py", "run.py"):
        (tmp_path / name).write_text("")
    assert files_to_protect(tmp_path, "make -s score") == ["Makefile"]
    assert files_to_protect(tmp_path, "python -m pytest -q") == ["conftest.py", "tests"]
    assert files_to_protect(tmp_path, "python run.py tests .") == ["run.py", "tests"]


def test_a_task_from_the_command_line_is_kept_under_the_home(tmp_path: Path, isolated_home: Path) -> None:
    folder = workspace(tmp_path, repo=True)
    task = task_from_goal(folder, "g", "python bench.py", "seconds", "min", isolated_home)
    assert task.path.parent == isolated_home / "tasks" and task.workspace == folder.resolve()
    assert tomllib.loads(task.source)["evaluator"]["files"] == ["bench.py"]
    assert not (folder / "task.toml").exists()  # the user's workspace stays as it was
    with pytest.raises(UserError):
        draft(folder, "g", "python bench.py", "seconds", "sideways")
    assert 'name = "bench-ws"' in render(draft(folder, "g", "python bench.py", "s", "max"))


SPEED_BENCH = 'import json\nprint(json.dumps({"seconds": float(open("speed.txt").read())}))\n'
EDIT = "Plan: halve the time.\n\nspeed.txt\n```\n<<<<<<< SEARCH\n2.0\n=======\n1.0\n>>>>>>> REPLACE\n```\n"


def test_strop_run_takes_a_goal_instead_of_a_task_file(tmp_path: Path, isolated_home: Path) -> None:
    """The real CLI, the real loop and the real openai client, against the scripted endpoint."""
    from agent.llm.scripted_server import Reply, ScriptedServer
    from agent.run_index import RunIndex

    folder = tmp_path / "speedy"
    folder.mkdir()
    (folder / "bench.py").write_text(SPEED_BENCH)
    (folder / "speed.txt").write_text("2.0\n")
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "i"],
    ):
        subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True)
    goal = [
        "--goal",
        "make it fast",
        "--eval",
        "python bench.py",
        "--metric",
        "seconds",
        "--direction",
        "min",
    ]
    without_llm = strop("run", str(folder), *goal, "-n", "2")
    assert without_llm.returncode == 2 and "STROP_LLM_URL" in without_llm.stderr
    with ScriptedServer(lambda request: Reply.text(EDIT)) as server:
        env = {
            **os.environ,
            "STROP_LLM_URL": server.base_url,
            "STROP_LLM_MODEL": "scripted",
            "OPENAI_API_KEY": "x",
        }
        done = subprocess.run(
            [sys.executable, "-m", "agent.cli", "run", str(folder), *goal, "-n", "2", "--json"],
            capture_output=True,
            text=True,
            timeout=240,
            env=env,
        )
        assert done.returncode == 0, done.stderr
        assert server.requests, "the LLM was asked"
    result = json.loads(done.stdout)
    assert result["baseline"]["metrics"]["seconds"] == 2.0 and result["best"]["metrics"]["seconds"] == 1.0
    run = RunIndex(isolated_home).find_run(result["run"])
    saved = tomllib.loads(run.task_source)  # the run keeps the task it used
    assert saved["task"]["goal"] == "make it fast" and saved["evaluator"]["files"] == ["bench.py"]
    assert saved["llm"]["model"] == "scripted" and Path(run.task_path).parent == isolated_home / "tasks"
    assert (folder / "speed.txt").read_text() == "2.0\n"  # the user's tree is untouched until adopt


def test_init_says_what_the_file_cannot_do_yet(tmp_path: Path) -> None:
    """The goal names the script the command runs (so it is protected), and no LLM is set: both said
    before `strop run` fails on them, and the next step asks for a [space] or an [llm]."""
    folder = workspace(tmp_path, repo=False)
    environ = {k: v for k, v in os.environ.items() if k not in ("STROP_LLM_URL", "STROP_LLM_MODEL")}
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "init", str(folder), "--goal", "make bench.py faster"]
        + ["--eval", "python bench.py", "--metric", "seconds", "--direction", "min"],
        capture_output=True,
        text=True,
        timeout=120,
        env=environ,
    )
    assert done.returncode == 0, done.stderr
    notes = [line for line in done.stdout.splitlines() if line.startswith("note: ")]
    assert len(notes) == 2, done.stdout
    assert "the goal names bench.py, which `files` protects as the judge" in notes[0]
    assert "`strop run` needs a [space]" in notes[1] and "or an [llm] table" in notes[1]
    assert "then, with a [space] or an [llm] in it,   strop run" in done.stdout


def test_init_on_a_folder_inside_a_repo_says_it_is_a_managed_copy(tmp_path: Path) -> None:
    repo = workspace(tmp_path, repo=True)
    inner = repo / "sub"
    inner.mkdir()
    (inner / "run.py").write_text(BENCH)
    done = strop("init", str(inner), "--goal", "g", "--eval", "python run.py", "--metric", "seconds")
    assert done.returncode == 0, done.stderr
    assert f"{inner} lies inside the git repo {repo} but is not its top" in done.stdout
    assert "`strop adopt` writes the files in" in done.stdout
    plain = strop("init", str(repo), "--goal", "g", "--eval", "python bench.py", "--metric", "seconds")
    assert plain.returncode == 0 and "lies inside the git repo" not in plain.stdout


def test_a_params_file_gives_a_guessed_space_and_the_run_searches_it_offline(
    tmp_path: Path, isolated_home: Path
) -> None:
    """`strop init` then `strop run`, no LLM and no ranges written by hand: the [space] is guessed
    from params.json's values, each kind of value its own range, and what has none is named."""
    folder = workspace(tmp_path, repo=False)  # a plain folder: strop keeps a managed copy
    values = {"lr": 0.1, "depth": 3, "subsample": 0.8, "n": 0, "shift": -2.5, "flag": True,
              "kind": "a", "layers": [1, 2], "big": 1e308, "bad-name": 1}  # fmt: skip
    (folder / "params.json").write_text(json.dumps(values))
    (folder / "bench.py").write_text(
        "import json\np = json.load(open('params.json'))\n"
        "print(json.dumps({'seconds': (p['lr'] - 0.03) ** 2 + abs(p['depth'] - 7) + (0 if p['flag'] else 1)}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("STROP_LLM")}
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "init", "--goal", "fast", "--eval", "python bench.py",
         "--metric", "seconds", "--direction", "min"],
        capture_output=True, text=True, timeout=120, cwd=folder, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "[space] guessed from params.json: lr, depth, subsample, n, shift, flag" in done.stdout
    assert "then   strop run" in done.stdout
    space = load_task(folder / "task.toml").spec.space
    assert set(space) == {"lr", "depth", "subsample", "n", "shift", "flag"}
    assert (space["lr"].low, space["lr"].high, space["lr"].log) == (0.01, 1.0, True)  # a fraction: up to 1
    assert (space["depth"].low, space["depth"].high) == (1, 12)
    assert (space["n"].low, space["n"].high) == (0, 10)
    assert (space["shift"].low, space["shift"].high, space["shift"].log) == (-25.0, -0.25, False)
    assert space["flag"].type == "bool"
    text = (folder / "task.toml").read_text()
    for left_out in ("kind (text", "layers (a list)", "big (too large", '"bad-name" (not a parameter name)'):
        assert left_out in text, left_out
    ran = subprocess.run(
        [sys.executable, "-m", "agent.cli", "run", str(folder), "-n", "6", "--json"],
        capture_output=True, text=True, timeout=240, cwd=folder, env=env,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    assert report["best"]["metrics"]["seconds"] < report["baseline"]["metrics"]["seconds"]
    kept = json.loads((folder / "params.json").read_text())
    assert kept == values  # the user's file is untouched until `strop adopt`


def test_no_params_file_or_one_that_is_no_object_leaves_the_space_commented(tmp_path: Path) -> None:
    folder = workspace(tmp_path, repo=False)
    for text in (None, "[1, 2]", "{not json", "\x00\x01"):
        if text is not None:
            (folder / "params.json").write_text(text)
        d = draft(folder, "fast", "python bench.py", "seconds", "min")
        assert d.space is None and "# [space]" in render(d)


def test_a_params_file_of_many_values_or_odd_keys_still_makes_a_task_file_that_loads() -> None:
    """Keys with control characters, very long keys and a hundred numbers: the sketch stays valid
    TOML, keeps 64 parameters (more is data, not knobs) and names what it left out, briefly."""
    from agent.space_sketch import MAX_PARAMETERS, sketch_values

    values = {"a\x7fb\nc": 1, "x" * 500: 2, **{f"p{i}": float(i + 1) for i in range(100)}}
    sketch = sketch_values(values, "params.json")
    parsed = tomllib.loads(sketch.toml())
    assert len(parsed["space"]) == len(sketch.lines) == MAX_PARAMETERS
    (comment,) = [line for line in sketch.toml().splitlines() if line.startswith("# left out: ")]
    assert '"a\\u007fb\\nc" (not a parameter name)' in comment and "x" * 41 not in comment
    assert "p64 (past the first 64 parameters)" in comment and comment.endswith(
        f"and {100 - 64 + 2 - 12} more"
    )
