"""A "novel" label, the only discovery, rests on errors measured on the full verification set on both
sides: every float32 of the interval, or float64's whole stated sample. A margin on a thinned sample or
the search grid is `novel?`: a sample's maximum reads low (1–17% on float32 runs re-measured over every
float), and expm1's cost 7.85 was printed as a discovery at 1.02× that is 1.0099× over every float32."""

import pytest

from agent.cli.evolve import _print_report
from agent.domains.numerics.domain import Z3Tally
from agent.domains.numerics.origins import Measured, full_kind, label
from agent.domains.numerics.report import BaselineEntry, FrontEntry, Report
from agent.evolution import EngineStats

THINNED = "sampled (thinned to fit the time)"
FLOAT32, FLOAT64 = full_kind(24), full_kind(53)


def test_the_printed_expm1_discovery_on_a_thinned_set_is_unconfirmed():
    # the r5 run: 0.7536 vs minimax-t-plus-poly-8's 0.7695 ULP, both on a 3× thinned set
    baselines = [Measured("minimax-t-plus-poly-8", 8.0, 0.7695, THINNED)]
    mark = label(0.7536, 7.85, False, baselines, THINNED, FLOAT32)
    assert mark.origin == "novel?"
    assert mark.margin == pytest.approx(0.7695 / 0.7536)
    assert mark.unconfirmed == f"both errors are {THINNED}"
    grid = label(
        0.7536, 7.85, False, [Measured("minimax-8", 8.0, 0.7695, "search grid")], "exhaustive", FLOAT32
    )
    assert grid.origin == "novel?" and grid.unconfirmed == "minimax-8's is search grid"


@pytest.mark.parametrize(
    ("point", "baseline", "full", "origin"),
    [
        ("exhaustive", "exhaustive", FLOAT32, "novel"),
        ("exhaustive", "search grid", FLOAT32, "novel?"),  # the baseline's error is the grid's: reads low
        ("search grid", "exhaustive", FLOAT32, "novel?"),
        ("sampled", "sampled", FLOAT32, "novel?"),  # float32's sampled fallback is not every float
        ("sampled", "sampled", FLOAT64, "novel"),  # float64's full stated sample is its design measure
        (THINNED, "sampled", FLOAT64, "novel?"),
        ("sampled", "search grid", FLOAT64, "novel?"),
    ],
)
def test_novel_needs_the_full_verification_set_on_both_sides(point, baseline, full, origin):
    mark = label(0.5, 6.0, False, [Measured("minimax-6", 6.0, 0.9, baseline)], point, full)
    assert mark.origin == origin
    assert (mark.unconfirmed is None) == (origin == "novel")


def test_an_unconfirmed_margin_is_never_a_tie_or_worse_relabelled():
    # only the novel label is held back: ties and losses read the same on any measure
    baselines = [Measured("minimax-6", 6.0, 0.9, THINNED)]
    assert label(0.9, 6.0, False, baselines, THINNED, FLOAT32).origin == "baseline-equivalent"
    assert label(2.0, 6.0, False, baselines, THINNED, FLOAT32).origin == "evolved"
    assert label(0.1, 6.0, True, baselines, THINNED, FLOAT32).origin == "seed"


def _report(origin: str, verified: str, unconfirmed: str | None, dtype: str = "float32") -> Report:
    entry = FrontEntry(
        cost=7.85, ops=8, max_ulp=0.7536, max_rel_error=7.646e-8, verified=verified,
        search_max_ulp=0.75, program="v2 = x + 0", c_code="", numpy_code="", origin=origin,
        baseline="minimax-t-plus-poly-8", baseline_error=0.7695, margin=1.021, unconfirmed=unconfirmed,
    )  # fmt: skip
    return Report(
        fn="expm1", lo=-0.5, hi=0.5, dtype=dtype, seed=0, front=[entry],
        baselines=[BaselineEntry("minimax-t-plus-poly-8", 8.0, 0.7695, 7.7e-8, 8, verified)],
        stats=EngineStats(evaluated=1, generations=1, wall_time=1.0), z3=Z3Tally(),
        verification_points=2357817, verification=verified,
    )  # fmt: skip


def test_an_unconfirmed_point_is_not_counted_and_the_report_says_why(capsys):
    report = _report("novel?", THINNED, f"its error is {THINNED}")
    assert report.novel == [] and len(report.provisional) == 1
    assert report.to_json()["novel"] == 0 and report.to_json()["provisional"] == 1
    _print_report(report)
    out = " ".join(capsys.readouterr().out.split())
    assert "novel?" in out
    assert "both measured on every float of the interval): 0" in out
    assert "Unconfirmed (novel?, not counted" in out and "thinned to fit the time" in out


def test_a_float64_discovery_says_it_rests_on_the_sample(capsys):
    report = _report("novel", "sampled", None, dtype="float64")
    assert len(report.novel) == 1 and report.provisional == []
    _print_report(report)
    out = " ".join(capsys.readouterr().out.split())
    assert "novel (sampled)" in out and "both measured on the full sampled set): 1" in out
    assert "Unconfirmed" not in out
