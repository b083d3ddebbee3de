"""The noisy-latency task measures with noise, as its comment says: two evaluations of one
configuration differ, around the scorer's own noiseless latency, by about its 8%."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import tomllib
from pathlib import Path

TASK = Path(__file__).resolve().parents[2] / "benchmarks" / "tasks" / "noisy-latency"


def measure(tmp_path: Path) -> float:
    """Stage run (the workspace's run.py) then stage score, each its own process, as the evaluator runs them."""
    outputs = tmp_path / "outputs"
    outputs.mkdir(exist_ok=True)
    env = {"STROP_OUTPUTS": str(outputs), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    subprocess.run([sys.executable, "run.py"], cwd=TASK / "workspace", env=env, check=True, timeout=30)
    scored = subprocess.run(
        [sys.executable, "-I", "-S", "score.py"],
        cwd=TASK / "scorer",
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(scored.stdout)["latency_ms"]


def test_two_measurements_of_one_configuration_differ_around_its_true_latency(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("score", TASK / "scorer" / "score.py")
    assert spec is not None and spec.loader is not None
    score = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(score)
    truth = score.true_latency(json.loads((TASK / "workspace" / "params.json").read_text()))
    values = [measure(tmp_path) for _ in range(6)]
    assert len(set(values)) == 6, "each evaluation draws its own noise"
    assert all(abs(math.log(v / truth)) < 6 * score.NOISE for v in values)
    assert tomllib.loads((TASK / "task.toml").read_text())["evaluator"]["confirm"] == 3
