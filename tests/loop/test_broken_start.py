"""A run whose experiments all fail one way from experiment 0 stops and points at `strop eval`."""

from __future__ import annotations

from agent.loop.broken_start import broken_start
from agent.records import ExperimentRecord
from evaluators.verdict import Status

SCORER = 'scorer: the evaluator printed no JSON object line such as {"y": 0.93} on stdout'


def _record(
    exp: int, status: Status, reason: str = SCORER, proposer: str = "evolve", mode: str = ""
) -> ExperimentRecord:
    return ExperimentRecord("r", exp, None if exp == 0 else 0, f"b{exp}", "c", status=status, reason=reason,
                            proposer=proposer, mode=mode)  # fmt: skip


def test_five_alike_from_experiment_0_stop_with_the_error_and_strop_eval() -> None:
    records = [_record(i, Status.BUGGY) for i in range(5)]
    assert broken_start(records[:4], "/t/task.toml") is None  # four is not yet a pattern
    reason = broken_start(records, "/t/task.toml")
    assert reason is not None
    assert "experiment 0 (the workspace as it is)" in reason and SCORER in reason
    assert "strop show r/0" in reason and "strop eval /t/task.toml" in reason


def test_numbers_in_the_message_do_not_make_failures_differ_and_rejections_do_not_count() -> None:
    records = [_record(i, Status.BUGGY, f"ValueError: shape ({i}, 3) is wrong") for i in range(5)]
    records.insert(2, _record(9, Status.REJECTED, "constraints: violates x"))
    assert broken_start(records, "t") is not None


def test_one_score_a_second_kind_of_error_or_code_edits_keep_the_run_going() -> None:
    alike = [_record(i, Status.BUGGY) for i in range(6)]
    assert broken_start([*alike[:5], _record(5, Status.OK, "")], "t") is None
    assert broken_start([*alike[:4], _record(4, Status.BUGGY, "KeyError: 'x'")], "t") is None
    assert broken_start([*alike[:4], _record(4, Status.TIMEOUT, "timed out after 10s")], "t") is None
    edited = [alike[0], *(_record(i, Status.BUGGY, proposer="llm", mode="text") for i in range(1, 6))]
    assert broken_start(edited, "t") is None  # an LLM repairing a broken workspace may need more tries
    llm_params = [alike[0], *(_record(i, Status.BUGGY, proposer="llm", mode="params") for i in range(1, 6))]
    assert broken_start(llm_params, "t") is not None
    assert broken_start(alike[1:6], "t") is None  # experiment 0 not evaluated (yet): no verdict on the task


def test_a_run_on_a_broken_evaluator_stops_after_five_and_no_escape_reaches_the_terminal(tmp_path) -> None:
    """End to end through `strop run`: the evaluator fails alike on every input, its last stderr line
    carrying an OSC sequence (a terminal retitle); the stop line quotes it, printable only."""
    import os
    import subprocess
    import sys
    import textwrap

    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "evaluate.py").write_text(
        "import sys\nsys.exit('\\x1b]0;pwned\\x07scorer broke: cannot parse 17 rows')\n"
    )
    (tmp_path / "t" / "params.json").write_text('{"x": 0.5}')
    (tmp_path / "t" / "task.toml").write_text(
        textwrap.dedent(
            """
            [task]
            name = "broken"
            goal = "Maximise score."
            [evaluator]
            command = "python evaluate.py"
            metric = "score"
            direction = "maximize"
            sandbox = "local"
            files = ["evaluate.py"]
            [budget]
            experiments = 30
            [space]
            x = { type = "float", low = 0, high = 1 }
            """
        )
    )
    env = {**os.environ, "STROP_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "run", str(tmp_path / "t")],
        capture_output=True, text=True, env=env, timeout=240,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr[-2000:]  # nothing scored: a script must not read success
    assert "no experiment scored" in done.stderr
    assert "the first 5 experiments, experiment 0 (the workspace as it is) among them" in done.stderr
    assert "scorer broke: cannot parse 17 rows" in done.stderr and "strop show " in done.stderr
    assert "\x1b" not in done.stderr + done.stdout
    assert "5 buggy (5 attempts)" in done.stdout


def test_a_run_whose_time_ends_before_experiment_0_says_none_ran(tmp_path) -> None:
    """With no experiment at all, the hint named `strop show RUN/0`, which then said that run has no
    experiment 0."""
    import os
    import subprocess
    import sys

    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "bench.py").write_text("print('{\"score\": 1}')\n")
    (tmp_path / "task.toml").write_text(
        '[task]\nname = "t"\ngoal = "g"\nworkspace = "ws"\n[evaluator]\ncommand = "python bench.py"\n'
        'metric = "score"\ndirection = "maximize"\ntimeout = "20s"\nsandbox = "local"\n'
        '[space]\nx = { type = "float", low = 0, high = 1 }\n'
    )
    (tmp_path / "ws" / "params.json").write_text('{"x": 0.5}')
    env = {**os.environ, "STROP_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "run", str(tmp_path), "--time", "0.5s"],
        capture_output=True, text=True, env=env, timeout=240,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr[-2000:]
    assert "strop: no experiment scored (none ran: time budget spent:" in done.stderr
    assert "/0" not in done.stderr.split("no experiment scored")[1]
