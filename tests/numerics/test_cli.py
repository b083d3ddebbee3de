import json
import subprocess
import sys

import pytest

ENTRY = "from agent.cli import main; main()"


def _strop(*args, home):
    return subprocess.run(
        [sys.executable, "-c", ENTRY, "evolve", "numerics", *args],
        capture_output=True,
        text=True,
        env={"STROP_HOME": str(home), "PATH": "/usr/bin:/bin", "PYTHONWARNINGS": "ignore"},
        timeout=300,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fn", "gamma", "--interval", "0,1"], "unknown function"),
        (["--fn", "exp2", "--interval", "1,0"], "empty or reversed"),
        (["--fn", "exp2", "--interval", "0.5,0.5"], "empty or reversed"),
        (["--fn", "exp2", "--interval", "0,1", "--dtype", "float16"], "unsupported dtype"),
        (["--fn", "exp2", "--interval", "0,1", "--time", "2s"], "too short to finish one generation"),
        (["--fn", "log", "--interval", "-1,1"], "not defined on all of [-1.0, 1.0]: it needs x > 0"),
        (["--fn", "tan", "--interval", "1,2"], "it needs no pole"),
        (["--fn", "exp", "--interval", "0,100"], "exp overflows float32 on [0.0, 100.0]"),
        (["--fn", "exp2", "--interval", "zero,1"], "two numbers"),
        (["--fn", "exp2", "--interval", "1e400,1e401"], "the ends must be finite"),  # read as [inf, inf]
        (
            ["--fn", "exp2", "--interval", "0,1", "--arithmetic", "float16"],
            "float32 programs compute in float32 or float64, not 'float16'",
        ),
        (["--fn", "exp2", "--interval", "0,1", "--seeds", "some"], "--seeds takes"),
        (["--fn", "exp2", "--interval", "0,1", "--cost-model", "cycles"], "unknown cost model"),
        (
            ["--fn", "exp2", "--interval", "0,1", "--dtype", "float64", "--arithmetic", "float32"],
            "--arithmetic: float64 programs compute in float64, not 'float32'",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    run = _strop(*args, home=tmp_path)
    assert run.returncode == 2, run.stderr
    assert message in run.stderr
    assert "Traceback" not in run.stderr


def test_json_output_shape(tmp_path):
    out = tmp_path / "out"
    run = _strop(
        "--fn", "exp", "--interval", "0.5,1", "--dtype", "float64", "--generations", "1",
        "--population", "6", "--islands", "1", "--max-cost", "3", "--workers", "0",
        "--cost-model", "ops", "--json", "--out", str(out), home=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout)
    assert report["front"] and report["baselines"] and report["cost_model"] == "ops"
    for entry in report["front"]:
        assert {"cost", "ops", "max_ulp", "max_rel_error", "verified", "c_code", "origin"} <= set(entry)
        assert entry["verified"] == "sampled" and entry["cost"] <= 3
        assert entry["origin"] in ("seed", "baseline-equivalent", "evolved", "novel", "novel?")
        assert (out / f"exp_float64_cost{entry['cost']:g}.c").read_text() == entry["c_code"]
    for baseline in report["baselines"]:
        assert {"name", "cost", "max_ulp", "max_rel_error", "verified"} <= set(baseline)
    names = {b["name"] for b in report["baselines"]}
    assert {"taylor-3", "pade-1/1", "minimax-3", "minimax-rational-1/1"} <= names
    minimax = {b["cost"]: b["max_rel_error"] for b in report["baselines"] if b["name"].startswith("minimax")}
    best = {e["cost"]: e["max_rel_error"] for e in report["front"]}
    assert best.get(3, minimax[3]) <= minimax[3] * 1.01  # the seeds include the minimax polynomials
    assert report["novel"] == sum(e["origin"] == "novel" for e in report["front"])
    assert report["provisional"] == sum(e["origin"] == "novel?" for e in report["front"])
    assert report["engine"]["evaluated"] > 0
    assert 0 <= report["structure_cache"]["hit_rate"] <= 1
    # progress on stderr even with --json (and a pipe, not a terminal)
    assert "phase: baselines" in run.stderr and "phase: verification" in run.stderr


def test_float32_with_double_inside_end_to_end(tmp_path):
    """Verified on every float and timed as double-inside code, labelled as such."""
    run = _strop(
        "--fn", "exp2", "--interval", "1,1.125", "--arithmetic", "float64", "--generations", "1",
        "--population", "6", "--islands", "1", "--max-cost", "5", "--workers", "0", "--json", home=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout)
    assert report["dtype"] == "float32" and report["arithmetic"] == "float64"
    under = [e for e in report["front"] if e["max_ulp"] < 1]
    assert under and all(e["verified"] == "exhaustive" for e in under)
    assert all("const double x = input;" in e["c_code"] for e in report["front"])
    assert "float32 (float64 inside)" in report["front"][0]["c_code"]
    assert any(s["kind"] == "front" for s in report["speed"]) and report["headline"] is not None
    # the format's own arithmetic gets its say: on this narrow interval a float32 polynomial is under
    # 1 ULP too, and it (8 floats per vector, not 4 doubles) is the baseline the headline must face
    plain = [s for s in report["speed"] if s["name"].endswith("in float32 arithmetic")]
    assert plain and plain[0]["kind"] == "baseline" and plain[0]["max_ulp"] < 1
    assert report["headline"]["baseline"]["ns"] == min(
        s["ns"] for s in report["speed"] if s["kind"] == "baseline"
    )


def test_checkpoint_warm_start_continues_the_search(tmp_path):
    """A second run with the same --checkpoint continues the first's population (how nightly jobs warm-start)."""
    args = [
        "--fn", "exp", "--interval", "0.5,1", "--dtype", "float64", "--generations", "1",
        "--population", "6", "--islands", "1", "--max-cost", "3", "--workers", "0",
        "--cost-model", "ops", "--json", "--checkpoint", str(tmp_path / "exp.ckpt"),
    ]  # fmt: skip
    first = _strop(*args, home=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    second = _strop(*args, home=tmp_path)
    assert second.returncode == 0, second.stderr[-2000:]
    one, two = json.loads(first.stdout)["engine"], json.loads(second.stdout)["engine"]
    assert two["generations"] == one["generations"] + 1, (one, two)
    assert two["evaluated"] > one["evaluated"]
    other = _strop(*[a if a != "exp" else "exp2" for a in args], home=tmp_path)
    assert other.returncode == 2 and "different search" in other.stderr and "Traceback" not in other.stderr


def test_a_long_phase_is_never_silent_on_stderr(capsys):
    """An exhaustive pass or the speed loops printed nothing between their start and end lines."""
    import time

    from agent.cli.evolve import _Progress

    with _Progress(heartbeat=0.3) as progress:
        progress.say("phase: verification (exhaustive, 8388609 inputs per program)")
        time.sleep(1.0)
        progress.say("phase: verification done in 1.0s")
    err = capsys.readouterr().err
    assert "phase: verification (exhaustive" in err and "verification done" in err
    assert "… verification: still running after" in err, err
    assert not progress._beat.running


def test_progress_says_the_best_error_in_its_unit(capsys):
    """ "best error 10^-0.11" made a user do the arithmetic and guess the unit."""
    from agent.cli.evolve import _Progress
    from agent.evolution import GenerationDone
    from agent.evolution.events import EngineStats

    progress = _Progress(interval=0.0, unit="ULP")
    progress.event(GenerationDone(generation=3, stats=EngineStats(), front_size=4, best=(-0.11, 6.0)))
    line = capsys.readouterr().err.strip()
    assert line.endswith("best error 0.7762 ULP") and "10^" not in line, line


def test_the_runs_best_is_a_discovery_or_none(tmp_path):
    """A search's recorded points carry search-grid errors: the report called the lowest of them the
    run's best, "better than" a baseline, where the command itself found nothing novel."""
    from agent.report.data import gather
    from agent.run_index import RunIndex

    run = _strop(
        "--fn", "exp", "--interval", "0.5,1", "--dtype", "float64", "--generations", "0",
        "--population", "6", "--islands", "1", "--max-cost", "4", "--workers", "0",
        "--cost-model", "ops", "--json", home=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout)
    assert not [entry for entry in report["front"] if entry["origin"] == "novel"]  # generation 0: seeds
    data = gather(RunIndex(tmp_path), report["run"], tmp_path)
    assert data.best is None and dict(data.facts())["discoveries"] == "none"
    assert data.adopt_note().startswith("nothing to adopt as a discovery")
    assert "search-grid error" in data.selection_note()
