"""`strop eval` on a task with a hidden test: its score is shown as the validation score is.

It was printed as Python's repr (`0.2792873018428156`) beside a validation score of `0.279287`.
Scoring the hidden test at all is deliberate (`strop eval --help` says so, and why to tune on
the validation score instead): the help is checked here too.
"""

from __future__ import annotations

from pathlib import Path

from tests.spine.conftest import strop

TASK = """[task]
name = "hidden"
goal = "g"
workspace = "ws"

[evaluator]
run = "python make.py"
score = "python -I score.py"
scorer = "scorer"
private = "private"
final_private = "final"
metric = "v"
direction = "maximize"
timeout = "20s"
sandbox = "local"
score_sandbox = "local"
"""


def test_the_hidden_test_score_is_rounded_as_the_validation_score_is(tmp_path: Path) -> None:
    for folder in ("ws", "scorer", "private", "final"):
        (tmp_path / folder).mkdir()
    (tmp_path / "ws" / "make.py").write_text(
        "import os\nopen(os.path.join(os.environ['STROP_OUTPUTS'], 'out.txt'), 'w').write('x')\n"
    )
    (tmp_path / "private" / "v.txt").write_text("0.2792873018428156")
    (tmp_path / "final" / "v.txt").write_text("0.7207126981571844")
    (tmp_path / "scorer" / "score.py").write_text(
        "import json, os\n"
        "v = float(open(os.path.join(os.environ['STROP_PRIVATE'], 'v.txt')).read())\n"
        "print(json.dumps({'v': v}))\n"
    )
    (tmp_path / "task.toml").write_text(TASK)
    done = strop("eval", str(tmp_path / "task.toml"))
    assert done.code == 0, done.stderr
    assert "v = 0.279287" in done.stdout and "final (hidden test): v = 0.720713" in done.stdout, done.stdout
    assert "0.72071269" not in done.stdout


def test_the_help_says_eval_reads_the_hidden_answers_each_time() -> None:
    done = strop("eval", "--help")
    said = " ".join(done.stdout.split())
    assert "each `strop eval` reads the hidden answers again" in said and "validation score" in said
