"""Bad input, table-driven: one clear line naming the problem, exit 2, no traceback, the user's repo untouched."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from evaluators.spec import FORGEABLE_WARNING
from tests.spine.conftest import TASK, Workspace


@dataclass(frozen=True)
class Case:
    name: str
    expected: str  # a fragment the one error line must contain
    evaluator: str = 'import json\nprint(json.dumps({"score": 1.0}))\n'
    task: str = TASK
    timeout: str = "20s"
    prepare: Callable[[Workspace], list[str]] | None = None  # returns the CLI args; default: eval TASK


def _dirty(ws: Workspace) -> list[str]:
    (ws.path / "value.txt").write_text("changed but not committed")
    return ["eval", str(ws.task)]


def _task_text(ws: Workspace, replace: tuple[str, str]) -> list[str]:
    ws.task.write_text(ws.task.read_text().replace(*replace))
    return ["eval", str(ws.task)]


def _adopt_dirty(ws: Workspace) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "eval", str(ws.task)], capture_output=True, text=True, check=True
    )
    run_id = done.stdout.split("run ", 1)[1].split()[0]
    (ws.path / "value.txt").write_text("local edit")
    return ["adopt", f"{run_id}/0"]


def _nested_deep(ws: Workspace) -> list[str]:
    """Arrays nested past what tomllib's recursion takes: a RecursionError was an internal error."""
    ws.task.write_text(ws.task.read_text() + "\n[extra]\nx = " + "[" * 5000 + "]" * 5000 + "\n")
    return ["eval", str(ws.task)]


def _run_with(ws: Workspace, extra: str) -> list[str]:
    ws.task.write_text(ws.task.read_text() + extra)
    return ["run", str(ws.task), "-n", "3"]


SLEEPER = """
import subprocess, time
subprocess.Popen(["sh", "-c", "trap '' TERM; exec sleep 300 # strop-bad-input-orphan"])
time.sleep(300)
"""

CASES = [
    Case(
        "unknown key",
        "unknown key",
        prepare=lambda ws: _task_text(ws, ('metric = "score"', 'metric = "score"\ncolour = "red"')),
    ),
    Case(
        "unknown table",
        "unknown key",
        prepare=lambda ws: _task_text(ws, ("[evaluator]", "[evalutor]\nx = 1\n[evaluator]")),
    ),
    Case(
        "wrong type",
        "evaluator.timeout",
        prepare=lambda ws: _task_text(ws, ('timeout = "20s"', "timeout = true")),
    ),
    Case(
        "bad duration",
        "not a duration",
        prepare=lambda ws: _task_text(ws, ('timeout = "20s"', 'timeout = "soon"')),
    ),
    Case(
        "bad direction", "evaluator.direction", prepare=lambda ws: _task_text(ws, ('"maximize"', '"upwards"'))
    ),
    Case("missing evaluator", "[evaluator] required key is missing", task=TASK.split("[evaluator]")[0]),
    Case(
        "missing evaluator command",
        "give `run` + `score` + `scorer` (two stages) or `command`",
        prepare=lambda ws: _task_text(ws, ('command = "python evaluate.py"\n', "")),
    ),
    Case("not TOML", "not valid TOML", prepare=lambda ws: _task_text(ws, ("[task]", "[task"))),
    Case("no task file", "no such task file", prepare=lambda ws: ["eval", str(ws.task) + ".missing"]),
    Case(
        "missing workspace",
        "does not exist",
        prepare=lambda ws: _task_text(ws, (str(ws.path), str(ws.path) + "-gone")),
    ),
    Case("uncommitted changes", "uncommitted changes (value.txt)", prepare=_dirty),
    Case(
        "protected file missing",
        "matches no file",
        prepare=lambda ws: _task_text(ws, ('["evaluate.py"]', '["grader.py"]')),
    ),
    Case(
        "metric absent", "metric 'score' is absent", evaluator='import json\nprint(json.dumps({"acc": 1}))\n'
    ),
    Case(
        "non-JSON output",
        "no JSON object line such as {\"score\": 0.93} on stdout (its last line: 'score: 0.9'); print the metrics",
        evaluator='print("score: 0.9")\n',
    ),
    Case(
        "nothing printed",
        'printed nothing on stdout (expected a JSON line such as {"score"',
        evaluator="pass\n",
    ),
    Case("NaN metric", "not a finite number", evaluator="print('{\"score\": NaN}')\n"),
    Case("inf metric", "not a finite number", evaluator="print('{\"score\": Infinity}')\n"),
    Case(
        "huge integer metric",
        "an integer too large for a float",
        evaluator="print('{\"score\": ' + '9' * 400 + '}')\n",
    ),
    Case(
        "integer past Python's digit limit",
        "no JSON object line",
        evaluator="print('{\"score\": ' + '9' * 5000 + '}')\n",
    ),
    Case(
        "metric line nested too deeply",
        "no JSON object line",
        evaluator="print('{\"score\": 1, \"x\": ' + '[' * 100000 + ']' * 100000 + '}')\n",
    ),
    Case("string metric", "not a number", evaluator='print(\'{"score": "high"}\')\n'),
    Case("evaluator crash", "exited with status 1: ZeroDivisionError", evaluator="x = 1 / 0\n"),
    Case(
        "a tool the sandbox does not hold",
        "exited with status 127: sh: 1: no-such-tool-xyz: not found (127 is a shell's 'not found': a sandbox",
        evaluator="import subprocess, sys\nsys.exit(subprocess.call(['sh', '-c', 'no-such-tool-xyz']))\n",
    ),
    Case("evaluator timeout, child ignores SIGTERM", "time limit", evaluator=SLEEPER, timeout="2s"),
    Case("adopt onto a dirty tree", "uncommitted changes (value.txt)", prepare=_adopt_dirty),
    Case(
        "rules no point satisfies",
        "no point of [space] satisfies these rules together: a + b > 30",
        prepare=lambda ws: _run_with(
            ws,
            '[proposer]\nparams_file = "p.json"\n[space]\na = { type = "int", low = 0, high = 9 }\n'
            'b = { type = "int", low = 0, high = 9 }\n[constraints]\nrules = ["a < 5", "a + b > 30"]\n',
        ),
    ),
    Case(
        "a rule reading a parameter the space lacks names its line",
        "task.toml:20: [constraints.rules] rule 'a * bb < 5' reads unknown parameter(s): bb",
        prepare=lambda ws: _run_with(
            ws,
            '[proposer]\nparams_file = "p.json"\n[space]\na = { type = "int", low = 0, high = 9 }\n'
            '[constraints]\nrules = [\n  "a < 8",\n  "a * bb < 5",\n]\n',
        ),
    ),
    Case(
        "a when reading a parameter the space lacks names its line",
        "task.toml:17: [space.b] when reads unknown parameter(s) c",
        prepare=lambda ws: _run_with(
            ws,
            '[proposer]\nparams_file = "p.json"\n[space]\na = { type = "int", low = 0, high = 9 }\n'
            'b = { type = "int", low = 0, high = 9, when = "c > 1" }\n[constraints]\nrules = ["a < 8"]\n',
        ),
    ),
    Case(
        "infinite bound",
        "low and high must be finite",
        prepare=lambda ws: _run_with(ws, '[space]\na = { type = "float", low = nan, high = inf }\n'),
    ),
    Case(
        "a choice listed twice",
        "lists a value twice",
        prepare=lambda ws: _run_with(ws, '[space]\na = { type = "choice", choices = ["x", "y", "x"] }\n'),
    ),
    Case(
        "no space for the offline proposer",
        "the evolve proposer needs a [space] table",
        prepare=lambda ws: ["run", str(ws.task), "-n", "3"],
    ),
    Case("TOML nested too deeply", "nest too deeply", prepare=_nested_deep),
    Case("unknown run", "no run 'zzzz'", prepare=lambda ws: ["log", "zzzz"]),
    Case("not an experiment", "is not an experiment", prepare=lambda ws: ["show", "nonsense"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_clear_line_and_exit_2(case: Case, make_workspace, cli) -> None:
    ws = make_workspace(evaluator=case.evaluator, timeout=case.timeout, task=case.task)
    args = case.prepare(ws) if case.prepare else ["eval", str(ws.task)]
    before = ws.snapshot()
    result = cli(*args)
    # The one-stage form's standing warning (see FORGEABLE_WARNING) is not part of the error.
    lines = [line for line in result.stderr.splitlines() if line.strip() and FORGEABLE_WARNING not in line]
    assert result.code == 2, (result.code, result.stderr, result.stdout)
    assert "Traceback" not in result.stderr + result.stdout
    assert len(lines) == 1, lines
    assert case.expected in lines[0], lines[0]
    assert ws.snapshot() == before, "the user's HEAD, branch and working tree must be untouched"
    if args[0] == "run":  # refused before its first experiment: no run is left behind
        assert "running" not in cli("runs").stdout


def test_timeout_kills_the_whole_process_group(make_workspace, cli) -> None:
    ws = make_workspace(evaluator=SLEEPER, timeout="2s")
    result = cli("eval", str(ws.task))
    assert result.code == 2 and "time limit" in result.stderr
    left = subprocess.run(["pgrep", "-f", "strop-bad-input-orphan"], capture_output=True, text=True)
    assert left.stdout.strip() == "", "a child that ignores SIGTERM must still die with the run"


def test_task_errors_name_the_line(tmp_path) -> None:
    from agent.errors import TaskSpecError
    from agent.task import load_task

    path = tmp_path / "task.toml"
    path.write_text(
        textwrap.dedent(
            """
            [task]
            name = "x"
            goal = "g"

            [evaluator]
            command = "c"
            metric = "m"
            direction = "minimize"

            [budget]
            experiments = "many"
            """
        )
    )
    with pytest.raises(TaskSpecError) as error:
        load_task(path)
    assert error.value.line == 12 and error.value.key == "budget.experiments"
    assert str(error.value).startswith(f"{path}:12: [budget.experiments]")


def test_experiment_numbers_are_plain_digits_and_any_size(make_workspace, cli) -> None:
    """Numbers past SQLite's integers, and int()'s other spellings ("1_0", "+0"), are no experiment."""
    ws = make_workspace()
    assert cli("eval", str(ws.task)).code == 0
    run = json.loads(cli("runs", "--json").stdout)[0]["id"]
    assert cli("show", f"{run}/00").code == 0
    for exp in ("99999999999999999999", "9223372036854775808", "9" * 5000, "1_0", "+0", " 0", "٠"):
        result = cli("show", f"{run}/{exp}")
        assert result.code == 2 and "Traceback" not in result.stderr, (exp, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "no experiment" in result.stderr or "is not an experiment" in result.stderr
