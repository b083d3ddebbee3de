"""`strop evolve quant` end to end: the --json shape, and bad input → one clear line, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def strop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", "evolve", "quant", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_json_run_has_the_documented_shape(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = strop(
        "--model", "digits-mlp", "--budget-bits", "3.0", "--generations", "1", "--population", "6",
        "--workers", "0", "--seed", "3", "--out", str(out), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    keys = {"val_acc", "test_acc", "bytes"}
    assert keys <= report["fp32"].keys()
    assert keys | {"avg_bits", "config"} <= report["chosen"].keys()
    for name in ("hawq", "tpe", "greedy", "uniform_int8", "uniform_int4", "uniform_int3", "uniform_int2"):
        assert keys | {"avg_bits", "config"} <= report["baselines"][name].keys(), name
    for scored in (report["fp32"], report["chosen"], *report["baselines"].values()):
        assert 0.0 <= scored["val_acc"] <= 1.0 and 0.0 <= scored["test_acc"] <= 1.0
    assert report["chosen"]["avg_bits"] <= 3.0 and report["front"]
    assert report["baselines"]["tpe"]["evaluations"] == report["chosen"]["evaluations"]
    saved = json.loads((out / "chosen_config.json").read_text())
    assert saved["config"] == report["chosen"]["config"] and saved["origin"] == report["chosen"]["origin"]
    again = strop("--model", str(out / "quantized_weights.npz"), "--budget-bits", "32", "--generations", "0",
                  "--population", "2", "--workers", "0", "--no-baselines", "--json")  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert abs(json.loads(again.stdout)["fp32"]["test_acc"] - report["chosen"]["test_acc"]) < 1e-9


def test_a_chosen_baseline_config_is_said_to_be_no_discovery(tmp_path: Path) -> None:
    """With no generations the engine holds only the seeded baselines' configs: the pick is one of them."""
    done = strop(
        "--model", "digits-mlp", "--budget-bits", "2.5", "--generations", "0", "--population", "6",
        "--workers", "0", "--baselines", "fast", "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())  # the console wraps long lines
    assert "chosen config's origin: baseline " in text and "not a discovery" in text, done.stdout
    saved = json.loads((tmp_path / "out" / "chosen_config.json").read_text())
    assert saved["origin"].startswith("baseline ")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "resnet-50"], "unknown model"),
        (["--model", "/nonexistent.npz"], "no such model file /nonexistent.npz"),
        (["--model", "/etc/passwd"], "strop reads .npz, .pt/.pth and .joblib/.pkl model files"),
        (["--budget-bits", "inf"], "--budget-bits must be a finite number of bits per weight above 0"),
        (["--budget-bits", "1.5"], "below the smallest configuration"),
        (["--groups", "48"], "fits no layer: a group must divide"),
        (["--profile", "tpu-v9"], "unknown hardware profile"),
        (["--time", "soon"], "not a duration"),
        (["--baselines", "most"], "--baselines takes one of"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    done = strop(*args, "--generations", "1")
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr


def test_corrupted_weights_file(tmp_path: Path) -> None:
    bad = tmp_path / "weights.npz"
    bad.write_bytes(b"PK\x03\x04 this is not really a zip")
    done = strop("--model", str(bad))
    assert (
        done.returncode == 2 and "cannot read weights file" in done.stderr and "Traceback" not in done.stderr
    )


def test_a_model_whose_outputs_overflow_is_refused(tmp_path: Path) -> None:
    """Weights of 1e4 (under what fp16 scales hold) through twelve layers: outputs overflow float32,
    every score would be noise."""
    import numpy as np

    arrays = {f"W{k}": np.full((64, 64), 1e4, np.float32) for k in range(11)}
    arrays |= {f"b{k}": np.zeros(64, np.float32) for k in range(11)}
    arrays |= {"W11": np.full((10, 64), 1e4, np.float32), "b11": np.zeros(10, np.float32)}
    huge = tmp_path / "huge.npz"
    np.savez(huge, **arrays)
    done = strop("--model", str(huge), "--generations", "1")
    assert done.returncode == 2, done.stderr
    assert "outputs overflow" in done.stderr and "Traceback" not in done.stderr


def test_time_bounds_the_whole_command_with_progress_on_stderr(tmp_path: Path) -> None:
    """`--time T --json` (baselines included) ends within T + 10%, and says what it does on stderr.

    The acceptance is `--time 2m` in ≤ 2m12s; a 40 s budget keeps the test short and is harder:
    start-up and the fixed costs are a larger share of it.
    """
    budget = 40.0
    started = time.monotonic()
    done = strop(
        "--model", "digits-mlp", "--budget-bits", "3.0", "--seed", "1", "--time", f"{budget:g}s",
        "--out", str(tmp_path / "out"), "--json",
    )  # fmt: skip
    wall = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert wall <= budget * 1.1, f"took {wall:.1f}s for --time {budget:g}s\n{done.stderr}"
    report = json.loads(done.stdout)  # stdout stays pure JSON: progress goes to stderr
    err = done.stderr
    for phrase in ("time plan", "engine generation 0", "baseline random", "baseline tpe", "done in"):
        assert phrase in err, phrase
    assert len(err.splitlines()) < 60  # a modest rate, not a line per evaluation
    assert set(report["time"]["phases"]) >= {"setup", "engine", "refine", "baseline random", "baseline tpe"}
    margin = report["strongest_baseline"]
    assert margin["baseline"] in report["baselines"] and margin["low"] <= margin["value"] <= margin["high"]
    assert margin["verdict"] in ("ahead", "tie", "behind")
    strongest = report["baselines"][margin["baseline"]]
    inside = [b for b in report["baselines"].values() if b["avg_bits"] <= 3.0]
    assert strongest["test_acc"] == max(b["test_acc"] for b in inside)


def test_checkpoint_warm_start_continues_the_search(tmp_path: Path) -> None:
    """A second run with the same --checkpoint continues the first's population (nightly warm start)."""
    args = (
        "--model", "digits-mlp", "--budget-bits", "3.0", "--generations", "1", "--population", "6",
        "--workers", "0", "--baselines", "none", "--json", "--checkpoint", str(tmp_path / "quant.ckpt"),
    )  # fmt: skip
    first, second = strop(*args), strop(*args)
    assert first.returncode == 0 and second.returncode == 0, (first.stderr, second.stderr)
    one, two = json.loads(first.stdout)["engine"], json.loads(second.stdout)["engine"]
    assert two["generations"] == one["generations"] + 1 and two["evaluated"] > one["evaluated"], (one, two)
    other = strop(*[a if a != "3.0" else "2.5" for a in args])
    assert other.returncode == 2 and "different search" in other.stderr and "Traceback" not in other.stderr


def test_a_long_phase_is_never_silent_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    """`--time 2m` gives the random and TPE baselines ~25 s each, which printed nothing between start and end."""
    from agent.cli.quant import Progress
    from agent.domains.quantization.timeplan import PhaseDone, PhaseStarted

    with Progress(heartbeat=0.3) as progress:
        progress(PhaseStarted("baseline random", 25.0))
        time.sleep(1.0)
        progress(PhaseDone("baseline random", 1.0, "258 evaluations"))
    err = capsys.readouterr().err
    assert "baseline random (≤ 25s) ..." in err and "baseline random done" in err
    assert "... baseline random running for" in err, err
    assert not progress._beat.running
