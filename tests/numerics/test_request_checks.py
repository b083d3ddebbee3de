"""Requests refused before any work, each for its own reason, in one line.

`--population 0` and `--islands 0` were refused by the engine after the baselines (7.5 s in, and
with a short --time as a --time too short); `--workers -1` ran; an interval whose width overflows
double was said to make sin overflow, with two NumPy RuntimeWarnings; `nan,1` was "reversed".
"""

import subprocess
import sys
import time
import warnings

import pytest

from agent.domains.numerics.request import NumericsInputError, Request

ENTRY = "from agent.cli import main; main()"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"population": 0}, "--population must be at least 1"),
        ({"islands": 0}, "--islands must be at least 1"),
        ({"workers": -1}, "--workers must be 0 (evaluate inline) or a number of processes, not -1"),
        ({"generations": -1, "time_budget": None}, "--generations must be 0 or more"),
        ({"lo": float("nan")}, "has an end that is not a number"),
        ({"hi": float("nan")}, "has an end that is not a number"),
        ({"lo": -1e308, "hi": 1e308, "dtype": "float64"}, "is too wide: its width hi − lo overflows float64"),
    ],
)
def test_a_bad_request_is_refused_for_its_own_reason(changes, message):
    request = Request(**{"fn": "sin", "lo": 0.0, "hi": 1.0, **changes})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning is a failure here
        with pytest.raises(NumericsInputError) as raised:
            request.validate()
    assert message in str(raised.value)
    assert "overflows float64 on" not in str(raised.value)  # not "sin overflows float64 on [...]"


def test_the_widest_interval_double_can_span_is_still_taken():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Request(fn="sin", lo=-8e307, hi=8e307, dtype="float64").validate()


def test_workers_zero_is_inline_and_allowed():
    Request(fn="sin", lo=0.0, hi=1.0, workers=0).validate()


def _strop(*args, home):
    """The CLI as a user runs it: warnings not silenced, so a RuntimeWarning would show."""
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-c", ENTRY, "evolve", "numerics", *args],
        capture_output=True,
        text=True,
        env={"STROP_HOME": str(home), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    return run, time.monotonic() - started


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--interval", "0,1", "--population", "0"], "--population must be at least 1"),
        (["--interval", "0,1", "--islands", "0"], "--islands must be at least 1"),
        (["--interval", "0,1", "--workers", "-1"], "--workers must be 0"),
        (["--interval", "nan,1"], "an end is not a number"),
        (["--interval=-1e308,1e308", "--dtype", "float64"], "its width hi − lo overflows float64"),
    ],
)
def test_the_cli_refuses_before_the_baselines(tmp_path, args, message):
    run, seconds = _strop(
        "--fn",
        "sin",
        *args,
        "--time",
        "20s",
        home=tmp_path,
    )
    assert run.returncode == 2, run.stderr[-2000:]
    assert message in run.stderr
    assert "phase: baselines" not in run.stderr  # refused before any work
    assert "Warning" not in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert seconds < 30  # no baselines (they took 7.5 s before the refusal)
