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
        ({"seed": -1}, "--seed must be an integer from 0 to 4,294,967,295 (2^32 − 1), got -1"),
        ({"seed": 2**32}, "--seed must be an integer from 0 to 4,294,967,295"),
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


def test_the_widest_interval_double_can_span_is_not_refused_as_too_wide():
    """Its width fits double; it is refused, since programs there overflow (x·x), but not as too wide."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(NumericsInputError) as raised:
            Request(fn="atan", lo=-8e307, hi=8e307, dtype="float64").validate()
    assert "x·x overflows float64" in str(raised.value) and "too wide" not in str(raised.value)


@pytest.mark.parametrize(
    ("fn", "lo", "hi", "changes", "message"),
    [
        (
            "sin",
            -1e30,
            1e30,
            {},
            "float32 numbers there lie up to 7.56e+22 apart, more than half of sin's period",
        ),
        ("cos", 0.0, 1e10, {}, "more than half of cos's period (3.142)"),
        ("sin", 0.0, 1e17, {"dtype": "float64"}, "float64 numbers there lie up to 16 apart"),
        ("atan", -1e30, 1e30, {}, "x·x overflows float32 past |x| = 1.84e+19"),
        ("tanh", 1.0, 1e160, {"dtype": "float64"}, "x·x overflows float64 past |x| = 1.34e+154"),
    ],
)
def test_an_interval_beyond_what_the_format_approximates_is_refused_up_front(fn, lo, hi, changes, message):
    """sin and atan on [-1e30, 1e30] ran ~25 s to an empty front, 37 "baseline left out" notes and a
    raw RuntimeWarning, while exp there was refused up front: now each is refused in one line."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(NumericsInputError) as raised:
            Request(fn=fn, lo=lo, hi=hi, **changes).validate()
    assert message in str(raised.value)


def test_intervals_short_of_those_limits_are_still_taken():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Request(fn="sin", lo=-100.0, hi=100.0).validate()
        Request(fn="cos", lo=0.0, hi=1e7).validate()  # float32 spacing 1 there: under π
        Request(fn="atan", lo=1.0, hi=1e19).validate()
        Request(fn="atan", lo=-1e30, hi=1e30, arithmetic="float64").validate()  # x·x fits double


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
        (["--interval", "0,1", "--seed", "-1"], "--seed must be an integer from 0 to"),
        (["--interval=-1e30,1e30"], "more than half of sin's period"),
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
