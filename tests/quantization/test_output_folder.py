"""`strop evolve quant` writes each run into its own folder; a later run leaves an earlier one's files.

The default folder was `$STROP_HOME/quant/<model>-b<bits>-s<seed>`: a second run with the same
model, budget and seed replaced the first run's chosen_config.json and quantized_weights.npz
without a word. It is timestamped now, as `evolve numerics` names its folders; --out is the
user's own choice and is written as before.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from agent.cli.quant import new_folder

ROOT = Path(__file__).resolve().parents[2]
QUICK = ("--model", "digits-mlp", "--budget-bits", "32", "--generations", "0", "--population", "2",
         "--workers", "0", "--no-baselines", "--json")  # fmt: skip


def strop(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", "evolve", "quant", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "STROP_HOME": str(home)},
        timeout=300,
    )


def test_two_runs_with_the_same_model_budget_and_seed_keep_both_outputs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = strop(*QUICK, home=home)
    assert first.returncode == 0, first.stderr[-2000:]
    folders = sorted((home / "quant").iterdir())
    assert len(folders) == 1
    assert re.fullmatch(r"digits-mlp-b32-s0-\d{8}-\d{6}", folders[0].name), folders[0].name
    config = (folders[0] / "chosen_config.json").read_bytes()
    weights = (folders[0] / "quantized_weights.npz").stat().st_mtime_ns
    assert json.loads(first.stdout)["outputs"]["config"] == str(folders[0] / "chosen_config.json")

    second = strop(*QUICK, "--seed", "0", home=home)  # the same model, budget and seed
    assert second.returncode == 0, second.stderr[-2000:]
    folders = sorted((home / "quant").iterdir())
    assert len(folders) == 2, folders
    assert (folders[0] / "chosen_config.json").read_bytes() == config
    assert (folders[0] / "quantized_weights.npz").stat().st_mtime_ns == weights
    assert (folders[1] / "chosen_config.json").is_file() and (folders[1] / "quantized_weights.npz").is_file()


def test_a_run_started_in_the_same_second_gets_a_folder_of_its_own(tmp_path: Path) -> None:
    made = [new_folder(tmp_path / "quant", "digits-mlp-b3-s0-20260101-120000") for _ in range(3)]
    assert [folder.name for folder in made] == [
        "digits-mlp-b3-s0-20260101-120000",
        "digits-mlp-b3-s0-20260101-120000-2",
        "digits-mlp-b3-s0-20260101-120000-3",
    ]
    assert all(folder.is_dir() and not any(folder.iterdir()) for folder in made)


def test_an_explicit_out_is_written_as_before(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "chosen_config.json").write_text("{}\n")  # an earlier run's file: the user named the folder
    done = strop(*QUICK, "--out", str(out), home=tmp_path / "home")
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((out / "chosen_config.json").read_text())["model"] == "digits-mlp"
    assert not (tmp_path / "home" / "quant").exists()


def test_negative_workers_are_refused_before_the_set_up(tmp_path: Path) -> None:
    started = time.monotonic()
    done = strop("--workers", "-1", home=tmp_path / "home")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --workers must be 0 (evaluate inline) or a number of processes, not -1"
    ]
    assert time.monotonic() - started < 60
