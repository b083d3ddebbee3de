"""`strop init` with two stages (`--run`, `--score`, `--scorer`): written, checked, evaluated, audited.

The real CLI on a tiny example: the candidate's `predict.py` writes a guess into
$STROP_OUTPUTS (scaled by a public file), the scorer beside the workspace compares it with
the answer in the private folder. `strop init … && strop eval task.toml` must work as
written, on whichever sandbox `auto` picks here.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from agent.errors import UserError
from agent.task import load_task
from agent.taskgen import draft

PREDICT = """import json, os
scale = float(open(os.path.join(os.environ["STROP_PUBLIC"], "scale.txt")).read())
guess = json.load(open("params.json"))["guess"] * scale
with open(os.path.join(os.environ["STROP_OUTPUTS"], "prediction.json"), "w") as f:
    json.dump({"guess": guess}, f)
print("wrote a prediction")
"""
SCORE = """import json, os
guess = json.load(open(os.path.join(os.environ["STROP_OUTPUTS"], "prediction.json")))["guess"]
answer = float(open(os.path.join(os.environ["STROP_PRIVATE"], "answer.txt")).read())
print(json.dumps({"error": abs(guess - answer)}))
"""


def strop(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("STROP_LLM_URL", None)
    env.pop("STROP_LLM_MODEL", None)
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=cwd,
        env=env,
    )


def example(root: Path) -> Path:
    """ws/ (the candidate's code), scorer/, private/ and public/ beside it; returns `root`."""
    for name, files in {
        "ws": {"predict.py": PREDICT, "params.json": '{"guess": 1.5}'},
        "scorer": {"score.py": SCORE},
        "private": {"answer.txt": "7"},
        "public": {"scale.txt": "2"},
    }.items():
        (root / name).mkdir(parents=True)
        for file, text in files.items():
            (root / name / file).write_text(text)
    return root


TWO_STAGES = [
    "init",
    "ws",
    "--goal",
    "guess the answer",
    "--metric",
    "error",
    "--direction",
    "min",
    "--run",
    "python predict.py",
    "--score",
    "python -I score.py",
    "--scorer",
    "scorer",
    "--private",
    "private",
    "--public",
    "public",
]


def test_two_stage_init_then_eval_then_audit(tmp_path: Path) -> None:
    root = example(tmp_path)
    done = strop(*TWO_STAGES, cwd=root)
    assert done.returncode == 0, done.stderr
    assert "warning:" not in done.stderr  # two stages: nothing forgeable to warn of
    assert f"  scorer {root / 'scorer'}" in done.stdout
    task = load_task(root / "ws" / "task.toml")
    spec = task.evaluator
    assert spec.two_stage and spec.run == "python predict.py" and spec.score == "python -I score.py"
    assert (spec.scorer, spec.private, spec.public) == ("../scorer", "../private", "../public")
    assert spec.files == () and spec.command is None  # the judge is out of the workspace
    sources = task.trusted_sources()
    assert sources is not None and sources.scorer == (root / "scorer").resolve()
    evaluated = strop("eval", "ws/task.toml", "--json", cwd=root)
    assert evaluated.returncode == 0, evaluated.stderr
    result = json.loads(evaluated.stdout)
    assert result["experiment"]["metrics"] == {"error": 4.0}  # |1.5 * 2 - 7|
    assert "forge" not in evaluated.stderr
    audited = strop("audit", result["run"], "--json", cwd=root)
    assert audited.returncode == 0, audited.stdout + audited.stderr
    report = json.loads(audited.stdout)
    assert report["whole"] and report["logs_checked"] == 1 and report["unchecked"] == []
    # the scorer's line in a two-stage log is found: an edited note is caught
    commit = result["experiment"]["commit"]
    assert result["experiment"]["branch"].endswith("/0")
    git_dir = Path(json.loads(strop("log", result["run"], "--json", cwd=root).stdout)["repo"])
    note = json.loads(subprocess.check_output(["git", "notes", "--ref=strop", "show", commit], cwd=git_dir))
    note["metrics"]["error"] = 0.0
    subprocess.run(["git", "notes", "--ref=strop", "add", "-f", "-m", json.dumps(note), commit], cwd=git_dir,
                   check=True, capture_output=True)  # fmt: skip
    caught = strop("audit", result["run"], cwd=root)
    assert caught.returncode == 1
    assert (
        f"{result['run']}/0's recorded metrics are not its evaluation log's: error = 0.0 recorded, 4.0 logged"
        in caught.stdout
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--eval", "python predict.py", "--run", "python predict.py"], "not both"),
        (["--run", "python predict.py"], "--run needs --score CMD and --scorer DIR"),
        (["--run", "python predict.py", "--score", "python score.py"], "give that folder with --scorer DIR"),
        (["--run", "python predict.py", "--scorer", "scorer"], "--scorer DIR needs --score CMD"),
        (["--score", "python score.py", "--scorer", "scorer"], "--score needs --run CMD"),
        (
            ["--run", "python p.py", "--score", "python s.py", "--scorer", "nope"],
            "--scorer nope: no such folder",
        ),
        (["--run", "python p.py", "--score", "python s.py", "--scorer", "ws/predict.py"], "not a folder"),
        (
            ["--run", "python p.py", "--score", "python s.py", "--scorer", "ws"],
            "is the workspace or lies inside",
        ),
        (["--run", "python p.py", "--score", "python s.py", "--scorer", "."], "contains the workspace"),
        (
            ["--run", "python p.py", "--score", "python s.py", "--scorer", "scorer", "--private", "ws"],
            "--private ws",
        ),
        (["--eval", "python predict.py", "--private", "private"], "belong to a two-stage task"),
        (["--run", "python 'p.py", "--score", "python s.py", "--scorer", "scorer"], '--run "python \'p.py"'),
    ],
)
def test_two_stage_mistakes_are_one_line_before_anything_is_written(
    tmp_path: Path, args: list[str], says: str
) -> None:
    root = example(tmp_path)
    done = strop("init", "ws", "--goal", "g", "--metric", "error", *args, cwd=root)
    assert done.returncode == 2, done.stdout
    assert done.stderr.startswith("error:") and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert says in done.stderr, done.stderr
    assert not (root / "ws" / "task.toml").exists()


def test_one_stage_init_says_exactly_how_to_make_it_two_stage(tmp_path: Path) -> None:
    """Today's file, plus a warning whose command, typed as printed once the scorer exists, works."""
    root = example(tmp_path)
    bench = "import json\nprint(json.dumps({'error': 1.0}))\n"
    (root / "ws" / "bench.py").write_text(bench)
    done = strop("init", "ws", "--goal", "g", "--eval", "python bench.py", "--metric", "error", cwd=root)
    assert done.returncode == 0, done.stderr
    spec = load_task(root / "ws" / "task.toml").evaluator
    assert spec.command == "python bench.py" and spec.files == ("bench.py",)  # as before
    warning = [line for line in done.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warning) == 1 and "a candidate can print any metric it likes" in warning[0], done.stderr
    assert "$STROP_OUTPUTS" in warning[0] and "$STROP_PRIVATE" in warning[0]
    advice = shlex.split(warning[0].split("then  ", 1)[1])
    assert advice[:2] == ["strop", "init"] and "--force" in advice
    assert advice[advice.index("--run") + 1] == "python bench.py"
    scorer = root / advice[advice.index("--scorer") + 1]
    assert scorer.resolve() == (root / "scorer").resolve()  # beside the workspace, where the example has it
    typed = strop(*advice[1:], cwd=root)
    assert typed.returncode == 0, typed.stderr
    assert load_task(root / "ws" / "task.toml").evaluator.two_stage


def test_draft_keeps_the_forms_apart(tmp_path: Path) -> None:
    root = example(tmp_path)
    two = draft(root / "ws", "g", "", "error", "min", run="python predict.py", score="python -I score.py",
                scorer=root / "scorer", private=root / "private")  # fmt: skip
    assert two.two_stage and two.protect == [] and two.scorer == (root / "scorer").resolve()
    one = draft(root / "ws", "g", "python predict.py", "error", "min")
    assert not one.two_stage and one.protect == ["predict.py"]
    with pytest.raises(UserError, match="needs --goal, --eval"):
        draft(root / "ws", "", "", "error", "min")
