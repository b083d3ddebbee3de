"""The weak-sandbox warning is one line per command, however many sandboxes name `local`.

A two-stage task naming `local` for its candidates and its scorer opened the backend twice, and
`strop run` and `strop resume` each printed the same warning twice.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WARNING = "sandbox backend 'local' chosen: candidate code runs on the host"

TASK = """[task]
name = "twice"
goal = "minimise the loss"
workspace = "ws"

[evaluator]
run = "python make.py"
score = "python -I score.py"
scorer = "scorer"
metric = "loss"
direction = "minimize"
timeout = "20s"
sandbox = "local"
score_sandbox = "local"

[proposer]
kind = "evolve"
params_file = "params.json"

[space]
x = { type = "float", low = -1.0, high = 1.0 }
"""
MAKE = """import json, os
x = json.load(open("params.json"))["x"]
open(os.path.join(os.environ["STROP_OUTPUTS"], "out.json"), "w").write(json.dumps({"x": x}))
"""
SCORE = """import json, os
x = json.load(open(os.path.join(os.environ["STROP_OUTPUTS"], "out.json")))["x"]
print(json.dumps({"loss": (x - 0.3) ** 2}))
"""


def strop(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120"}
    command = [sys.executable, "-c", "from agent.cli import main; main()", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def two_stage_task(root: Path) -> Path:
    (root / "ws").mkdir(parents=True)
    (root / "scorer").mkdir()
    (root / "ws" / "make.py").write_text(MAKE)
    (root / "ws" / "params.json").write_text('{"x": 0.9}')
    (root / "scorer" / "score.py").write_text(SCORE)
    (root / "task.toml").write_text(TASK)
    return root / "task.toml"


def test_run_and_resume_say_the_local_sandbox_once(tmp_path: Path) -> None:
    done = strop("run", str(two_stage_task(tmp_path / "t")), "-n", "2")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count(WARNING) == 1, done.stderr
    run_id = done.stdout.split("run ", 1)[1].split()[0]
    resumed = strop("resume", run_id, "--experiments", "3")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stderr.count(WARNING) == 1, resumed.stderr
