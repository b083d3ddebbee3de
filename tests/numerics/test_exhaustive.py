"""Exhaustive float32 verification in C agrees with the Python measurement on every float."""

import numpy
import pytest

from agent.domains.numerics.domain import NumericsDomain
from agent.domains.numerics.exhaustive import verify_all
from agent.domains.numerics.measure import Reference
from agent.domains.numerics.points import count_in, verification_points
from agent.domains.numerics.program import Node, Program, horner
from agent.domains.numerics.skeletons import factored_polynomial, odd_polynomial
from agent.domains.numerics.targets import FORMATS
from tests.numerics.compiler import needs_cc

pytestmark = needs_cc
FLOAT32 = FORMATS["float32"]


def _python(program, fn, lo, hi):
    points = verification_points(lo, hi, FLOAT32)
    assert len(points) == count_in(lo, hi, FLOAT32)  # small interval: Python's set is every float too
    domain = NumericsDomain(fn, lo, hi, "float32", fit_points=64, score_points=128)
    reference = Reference(points, domain.target.truth(points, FLOAT32), FLOAT32)
    return reference.measure(program.run_chunked(points, FLOAT32))


@pytest.mark.parametrize(
    ("fn", "lo", "hi", "shape"),
    [
        ("log2", 1.0, 1.0078125, lambda: factored_polynomial(3, 1.0)),
        ("exp2", 0.25, 0.2578125, lambda: horner([0.0] * 4)),
        ("sin", -0.50390625, -0.5, lambda: odd_polynomial(1)),  # negative floats: ordinals below 0
        ("erf", 0.5, 0.50390625, lambda: horner([0.0] * 3)),
        ("atan", 0.75, 0.75390625, lambda: horner([0.0] * 3)),  # NumPy's arctan, glibc's atan
        ("cos", 1.0, 1.00390625, lambda: horner([0.0] * 3)),
    ],
)
def test_exhaustive_equals_sampled_on_small_intervals(fn, lo, hi, shape):
    domain = NumericsDomain(fn, lo, hi, "float32", fit_points=64, score_points=128, polish_evaluations=0)
    program = domain.fitted(shape())
    ours = _python(program, fn, lo, hi)
    (theirs,), _ = verify_all([program], fn, lo, hi)
    assert theirs.points == ours.points
    assert ours.max_ulp > 0.3  # a real error, not a trivial zero
    assert theirs.max_ulp == pytest.approx(ours.max_ulp, rel=1e-6)
    assert theirs.max_rel_error == pytest.approx(ours.max_rel_error, rel=1e-5)
    assert theirs.worst_x == pytest.approx(ours.worst_x, rel=1e-7)


def test_nan_and_a_missed_zero_are_infinite_errors():
    root = Program((Node("x"), Node("const", (), -1.003), Node("add", (0, 1)), Node("sqrt", (2,))))
    unfactored = horner([-1.0, 1.0])  # x − 1 rounded through an fma: 0 at 1, but see the shift
    shifted = horner([-1.0000001, 1.0])  # not 0 at x = 1 where log2 is exactly 0
    results, _ = verify_all([root, unfactored, shifted], "log2", 1.0, 1.0078125)
    assert results[0].max_ulp == numpy.inf
    assert numpy.isfinite(results[1].max_rel_error)
    assert results[2].max_rel_error == numpy.inf


def test_verification_falls_back_to_the_sample_when_time_runs_out(monkeypatch):
    import time

    from agent.deadline import Deadline
    from agent.domains.numerics import points, verification
    from agent.domains.numerics.request import Request
    from agent.domains.numerics.verification import Verifier

    monkeypatch.setattr(verification, "MIN_EXHAUSTIVE_SECONDS", 0.5)  # 10^9 floats take longer
    monkeypatch.setitem(points.PLANS, "float32", points.VerificationPlan(1 << 12, 1 << 12, 1 << 12))
    domain = NumericsDomain("exp2", 0.0, 1.0, "float32", fit_points=64, score_points=128)
    request = Request("exp2", 0.0, 1.0, "float32", time_budget=10.0)
    verifier = Verifier(domain, request, Deadline.after(0.0, now=time.time()), exhaustive=True)
    (errors,) = verifier.measure([horner([1.0, 0.7, 0.25])])
    assert verifier.kind.startswith("sampled") and errors.points == verifier.points < count_in(
        0.0, 1.0, FLOAT32
    )
    assert numpy.isfinite(errors.max_ulp)


def test_the_sampled_set_is_thinned_to_the_time_its_truth_and_programs_need():
    from agent.domains.numerics.verification import MIN_SAMPLED_POINTS, _interpolated, _sampled_stride

    # 7M inputs, truth 50 ns and the programs 4 µs an input: 28 s of work, 7.5 s allowed
    assert _sampled_stride(7_000_000, 5e-8, 4e-6, 7.5) == 4
    assert _sampled_stride(7_000_000, 5e-8, 1e-7, 7.5) == 1  # ~1 s of work: every input
    assert _sampled_stride(7_000_000, 5e-5, 0.0, 0.0) == 7_000_000 // MIN_SAMPLED_POINTS  # the floor
    # programs of 1, 5 and 9 ops; 1 op timed at 1 s, 9 ops at 3 s: 1 + 2 + 3
    assert _interpolated([1, 5, 9], 1, 1.0, 9, 3.0) == pytest.approx(6.0)
    assert _interpolated([4, 4], 4, 2.0, 4, 2.0) == 4.0


def test_a_sampled_verification_with_time_to_spare_keeps_every_input():
    """Drawing the 7M inputs (~1.5 s) was timed with the truth and scaled by 3,500: with a minute
    left the set was still thinned ~1,000x, and the verification ended 10 s before its time."""
    from agent.deadline import Deadline
    from agent.domains.numerics.request import Request
    from agent.domains.numerics.verification import Verifier

    domain = NumericsDomain("exp", -1.0, 1.0, "float32", fit_points=64, score_points=128)
    request = Request("exp", -1.0, 1.0, "float32", time_budget=60.0)
    verifier = Verifier(
        domain, request, Deadline.after(60.0), exhaustive=False, programs=[horner([1.0, 1.0])]
    )
    assert verifier.kind == "sampled" and not verifier.notes
    assert verifier.points == len(verification_points(-1.0, 1.0, FORMATS["float32"]))


def test_the_exhaustive_pass_is_planned_from_a_timed_estimate():
    from agent.domains.numerics.discovery import _plan
    from agent.domains.numerics.exhaustive import estimate_seconds
    from agent.domains.numerics.request import Request

    whole, small = estimate_seconds("exp2", 0.0, 1.0, 2), estimate_seconds("exp2", 1.0, 2.0, 2)
    assert whole > 3 * small > 0  # 1.07e9 floats against 8.4e6: the pass, not the compile, dominates
    request = Request("exp2", 1.0, 2.0, "float32", time_budget=600)
    reserve, exhaustive = _plan(request, float("inf"))
    assert exhaustive and reserve > 0
    assert _plan(request, 2.0) == (8.0, False)  # no time: the sampled set, with its floor of 8 s


def test_a_narrowed_pass_equals_the_pass_over_that_interval(tmp_path):
    """The estimate times slices of one binary (argv narrows its range): a slice must be that interval."""
    import json
    import subprocess

    from agent.domains.numerics.exhaustive import FLAGS, _ordinal, source

    program = horner([1.0, 0.69, 0.24])
    path, binary = tmp_path / "verify.c", tmp_path / "verify"
    path.write_text(source([program], "exp2", 0.0, 1.0))
    subprocess.run(["cc", *FLAGS, "-o", str(binary), str(path), "-lmvec", "-lm"], check=True)
    lo, hi = 0.25, 0.2578125
    run = subprocess.run([str(binary), str(_ordinal(lo)), str(_ordinal(hi))], capture_output=True, text=True)
    (narrowed,) = json.loads(run.stdout)
    (whole,), _ = verify_all([program], "exp2", lo, hi)
    assert int(run.stderr) == whole.points == count_in(lo, hi, FLOAT32)
    assert narrowed["max_ulp"] == pytest.approx(whole.max_ulp, rel=1e-7)


def test_more_programs_than_a_pass_holds_are_verified_in_several_passes():
    from agent.deadline import Deadline
    from agent.domains.numerics.request import Request
    from agent.domains.numerics.verification import PLANNED_PROGRAMS, Verifier

    lo, hi = 1.0, 1.0078125
    request = Request("exp2", lo, hi, "float32", time_budget=None, generations=1)
    domain = NumericsDomain("exp2", lo, hi, "float32", fit_points=64, score_points=128, polish_evaluations=0)
    programs = [horner([1.0, 0.69 + k / 1000, 0.24]) for k in range(PLANNED_PROGRAMS + 3)]
    verifier = Verifier(domain, request, Deadline(), exhaustive=True)
    errors = verifier.measure(programs)
    assert verifier.kind == "exhaustive" and not verifier.notes
    single, _ = verify_all(programs, "exp2", lo, hi)
    assert [e.max_ulp for e in errors] == pytest.approx([s.max_ulp for s in single], rel=1e-9)


def test_programs_above_1_ulp_are_verified_on_every_float_when_the_time_allows():
    """log2 on [1, 2]: the table printed 4.207 ULP from the 4156-input search grid where every float
    gives 4.763; the run ended 7 s early. Programs above 1 ULP now get exhaustive passes while the time
    left beyond what the speed loops keep allows one; none when it does not."""
    from agent.deadline import Deadline
    from agent.domains.numerics.request import Request
    from agent.domains.numerics.verification import Verifier

    lo, hi = 1.0, 1.0078125
    request = Request("exp2", lo, hi, "float32", time_budget=None, generations=1)
    domain = NumericsDomain("exp2", lo, hi, "float32", fit_points=64, score_points=128, polish_evaluations=0)
    coarse = horner([0.614, 1.386])  # a line: hundreds of ULP, far above the < 1 ULP claims
    grid = Reference(domain.score.x, domain.score.truth, FLOAT32).measure(coarse.run(domain.score.x, FLOAT32))
    verifier = Verifier(domain, request, Deadline(), exhaustive=True)
    (every,) = verifier.measure_if_time([coarse], keep=0.0)
    (single,), _ = verify_all([coarse], "exp2", lo, hi)
    assert every is not None and every.points == count_in(lo, hi, FLOAT32)
    assert every.max_ulp == pytest.approx(single.max_ulp, rel=1e-9) and every.max_ulp >= grid.max_ulp > 1
    short = Verifier(domain, request, Deadline.after(3.0), exhaustive=True)
    assert short.measure_if_time([coarse], keep=0.0) == [None]  # under MIN_EXHAUSTIVE_SECONDS left


def test_the_rivals_verified_with_them_are_the_baselines_their_labels_compare_against():
    from agent.domains.numerics.discovery import _rivals

    costs, errors = [1.0, 2.0, 3.0, 4.0], [50.0, 9.0, 9.5, 2.0]
    assert _rivals([2.0, 3.1, 3.0], costs, errors, verified=[]) == [1]
    assert _rivals([4.1, 1.0], costs, errors, verified=[3]) == [0]


def test_each_front_point_is_verified_with_its_rival_before_the_next():
    """A pass the time cuts left front points verified on every float against rivals measured on the
    grid alone (sinh float32: `novel?` against minimax-1): rivals of the verified front come first,
    then each further front point with its own."""
    from agent.domains.numerics.discovery import _pairs_first

    costs, errors = [1.0, 2.0, 3.0, 4.0], [50.0, 9.0, 9.5, 2.0]  # baselines; 0 and 3 are verified already
    front_costs = [1.0, 2.5, 4.0, 2.0]
    order = _pairs_first([1], [0, 2, 3], front_costs, costs, errors, verified=[])
    assert order == [(False, 1), (True, 0), (False, 0), (True, 2), (False, 3), (True, 3)]
    assert _pairs_first([1], [2], front_costs, costs, errors, verified=[1, 3]) == [(True, 2)]
