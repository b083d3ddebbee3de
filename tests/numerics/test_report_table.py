"""The printed report, as a user reads it in a log file or a pipe: every number whole."""

from dataclasses import replace

import pytest

from agent.cli.evolve import _print_report
from agent.domains.numerics.domain import Z3Tally
from agent.domains.numerics.report import BaselineEntry, FrontEntry, Report
from agent.evolution import EngineStats


def _entry(cost: float, max_ulp: float) -> FrontEntry:
    return FrontEntry(
        cost=cost, ops=1, max_ulp=max_ulp, max_rel_error=1.075, verified="sampled",
        search_max_ulp=max_ulp, program="v2 = x + 0", c_code="", numpy_code="",
        origin="baseline-equivalent", baseline="minimax-symmetric-rational-3/3",
        baseline_error=58086420.0, margin=0.334,
    )  # fmt: skip


def test_front_numbers_are_not_cut_when_stdout_is_a_pipe(capsys):
    """rich gives a pipe 80 columns and cut "1.738e+07" to "1.738e+…" (tanh on [-2, 2])."""
    report = Report(
        fn="tanh", lo=-2.0, hi=2.0, dtype="float32", seed=0,
        front=[_entry(0.82, 17380000.0), _entry(9.42, 119.4)],
        baselines=[BaselineEntry("minimax-symmetric-rational-3/3", 1.0, 58086420.0, 0.36)],
        stats=EngineStats(evaluated=1, generations=1, wall_time=1.0), z3=Z3Tally(), verification_points=10,
    )  # fmt: skip
    _print_report(report)
    out = capsys.readouterr().out
    assert "…" not in out
    for text in (
        "1.738e+07",
        "1.075e+00",
        "5.809e+07",
        "baseline-equivalent",
        "minimax-symmetric-rational-3/3",
    ):
        assert text in out


def test_json_report_is_strict_json_when_an_error_is_infinite(capsys):
    """A front point whose error is inf (a program that overflows) came out as `Infinity`."""
    import json

    from agent.cli.evolve import _show

    class _NoRun:
        run = None

    report = Report(
        fn="exp", lo=-5.0, hi=-1.0, dtype="float64", seed=0, front=[_entry(0.83, float("inf"))],
        baselines=[BaselineEntry("minimax-1", 1.0, float("nan"), 0.68)],
        stats=EngineStats(evaluated=1, generations=1, wall_time=1.0), z3=Z3Tally(), verification_points=10,
    )  # fmt: skip
    _show(report, _NoRun(), as_json=True)
    text = capsys.readouterr().out
    data = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    assert data["front"][0]["max_ulp"] == "inf" and data["baselines"][0]["max_ulp"] == "nan"


def test_the_summary_says_how_many_front_programs_were_verified(capsys):
    """cbrt on [1, 8]: nothing under 1 ULP, nothing verified, and the line read "verified exhaustive on
    25165825 inputs in 0s" while every program kept its search-grid error."""
    front = [
        replace(_entry(9.9, 177.0), verified="search grid"),
        replace(_entry(1.0, 0.5), verified="exhaustive"),
    ]
    report = Report(
        fn="cbrt", lo=1.0, hi=8.0, dtype="float32", seed=0, front=front, baselines=[],
        stats=EngineStats(evaluated=1, generations=1, wall_time=1.0), z3=Z3Tally(),
        verification_points=25165825, verification="exhaustive",
    )  # fmt: skip
    _print_report(report)
    out = " ".join(capsys.readouterr().out.split())
    assert "1 of 2 front programs verified exhaustive on 25,165,825 inputs" in out or (
        "1 of 2 front programs verified exhaustive on 25165825 inputs" in out
    )
    assert "the rest keep their search-grid errors" in out


def test_each_printed_error_says_what_it_was_measured_on(capsys):
    """A grid maximum reads low (log2 on [1, 2]: 4.207 ULP on the grid, 4.763 on every float), and the
    table printed both kinds alike: now a column says "all floats", "sample" or "grid" per point, and
    the strongest baseline's error carries its own."""
    front = [
        replace(_entry(3.7, 4.207), verified="search grid"),
        replace(_entry(9.85, 0.8), verified="exhaustive", baseline="minimax-9", baseline_error=0.9),
    ]
    report = Report(
        fn="log2", lo=1.0, hi=2.0, dtype="float32", seed=0, front=front,
        baselines=[
            BaselineEntry("minimax-symmetric-rational-3/3", 1.0, 58086420.0, 0.36, verified="search grid"),
            BaselineEntry("minimax-9", 9.7, 0.9, 1e-7, verified="exhaustive"),
        ],
        stats=EngineStats(evaluated=1, generations=1, wall_time=1.0), z3=Z3Tally(),
        verification_points=8388609, verification="exhaustive",
    )  # fmt: skip
    _print_report(report)
    rows = [line for line in capsys.readouterr().out.splitlines() if "4.207" in line or "0.8 " in line]
    assert len(rows) == 2
    assert "grid" in rows[0] and "5.809e+07 (grid)" in rows[0]
    assert "all floats" in rows[1] and "0.9 (all floats)" in rows[1]


@pytest.mark.parametrize(
    ("baselines", "says"),
    [
        ([BaselineEntry("minimax-3", 3.0, float("inf"), 1.0)], "nor does any baseline"),
        (
            [BaselineEntry("pade-2/2", 5.0, 40.0, 2.4e-6)],
            "the best baseline, pade-2/2 (cost 5), reaches 2.4e-06",
        ),
    ],
)
def test_an_empty_front_says_what_was_not_found_instead_of_an_empty_table(capsys, baselines, says):
    """atan on [-1e30, 1e30] drew an empty grid of column headers, exit 0, with only a note far below
    that the front's points approximate nothing."""
    report = Report(
        fn="atan", lo=-1e30, hi=1e30, dtype="float64", seed=0, front=[], baselines=baselines,
        stats=EngineStats(evaluated=336, generations=6, wall_time=9.0), z3=Z3Tally(), verification_points=10,
    )  # fmt: skip
    _print_report(report)
    out = " ".join(capsys.readouterr().out.split())
    assert "Nothing the search found approximates atan on [-1e+30, 1e+30] (float64)" in out
    assert says in out and "try a narrower interval" in out
    assert "┏" not in out  # no table drawn
