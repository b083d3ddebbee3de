"""A task folder that is wrong: one clear line (exit 2) before any run exists, or a note when legal but odd.

Table-driven over `load_task` (the file and its tables) and `check_files` (the files the
`[space]` is written into), then the real `strop run` for the case users hit first: a
`[space]` whose params file is missing made experiment 0 `buggy`, with no word of why.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.errors import TaskSpecError
from agent.space import check_files
from agent.task import command_notes, load_task

BENCH = (
    'import json\np = json.load(open("params.json"))\nprint(json.dumps({"seconds": abs(p["lr"] - 0.2)}))\n'
)

TASK = """[task]
name = "pf"
goal = "make it fast"
workspace = "."

[evaluator]
command = "python bench.py"
metric = "seconds"
direction = "minimize"
timeout = "60s"
files = ["bench.py"]

[space]
lr = { type = "float", low = 0.01, high = 0.5 }
k = { type = "int", low = 1, high = 10 }
"""


def folder(tmp_path: Path, task: str = TASK, params: str | None = '{"lr": 0.1, "k": 3}') -> Path:
    (tmp_path / "bench.py").write_text(BENCH)
    if params is not None:
        (tmp_path / "params.json").write_text(params)
    (tmp_path / "task.toml").write_text(task)
    return tmp_path


def edit(old: str, new: str) -> str:
    assert old in TASK
    return TASK.replace(old, new, 1)


@dataclass(frozen=True)
class Case:
    name: str
    expected: str  # a fragment of the one error line
    task: str = TASK
    prepare: Callable[[Path], None] | None = None


def _non_utf8(path: Path) -> None:
    (path / "task.toml").write_bytes(TASK.replace("make it fast", "make it f\xe9st").encode("latin-1"))


def _folder_named_task(path: Path) -> None:
    (path / "task.toml").unlink()
    (path / "task.toml").mkdir()


def _dangling_link(path: Path) -> None:
    (path / "task.toml").unlink()
    (path / "task.toml").symlink_to(path / "gone.toml")


def _fifo(path: Path) -> None:
    (path / "task.toml").unlink()
    os.mkfifo(path / "task.toml")


def _enormous(path: Path) -> None:
    with (path / "task.toml").open("a") as file:
        file.write(("# " + "x" * 98 + "\n") * 12_000)


FILE_CASES = [
    Case("non-UTF-8 task file", "task.toml:3: is not UTF-8 (byte 0xe9)", prepare=_non_utf8),
    Case("task.toml is a folder", "is a folder, not a task file", prepare=_folder_named_task),
    Case("dangling link", "which does not exist", prepare=_dangling_link),
    Case("a pipe", "is not a regular file", prepare=_fifo),
    Case("enormous task file", "may not pass 1 MiB", prepare=_enormous),
]

SPEC_CASES = [
    Case("typo of a table", "[spcae] unknown key; did you mean `space`?", edit("[space]", "[spcae]")),
    Case(
        "typo of a key",
        "[evaluator.direciton] unknown key; did you mean `direction`?",
        edit("direction", "direciton"),
    ),
    Case(
        "quoted number", "[space.lr.low] Input should be a valid number", edit("low = 0.01", 'low = "0.01"')
    ),
    Case("log as a word", "[space.k.log]", edit("high = 10 }", 'high = 10, log = "yes" }')),
    Case(
        "float range too wide",
        "wider than a float",
        edit("low = 0.01, high = 0.5", "low = -1e308, high = 1e308"),
    ),
    Case("int past 2**53", "within ±2**53", edit("high = 10", "high = 100000000000000000000")),
    Case(
        "int range without whole bounds",
        "whole-number low and high",
        edit("low = 1, high = 10", "low = 1.2, high = 1.7"),
    ),
    Case(
        "default of the wrong type",
        "default 'abc' is not a legal value",
        edit("high = 10 }", 'high = 10, default = "abc" }'),
    ),
    Case(
        "default out of range",
        "default 50 is not a legal value of this parameter (int 1..10)",
        edit("high = 10 }", "high = 10, default = 50 }"),
    ),
    Case(
        "bounds on a bool",
        "`low` does not apply to a bool parameter",
        edit('"int", low = 1', '"bool", low = 1'),
    ),
    Case(
        "choices on an int",
        "`choices` does not apply to an int parameter",
        edit("high = 10 }", "high = 10, choices = [1, 2] }"),
    ),
    Case("task name not ASCII", "task.toml:2: [task.name] name", edit('name = "pf"', 'name = "pƒ"')),
    Case("parameter name with a space", "parameter name 'k k'", edit("\nk = {", '\n"k k" = {')),
    # a rule read `True >= 4` as the constant 1 ("no point satisfies"), `lambda <= 3` did not parse
    Case("parameter named True", "[space] parameter name 'True' is a word", edit("\nk = {", "\nTrue = {")),
    Case("parameter named lambda", "parameter name 'lambda' is a word", edit("\nk = {", "\nlambda = {")),
    Case("metric with a space", "has spaces at its ends", edit('metric = "seconds"', 'metric = " seconds"')),
    Case(
        "metric with a newline",
        "holds a control character",
        edit('metric = "seconds"', 'metric = "sec\\nonds"'),
    ),
    Case(
        "blank command",
        "[evaluator.command] is blank",
        edit('command = "python bench.py"', 'command = "   "'),
    ),
    Case(
        "unbalanced quote",
        "not a valid command line",
        edit('command = "python bench.py"', "command = 'python \"bench.py'"),
    ),
    Case(
        "llm URL without a scheme",
        "is not an http(s) URL",
        edit("[space]", '[llm]\nbase_url = "localhost:11434"\nmodel = "m"\n\n[space]'),
    ),
    Case(
        "params file outside the workspace",
        "not a file inside the workspace",
        edit("[space]", '[proposer]\nparams_file = "../p.json"\n\n[space]'),
    ),
]


@pytest.mark.parametrize("case", FILE_CASES + SPEC_CASES, ids=lambda c: c.name)
def test_a_wrong_task_file_is_one_clear_error(tmp_path: Path, case: Case) -> None:
    path = folder(tmp_path, case.task)
    if case.prepare:
        case.prepare(path)
    with pytest.raises(TaskSpecError) as caught:
        load_task(path)
    message = str(caught.value)
    assert case.expected in message
    assert "\n" not in message


def _params(text: str | None) -> Callable[[Path], None]:
    def prepare(path: Path) -> None:
        params = path / "params.json"
        if text is None:
            params.unlink()
        elif text == "<folder>":
            params.unlink()
            params.mkdir()
        else:
            params.write_text(text)

    return prepare


def _marked(path: Path) -> None:
    (path / "task.toml").write_text(edit("[space]", '[proposer]\nmarked = ["missing.py"]\n\n[space]'))


WORKSPACE_CASES = [
    Case("params file a folder", "params.json is not a file", prepare=_params("<folder>")),
    Case("params file not JSON", "params.json is not JSON", prepare=_params('{"lr": 0.1,')),
    Case("params file a list", "holds a JSON list, not an object", prepare=_params("[0.1, 3]")),
    Case("a name twice", "names lr more than once", prepare=_params('{"lr": 0.1, "k": 3, "lr": 0.2}')),
    Case("marked file missing", "missing.py is not a file in the workspace", prepare=_marked),
]


@pytest.mark.parametrize("case", WORKSPACE_CASES, ids=lambda c: c.name)
def test_a_params_file_that_would_fail_experiment_0_is_an_error(tmp_path: Path, case: Case) -> None:
    path = folder(tmp_path)
    assert case.prepare is not None
    case.prepare(path)
    task = load_task(path)
    with pytest.raises(TaskSpecError) as caught:
        check_files(task)
    assert case.expected in str(caught.value)
    assert "[proposer." in str(caught.value)


def test_a_missing_params_file_is_a_note_that_suggests_its_content(tmp_path: Path) -> None:
    """Legal (the code may fall back to defaults), but experiment 0 fails if the code reads it."""
    task = load_task(folder(tmp_path, params=None))
    [note] = check_files(task)
    assert (
        "params.json does not exist" in note
        and "experiment 0 (the workspace as it is) runs without it" in note
    )
    assert note.endswith('create it with starting values, e.g. {"lr": 0.255, "k": 6}')


def test_a_space_name_the_params_file_lacks_is_a_note(tmp_path: Path) -> None:
    task = load_task(folder(tmp_path, params='{"learning_rate": 0.1, "kk": 3}'))
    notes = check_files(task)
    assert notes == [
        "params.json has no value for [space] lr (its other keys: learning_rate, kk): experiment 0 runs on "
        "the code's default",
        "params.json has no value for [space] k (it has 'kk': a typo?): experiment 0 runs on the code's default",
    ]


def test_inactive_conditional_parameters_need_no_value(tmp_path: Path) -> None:
    task_text = (
        TASK
        + 'model = { type = "choice", choices = ["a", "b"] }\nb_only = { type = "bool", when = "model == \'b\'" }\n'
    )
    task = load_task(folder(tmp_path, task_text, params='{"lr": 0.1, "k": 3, "model": "a"}'))
    assert check_files(task) == []


def test_commands_naming_what_is_not_there_are_notes(tmp_path: Path) -> None:
    task = load_task(
        folder(tmp_path, edit('command = "python bench.py"', 'command = "pythn-nowhere bnch.py"'))
    )
    assert command_notes(task) == [
        "[evaluator] command: 'pythn-nowhere' is not a command on this machine (not on PATH)",
        f"[evaluator] command names bnch.py, which is not in the workspace ({tmp_path})",
    ]


def test_a_good_task_has_no_notes(tmp_path: Path) -> None:
    task = load_task(folder(tmp_path))
    assert check_files(task) == [] and command_notes(task) == []


def test_a_link_within_its_folder_is_fine(tmp_path: Path) -> None:
    path = folder(tmp_path)
    (path / "task.toml").rename(path / "real.toml")
    (path / "task.toml").symlink_to("real.toml")
    assert load_task(path).name == "pf"


def strop(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "STROP_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True, env=environ, timeout=120
    )


def test_strop_run_refuses_a_params_file_that_is_not_json_before_any_run(tmp_path: Path) -> None:
    (tmp_path / "task").mkdir()
    path = folder(tmp_path / "task", params='{"lr": 0.1,')
    done = strop(tmp_path / "home", "run", str(path), "--experiments", "2")
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "params.json is not JSON" in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "home" / "runs").exists() or not any((tmp_path / "home" / "runs").iterdir())


def test_strop_run_prints_notes_before_the_run(tmp_path: Path) -> None:
    (tmp_path / "task").mkdir()
    task_text = TASK.replace('timeout = "60s"', 'timeout = "60s"\nsandbox = "local"')
    path = folder(tmp_path / "task", task_text, params='{"learning_rate": 0.1, "k": 3}')
    (path / "bench.py").write_text('import json\nprint(json.dumps({"seconds": 1.0}))\n')
    done = strop(tmp_path / "home", "run", str(path), "--experiments", "1", "--json")
    assert "note: params.json has no value for [space] lr" in done.stderr, done.stderr
    assert done.stderr.index("note:") < done.stderr.index("run ")


def _protect(task: str, files: str) -> str:
    return task.replace('files = ["bench.py"]', f"files = {files}", 1)


def test_a_marked_file_that_is_protected_is_an_error(tmp_path: Path) -> None:
    """Every candidate writes its values there: a protected one made the whole run `tampered`."""
    task_text = TASK.replace("[space]", '[proposer]\nmarked = ["bench.py"]\n\n[space]', 1)
    path = folder(tmp_path, task_text)
    (path / "bench.py").write_text(
        "import json\nLR = 0.1  # strop: lr\nK = 3  # strop: k\nprint(json.dumps({'seconds': LR}))\n"
    )
    with pytest.raises(TaskSpecError) as caught:
        check_files(load_task(path))
    assert "bench.py is protected ([evaluator] files)" in str(caught.value)
    assert "[proposer.marked]" in str(caught.value) and "tampered" in str(caught.value)


@pytest.mark.parametrize("files", ['["params.json"]', '["*.json"]', '["bench.py", "params.json"]'])
def test_a_params_file_that_is_protected_is_an_error(tmp_path: Path, files: str) -> None:
    with pytest.raises(TaskSpecError) as caught:
        check_files(load_task(folder(tmp_path, _protect(TASK, files))))
    assert "params.json is protected" in str(caught.value) and "[proposer.params_file]" in str(caught.value)


def test_a_protected_params_file_nothing_writes_is_fine(tmp_path: Path) -> None:
    """With every [space] name on a marked line the params file is never written: protecting it is legal."""
    task_text = _protect(TASK, '["params.json"]').replace(
        "[space]", '[proposer]\nmarked = ["run.py"]\n\n[space]', 1
    )
    path = folder(tmp_path, task_text)
    (path / "run.py").write_text("LR = 0.1  # strop: lr\nK = 3  # strop: k\n")
    assert check_files(load_task(path)) == []


def test_params_file_values_outside_the_space_or_the_rules_are_notes(tmp_path: Path) -> None:
    """Experiment 0 runs on them as written; the note says so before its verdict does."""
    rules = '\n[constraints]\nrules = ["lr * k <= 1"]\n'
    task = load_task(folder(tmp_path, TASK + rules, params='{"lr": 0.4, "k": 3}'))
    assert check_files(task) == [
        "params.json (lr=0.4, k=3) breaks [constraints] lr * k <= 1: experiment 0 runs with these values; "
        "candidates keep to the rules"
    ]
    task = load_task(folder(tmp_path, TASK + rules, params='{"lr": 0.9, "k": 1}'))
    assert check_files(task) == [
        "params.json: lr = 0.9 is not in [space] lr (float 0.01..0.5): experiment 0 runs with it; "
        "candidates stay within the space"
    ]
    assert check_files(load_task(folder(tmp_path, TASK + rules, params='{"lr": 0.2, "k": 3}'))) == []


def _git(path: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=path, check=True, capture_output=True
    )


def test_untracked_files_of_a_git_workspace_are_a_note(tmp_path: Path) -> None:
    """Experiments are commits: a file left untracked works by hand and is missing in every candidate."""
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / "bench.py").write_text(BENCH)
    (repo / "params.json").write_text('{"lr": 0.1, "k": 3}')
    (repo / ".gitignore").write_text("*.log\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "i")
    (repo / "task.toml").write_text(TASK)  # where `strop init` writes it: strop's, not the commands'
    (repo / "run.log").write_text("ignored\n")
    (repo / "data" / "ñandú-données.csv").write_text("1\n")
    notes = command_notes(load_task(repo))
    assert notes == [
        f"{repo} has untracked files that no experiment will have (experiments are commits): data/; "
        "`git add` and commit what the commands need (data too, or give it to a two-stage task as "
        "`public`), or list what they do not need in .gitignore"
    ]
    _git(repo, "add", "data")
    _git(repo, "commit", "-qm", "data")
    (repo / "ünï.py").write_text("")
    [note] = command_notes(load_task(repo))
    assert ": ünï.py;" in note
    (repo / "ünï.py").unlink()
    assert command_notes(load_task(repo)) == []


def test_ignored_input_of_a_git_workspace_is_a_note_and_tool_caches_are_not(tmp_path: Path) -> None:
    """An ignored `data/` is in no experiment: experiment 0 failed on a missing data file, no word
    before; the old advice ("or list it in .gitignore") led there. Caches, venvs and logs are no input."""
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / "bench.py").write_text(BENCH)
    (repo / "params.json").write_text('{"lr": 0.1, "k": 3}')
    (repo / ".gitignore").write_text("data/\n*.log\n__pycache__/\n.venv/\ntask.toml\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "i")
    (repo / "task.toml").write_text(TASK)
    for junk in ("__pycache__/x.pyc", ".venv/bin/python", "run.log"):
        (repo / junk).parent.mkdir(parents=True, exist_ok=True)
        (repo / junk).write_text("")
    assert command_notes(load_task(repo)) == []
    (repo / "data" / "train.csv").write_text("1\n")
    assert command_notes(load_task(repo)) == [
        f"git ignores data/ in {repo}: no experiment has them either; if the commands read them, commit "
        "them (data too, or give it to a two-stage task as `public`)"
    ]


def test_a_folder_without_a_task_file_points_to_strop_init(tmp_path: Path) -> None:
    with pytest.raises(TaskSpecError) as caught:
        load_task(tmp_path)
    assert str(caught.value).endswith(f"no such task file: write one with `strop init {tmp_path}`")
    with pytest.raises(TaskSpecError) as caught:
        load_task(tmp_path / "other.toml")
    assert str(caught.value).endswith("no such task file")


@pytest.mark.parametrize(
    ("word", "meant"), [("min", "minimize"), ("max", "maximize"), ("maximise", "maximize")]
)
def test_direction_takes_the_words_strop_init_takes(tmp_path: Path, word: str, meant: str) -> None:
    task = load_task(folder(tmp_path, edit('direction = "minimize"', f'direction = "{word}"')))
    assert task.evaluator.direction.value == meant


RULE = '\n[constraints]\nrules = ["lr * k <= 1"]\n'


def test_a_space_default_that_breaks_a_rule_is_a_preflight_note(tmp_path: Path) -> None:
    """A params file that leaves `k` out gets its default: experiment 0 broke the rule unannounced."""
    from agent.loop.graph import preflight

    task = load_task(folder(tmp_path, edit("high = 10 }", "high = 10, default = 8 }") + RULE))
    assert preflight(task) == [
        "[space] default k = 8 breaks [constraints] lr * k <= 1 (the defaults together: lr=0.255, k=8): "
        "a params file that leaves it out runs experiment 0 against the rule; candidates keep to the rules"
    ]
    assert (
        preflight(load_task(folder(tmp_path, edit("high = 10 }", "high = 10, default = 2 }") + RULE))) == []
    )
    # a rule only strop's midpoints break (no default written) is nobody's slip
    assert preflight(load_task(folder(tmp_path, TASK + '\n[constraints]\nrules = ["lr * k <= 0.5"]\n'))) == []


def test_strop_run_prints_the_default_note_before_the_run(tmp_path: Path) -> None:
    (tmp_path / "task").mkdir()
    task_text = edit("high = 10 }", "high = 10, default = 8 }").replace(
        'timeout = "60s"', 'timeout = "60s"\nsandbox = "local"'
    )
    path = folder(tmp_path / "task", task_text + RULE)
    done = strop(tmp_path / "home", "run", str(path), "--experiments", "1", "--json")
    assert "note: [space] default k = 8 breaks [constraints] lr * k <= 1" in done.stderr, done.stderr
    assert done.stderr.index("note:") < done.stderr.index("run ")


@pytest.mark.parametrize(
    ("rules", "line"),
    [
        ('rules = ["k < 5", "k > 7"]', 18),  # one line: the `rules =` line
        ('rules = [\n  "lr <= 0.4",\n  "k < 5",\n  "k > 7",\n]', 20),  # one rule a line: the first clashing
    ],
    ids=["one line", "one rule a line"],
)
def test_rules_no_point_satisfies_name_the_task_file_line(tmp_path: Path, rules: str, line: int) -> None:
    from agent.loop.graph import preflight

    path = folder(tmp_path, TASK + f"\n[constraints]\n{rules}\n")
    with pytest.raises(TaskSpecError) as caught:
        preflight(load_task(path))
    message = str(caught.value)
    assert message.startswith(f"{path / 'task.toml'}:{line}: [constraints.rules] no point of [space]"), (
        message
    )
    clash = message.split("satisfies these rules together: ")[1]
    assert sorted(clash.split("; ")) == ["k < 5", "k > 7"], message


def test_a_candidate_that_writes_a_space_name_twice_is_refused(tmp_path: Path) -> None:
    """`{"lr": 5, "lr": 0.1}`: Python's json keeps 0.1 (inside the space), a reader that keeps the
    first runs with 5. Before, the check saw only 0.1 and let it pass."""
    from agent.space import Space

    task = load_task(folder(tmp_path))
    space, proposer = Space.from_task(task), task.spec.proposer
    before = space.written(tmp_path, proposer)
    (tmp_path / "params.json").write_text('{"lr": 5, "k": 3, "lr": 0.1}')
    assert space.outside(space.written(tmp_path, proposer), before) == [
        "lr is written 2 times (5, 0.1): a reader may take any of them"
    ]
    (tmp_path / "params.json").write_text('{"lr": 0.3, "k": 3}')
    assert space.outside(space.written(tmp_path, proposer), before) == []


WHEN_TASK = TASK.replace(
    'lr = { type = "float", low = 0.01, high = 0.5 }\nk = { type = "int", low = 1, high = 10 }',
    'y = { type = "int", low = 0, high = 2 }\nlr = { type = "float", low = 0.01, high = 0.5, when = "1 / y > 0.4" }',
).replace('timeout = "60s"', 'timeout = "60s"\nsandbox = "local"')
WHEN_BENCH = 'import json\np = json.load(open("params.json"))\nprint(json.dumps({"seconds": p.get("lr", 1.0) + p["y"]}))\n'


def test_strop_run_reads_a_when_that_divides_by_zero_as_false(tmp_path: Path) -> None:
    """The default y = 1 passed preflight; the first sample with y = 0 stopped the run with
    "internal error: ZeroDivisionError" and 0 experiments."""
    (tmp_path / "task").mkdir()
    assert "1 / y > 0.4" in WHEN_TASK
    path = folder(tmp_path / "task", WHEN_TASK + '\n[constraints]\nrules = ["y <= 2"]\n', params='{"y": 1}')
    (path / "bench.py").write_text(WHEN_BENCH)
    done = strop(tmp_path / "home", "run", str(path), "--experiments", "8")
    assert done.returncode == 0, done.stderr
    assert "internal error" not in done.stdout + done.stderr
    runs = strop(tmp_path / "home", "runs")
    assert " done " in runs.stdout, runs.stdout


def test_strop_run_refuses_a_when_that_orders_a_string_choice(tmp_path: Path) -> None:
    """`y > 1` over choices ["a", 2]: "internal error: TypeError" at startup before."""
    (tmp_path / "task").mkdir()
    task = WHEN_TASK.replace('{ type = "int", low = 0, high = 2 }', '{ type = "choice", choices = ["a", 2] }')
    path = folder(tmp_path / "task", task.replace("1 / y > 0.4", "y > 1"), params='{"y": "a"}')
    done = strop(tmp_path / "home", "run", str(path), "--experiments", "2")
    assert done.returncode == 2, done.stderr
    [line] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert (
        "task.toml:16: [space.lr] when: in 'y > 1': y is a choice with strings among its options" in line
    ), line


def test_rules_z3_cannot_decide_are_said_up_front_and_checked_once(tmp_path: Path) -> None:
    """The check of the rules together took the rules' whole timeout (10 s) twice, once in the
    preflight and once as the run began, and said nothing of why the run then rejected everything."""
    import time

    from agent.loop.graph import UPFRONT_SECONDS, validate_task

    big = 9_000_000_000_000_000
    task_text = edit(
        'lr = { type = "float", low = 0.01, high = 0.5 }\nk = { type = "int", low = 1, high = 10 }\n',
        "\n".join(f'{n} = {{ type = "int", low = {-big}, high = {big} }}' for n in "abc")
        + '\n\n[constraints]\nrules = ["a*a*a + b*b*b + c*c*c == 42"]\n',
    )
    task = load_task(folder(tmp_path, task_text, '{"a": 1, "b": 1, "c": 1}') / "task.toml")
    started = time.monotonic()
    notes = validate_task(task)
    assert time.monotonic() - started < 2 * UPFRONT_SECONDS + 1.5
    assert any(note.startswith("Z3 could not tell within 1s whether any point of [space]") for note in notes)
    started = time.monotonic()
    assert validate_task(load_task(tmp_path / "task.toml")) == notes and time.monotonic() - started < 0.5
