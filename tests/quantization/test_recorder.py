"""`strop evolve quant` records its Pareto points in git: each one an experiment `strop log` shows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_pareto_points_land_in_git(tmp_path: Path) -> None:
    done = cli(
        "evolve", "quant", "--model", "digits-mlp", "--budget-bits", "3.0", "--generations", "1",
        "--population", "6", "--workers", "0", "--seed", "1", "--no-baselines",
        "--out", str(tmp_path / "out"), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    run = report["run"]
    assert run
    log = json.loads(cli("log", run, "--json").stdout)
    assert log["status"] == "done" and log["task"] == "quant-digits-mlp-b3"
    experiments = log["experiments"]
    assert len(experiments) >= len(report["front"]) > 0
    recorded = {}
    for exp in experiments:
        shown = subprocess.run(
            ["git", "show", f"{exp['branch']}:config.json"],
            cwd=log["repo"],
            capture_output=True,
            text=True,
            check=True,
        )
        config = json.loads(shown.stdout)
        assert config["val_acc"] == exp["metrics"]["val_acc"]
        assert config["bytes"] == exp["metrics"]["bytes"] and config["avg_bits"] == exp["metrics"]["avg_bits"]
        assert config["avg_bits"] <= 3.0
        recorded[json.dumps(config["config"])] = config
    chosen = recorded[json.dumps(report["chosen"]["config"])]  # the chosen config is in git too
    assert chosen["val_acc"] == report["chosen"]["val_acc"]
    best = max(experiments, key=lambda e: (e["metrics"]["val_acc"], -e["id"]))
    assert log["best"] == best["id"]
