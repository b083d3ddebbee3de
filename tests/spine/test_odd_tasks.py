"""Tasks no benchmark names, as a user with their own project writes them: the real CLI on real repos.

A two-stage task over a git workspace (make.py writes the candidate's value, the scorer
outside it prints the loss), bent one way per test: a task file saved by Windows tools,
values TOML allows and the OS does not, a scorer the sandbox has to stop, a metric key that
is also Rich markup, and `strop init` given text a TOML file must escape. Each ends in one
clear line (exit 2) or a clean run; never a traceback, and never a lost file.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.spine.conftest import Result, git

MAKE = """import json, os
x = json.load(open("params.json"))["x"]
open(os.path.join(os.environ["STROP_OUTPUTS"], "out.json"), "w").write(json.dumps({"x": x}))
"""

SCORE = """import json, os
x = json.load(open(os.path.join(os.environ["STROP_OUTPUTS"], "out.json")))["x"]
print(json.dumps({METRIC: (x - 0.3) ** 2}))
"""

TASK = """[task]
name = "odd"
goal = "minimise the loss"
workspace = "ws"

[evaluator]
run = "python make.py"
score = "python -I score.py"
scorer = "scorer"
metric = METRIC
direction = "minimize"
timeout = "20s"
sandbox = "local"
score_sandbox = "local"

[proposer]
params_file = "params.json"

[space]
x = { type = "float", low = -1, high = 1 }
"""


def odd_task(tmp_path: Path, metric: str = "loss", score: str = SCORE) -> Path:
    """The task folder: ws/ (a git repo), scorer/ beside it, and task.toml; returns task.toml."""
    quoted = '"' + metric.replace("\\", "\\\\").replace('"', '\\"') + '"'
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "make.py").write_text(MAKE)
    (workspace / "params.json").write_text('{"x": 1.0}')
    git(workspace, "init", "-q", "-b", "main")
    git(workspace, "add", "-A")
    git(workspace, "commit", "-qm", "initial")
    (tmp_path / "scorer").mkdir()
    (tmp_path / "scorer" / "score.py").write_text(score.replace("METRIC", repr(metric)))
    task = tmp_path / "task.toml"
    task.write_text(TASK.replace("METRIC", quoted), encoding="utf-8")
    return task


def one_error(result: Result, fragment: str) -> None:
    """Exit 2, one `error:` line holding `fragment`, and no traceback."""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.code == 2, result.stderr
    assert len(errors) == 1 and fragment in errors[0], result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


def test_a_task_file_saved_with_a_byte_order_mark_and_crlf_loads(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    """Notepad's "UTF-8 with BOM" failed as `not valid TOML: Invalid statement (at line 1, column 1)`."""
    task = odd_task(tmp_path)
    text = task.read_text().replace("\n", "\r\n")
    task.write_bytes(b"\xef\xbb\xbf" + text.encode())
    result = cli("eval", str(task))
    assert result.code == 0, result.stderr
    assert "ok  loss = 0.49" in result.stdout


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('goal = "minimise the loss"', 'goal = "   "', "[task.goal] is blank"),
        ('timeout = "20s"', "timeout = nan", "[evaluator.timeout] not a duration: nan"),
        ('timeout = "20s"', "timeout = inf", "[evaluator.timeout] not a duration: inf"),
        (
            'timeout = "20s"',
            'timeout = "100000000d"',
            "[evaluator.timeout] '100000000d' is longer than a year",
        ),
        ('timeout = "20s"', "timeout = [20]", "[evaluator.timeout] not a duration: [20]"),
        ("[proposer]", "[budget]\ntime = inf\n\n[proposer]", "[budget.time] not a duration: inf"),
        ('timeout = "20s"', 'timeout = "20s"\nmemory = 1.5', "[evaluator.memory] not a size: 1.5"),
        (
            'timeout = "20s"',
            'timeout = "20s"\nmemory = 100000000000000000000000',
            "[evaluator.memory] 100000000000000000000000 is more than 1 PiB",
        ),
        (  # docker refused it at experiment 0 and at every resume: an internal error, a run never ending
            'timeout = "20s"',
            'timeout = "20s"\nmemory = "1k"',
            "[evaluator.memory] '1k' is too little memory for any command: give at least 32m",
        ),
        ('timeout = "20s"', 'timeout = "20s"\nenv = { "A=B" = "1" }', "environment variable name 'A=B'"),
        ('timeout = "20s"', 'timeout = "20s"\nenv = { "" = "1" }', "environment variable name ''"),
        (
            'timeout = "20s"',
            'timeout = "20s"\nenv = { A = "a\\u0000b" }',
            "task.toml:13: [evaluator.env.A] holds a NUL",
        ),
        (
            'run = "python make.py"',
            'run = "python make.py\\u0000"',
            "task.toml:7: [evaluator.run] holds a NUL",
        ),
        ('workspace = "ws"', 'workspace = "w\\u0000s"', "task.toml:4: [task.workspace] holds a NUL"),
        ('scorer = "scorer"', 'scorer = "sc\\u0000orer"', "[evaluator.scorer] holds a NUL"),
        ('"params.json"', '"par\\u0000ams.json"', "[proposer.params_file] holds a NUL"),
        (
            'timeout = "20s"',
            'timeout = "20s"\nfiles = ["/etc/passwd"]',
            "[evaluator.files] '/etc/passwd' is absolute",
        ),
        (
            'timeout = "20s"',
            'timeout = "20s"\nmetrics_file = "../../etc/passwd"',
            "[evaluator.metrics_file] '../../etc/passwd' leaves its folder",
        ),
        (
            'sandbox = "local"',
            'sandbox = "podman"',
            "[evaluator.sandbox] unknown sandbox 'podman': choose auto",
        ),
        ('score_sandbox = "local"', 'score_sandbox = "Local"', "[evaluator.score_sandbox] unknown sandbox"),
    ],
    ids=[
        "blank goal",
        "nan timeout",
        "inf timeout",
        "timeout past a year",
        "timeout as a list",
        "inf budget time",
        "fractional memory",
        "memory past setrlimit",
        "memory under docker's minimum",
        "env name with =",
        "empty env name",
        "NUL in an env value",
        "NUL in a command",
        "NUL in the workspace",
        "NUL in the scorer",
        "NUL in the params file",
        "absolute protected file",
        "metrics file outside the scorer",
        "unknown sandbox",
        "unknown scorer sandbox",
    ],
)
def test_values_toml_allows_and_the_os_does_not_are_one_clear_error(
    tmp_path: Path, cli: Callable[..., Result], old: str, new: str, expected: str
) -> None:
    """Each of these was accepted, then crashed `strop eval` (OverflowError, TypeError, ValueError:
    embedded null byte) or ran on a NaN deadline; the blank goal ran with nothing to improve."""
    task = odd_task(tmp_path)
    text = task.read_text()
    assert old in text
    task.write_text(text.replace(old, new, 1))
    one_error(cli("eval", str(task)), expected)


def test_direction_is_read_in_any_case(tmp_path: Path, cli: Callable[..., Result]) -> None:
    """`Minimize` (as a user capitalises it) was refused, though `min` and `minimise` are taken."""
    task = odd_task(tmp_path)
    task.write_text(task.read_text().replace('"minimize"', '" Minimize"'))
    result = cli("eval", str(task))
    assert result.code == 0, result.stderr
    assert "ok  loss = 0.49" in result.stdout


@pytest.mark.parametrize("plain", [False, True], ids=["git repo", "plain folder"])
def test_a_params_file_git_ignores_is_refused_before_the_run(
    tmp_path: Path, cli: Callable[..., Result], plain: bool
) -> None:
    """`git add -A` left the ignored params.json out of every experiment's commit: each failed
    with the code's FileNotFoundError, and nothing named the .gitignore line."""
    import shutil

    task = odd_task(tmp_path)
    workspace = tmp_path / "ws"
    git(workspace, "rm", "-q", "--cached", "params.json")
    (workspace / ".gitignore").write_text("*.log\nparams.json\n")
    git(workspace, "add", ".gitignore")
    git(workspace, "commit", "-qm", "ignore the params")
    if plain:
        shutil.rmtree(workspace / ".git")
    result = cli("run", str(task), "-n", "3")
    one_error(result, "task.toml:17: [proposer.params_file] params.json is ignored by git")
    assert "!params.json" in result.stderr and "run " not in result.stdout


def test_a_params_file_tracked_despite_a_gitignore_line_is_fine(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    """Git commits changes to a tracked file whatever .gitignore says: no error there."""
    task = odd_task(tmp_path)
    workspace = tmp_path / "ws"
    (workspace / ".gitignore").write_text("params.json\n")
    git(workspace, "add", ".gitignore")
    git(workspace, "commit", "-qm", "ignore, but tracked")
    result = cli("eval", str(task))
    assert result.code == 0, result.stderr


def test_a_goal_too_long_for_the_model_context_is_refused_before_the_run(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    """A 100 KB goal with `context = 8192` ran experiment 0, then failed every model call with an
    overflow that named no part of the task file (the goal is never cut from a prompt)."""
    task = odd_task(tmp_path)
    long_goal = "minimise the loss. " * 5500
    text = task.read_text().replace("minimise the loss", long_goal, 1)
    text = text.replace(
        "[proposer]", '[llm]\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m"\ncontext = 8192\n\n[proposer]'
    )
    task.write_text(text)
    result = cli("run", str(task), "-n", "2")
    one_error(result, "task.toml:3: [task.goal] is about 34833 tokens")
    assert "8192-token context" in result.stderr and "run " not in result.stdout
    task.write_text(text.replace(long_goal, "minimise the loss"))
    from agent.task import load_task

    assert load_task(task).spec.llm is not None


def test_a_scorer_killed_for_its_output_is_not_said_to_refuse_the_outputs(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    """A scorer past the 1 MiB output limit read as `the scorer did not accept the outputs: xxxx…`
    (its last line), as if it had judged the candidate; the sandbox had killed it."""
    chatty = 'import sys\nfor _ in range(30000):\n    sys.stdout.write("x" * 99 + "\\n")\nprint(\'{"loss": 0.1}\')\n'
    task = odd_task(tmp_path, score=chatty)
    result = cli("eval", str(task))
    one_error(result, "the scorer was killed while scoring these outputs: it printed more than 1 MiB")
    assert "did not accept" not in result.stderr


def test_a_scorer_that_raises_is_said_to_crash_not_to_refuse_the_outputs(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    """A scorer's own exception read as `the scorer did not accept the outputs: KeyError: …`: the
    user took it for the candidate's fault and looked for the bug in the wrong place."""
    task = odd_task(
        tmp_path, score='import json\nsettings = {}\nprint(json.dumps({"loss": settings["scale"]}))\n'
    )
    result = cli("eval", str(task))
    one_error(result, "the scorer crashed on these outputs (KeyError: 'scale'): a bug in the scorer")
    assert "did not accept" not in result.stderr


def test_a_run_stage_killed_for_its_output_says_which_limit(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    """`candidate's run stage killed (output)` left the user to guess the limit and the way out."""
    task = odd_task(tmp_path)
    workspace = tmp_path / "ws"
    with (workspace / "make.py").open("a") as file:
        file.write('import sys\nfor _ in range(30000):\n    sys.stdout.write("y" * 99 + "\\n")\n')
    git(workspace, "commit", "-qam", "chatty")
    one_error(cli("eval", str(task)), "run stage was killed: it printed more than 1 MiB on stdout or stderr")


def test_a_scorer_printing_thousands_of_metrics_keeps_the_run_whole(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    """50,000 metrics (700 KB, under the output limit) made a record git could not take as one
    argument: `internal error: OSError: Argument list too long`, the run left `running`."""
    many = SCORE.replace("print(json.dumps({METRIC: (x - 0.3) ** 2}))", "")
    many += 'scores = {METRIC: (x - 0.3) ** 2, "k" * 200_000: 1}\n'
    many += 'scores.update({f"k{i}": i for i in range(50_000)})\nprint(json.dumps(scores))\n'
    task = odd_task(tmp_path, score=many)
    result = cli("run", str(task), "-n", "2", "--json")
    assert result.code == 0, result.stderr
    best = json.loads(result.stdout)["best"]
    assert best["metrics"]["loss"] == pytest.approx(0.49)
    assert len(best["metrics"]) == 64 and "k" * 200_000 not in best["metrics"]
    audit = cli("audit", json.loads(result.stdout)["run"])
    assert audit.code == 0 and "is whole" in audit.stdout, audit.stdout + audit.stderr


def test_a_pipe_and_a_socket_in_the_scorer_folder_are_left_out_of_its_copy(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    """copytree refused them (`is a named pipe`, `No such device or address`): every run of the
    task stopped at its start with an internal error."""
    import socket

    task = odd_task(tmp_path)
    (tmp_path / "scorer" / "sub").mkdir()
    os.mkfifo(tmp_path / "scorer" / "sub" / "pipe")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(tmp_path / "scorer" / "sock"))
        result = cli("eval", str(task))
    assert result.code == 0, result.stderr
    assert "ok  loss = 0.49" in result.stdout


@pytest.mark.parametrize("metric", ["loss[/]", "[red]loss"])
def test_a_metric_key_that_is_rich_markup_is_shown_as_written(
    tmp_path: Path, cli: Callable[..., Result], metric: str
) -> None:
    """`loss[/]` crashed `strop run` after experiment 0 (`internal error: MarkupError`), leaving the
    run `running`; `[red]loss` was shown as a red `loss`."""
    task = odd_task(tmp_path, metric=metric)
    result = cli("run", str(task), "-n", "2")
    assert result.code == 0, result.stderr
    assert "internal error" not in result.stderr
    assert f"0 ok {metric} = 0.49" in result.stderr
    assert f"minimize {metric}" in result.stdout and f"experiment 0: {metric} = 0.49" in result.stdout
    run_id = result.stdout.split("run ", 1)[1].split()[0]
    audit = cli("audit", run_id)
    assert audit.code == 0 and "is whole" in audit.stdout, audit.stdout + audit.stderr


def _init(cli: Callable[..., Result], folder: Path, *extra: str) -> Result:
    return cli("init", str(folder), "--eval", "python bench.py", *extra)


@pytest.fixture
def bench_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "my project"
    folder.mkdir()
    (folder / "bench.py").write_text("print('{\"seconds\": 1.5}')\n")
    return folder


def test_init_writes_a_goal_and_metric_with_emoji_and_del_as_valid_toml(
    bench_folder: Path, cli: Callable[..., Result]
) -> None:
    """json.dumps wrote the rocket as a surrogate pair (`\\ud83d\\ude80`), which TOML refuses:
    `strop init` failed on the file it had just written, and left it there."""
    goal = 'go faster 🚀, "quoted", back\\slash, DEL\x7f'
    result = _init(cli, bench_folder, "--goal", goal, "--metric", "sé conds 🚀")
    assert result.code == 0, result.stderr
    from agent.task import load_task

    task = load_task(bench_folder / "task.toml")
    assert task.spec.task.goal == goal and task.evaluator.metric == "sé conds 🚀"


def test_init_force_with_a_wrong_value_keeps_the_existing_file(
    bench_folder: Path, cli: Callable[..., Result]
) -> None:
    """`--force` with a metric holding a tab wrote the broken file over the user's good one."""
    assert _init(cli, bench_folder, "--goal", "g", "--metric", "seconds").code == 0
    good = (bench_folder / "task.toml").read_bytes()
    result = _init(cli, bench_folder, "--goal", "g", "--metric", "sec\tonds", "--force")
    one_error(result, "nothing written: the task file would be wrong")
    assert "[evaluator.metric]" in result.stderr
    assert (bench_folder / "task.toml").read_bytes() == good
    assert sorted(p.name for p in bench_folder.iterdir()) == ["bench.py", "task.toml"]


def test_init_next_line_quotes_a_path_with_a_space(bench_folder: Path, cli: Callable[..., Result]) -> None:
    """`next: strop eval /x/my project/task.toml` is two arguments to the shell that pastes it."""
    result = _init(cli, bench_folder, "--goal", "g", "--metric", "seconds")
    assert result.code == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("next:"))
    words = shlex.split(line.split("then", 1)[0].removeprefix("next:"))
    assert words == ["strop", "eval", str(bench_folder / "task.toml")]
    assert os.path.isfile(words[2])


def test_a_user_branch_named_strop_is_one_line_and_leaves_no_run(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    """git cannot make `strop/RUN/0` beside a branch `strop`: it was an internal error and a run left running."""
    task = odd_task(tmp_path)
    git(tmp_path / "ws", "branch", "strop")
    one_error(cli("eval", str(task)), "has a branch named `strop`")
    assert "running" not in cli("runs").stdout
    assert (
        git(tmp_path / "ws", "for-each-ref", "--format=%(refname)", "refs/heads/")
        == "refs/heads/main\nrefs/heads/strop"
    )


def test_a_sandbox_that_cannot_start_here_is_one_line(
    tmp_path: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The task names a backend this machine lacks (bwrap not installed; dockerd down is the same error)."""
    task = odd_task(tmp_path)
    task.write_text(task.read_text().replace('sandbox = "local"\n', 'sandbox = "bwrap"\n', 1))
    only_git = tmp_path / "bin"
    only_git.mkdir()
    for tool in ("git",):
        found = shutil.which(tool)
        assert found is not None
        (only_git / tool).symlink_to(found)
    with monkeypatch.context() as bare:  # not `monkeypatch.undo()`: it also undid the isolated STROP_HOME
        bare.setenv("PATH", str(only_git))
        one_error(
            cli("eval", str(task)),
            "[evaluator] sandbox = 'bwrap' cannot be used here: bubblewrap is not installed",
        )
    assert "running" not in cli("runs").stdout


def test_a_record_bigger_than_an_argument_is_written_and_read(tmp_path: Path) -> None:
    """A note went to git as one argument, which Linux caps at 128 KiB: `Argument list too long`."""
    from agent.experiments import ExperimentRepo
    from agent.records import ExperimentRecord

    task = odd_task(tmp_path)
    repo = ExperimentRepo.for_workspace(task.parent / "ws", tmp_path / "home")
    head = git(task.parent / "ws", "rev-parse", "HEAD")
    record = ExperimentRecord(run="r", id=0, parent=None, branch="strop/r/0", commit=head, idea="x" * 300_000)
    repo.write_record(record, record.branch)
    assert repo.read_note(head) == record


def test_a_workspace_and_scorer_written_from_home_resolve_under_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`~/ws` is the user's home, as in a shell, not a folder named `~` beside the task file."""
    from agent.task import load_task

    task = odd_task(tmp_path)
    text = task.read_text().replace('workspace = "ws"', 'workspace = "~/ws"')
    task.write_text(text.replace('scorer = "scorer"', 'scorer = "~/scorer"'))
    monkeypatch.setenv("HOME", str(tmp_path))
    loaded = load_task(task)
    assert loaded.workspace == (tmp_path / "ws").resolve()
    sources = loaded.trusted_sources()
    assert sources is not None and sources.scorer == (tmp_path / "scorer").resolve()
