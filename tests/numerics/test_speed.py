from agent.domains.numerics.program import horner
from agent.domains.numerics.speed import has_avx2, measure_speed, source
from tests.numerics.compiler import needs_cc

pytestmark = needs_cc


def test_loops_glibc_and_numpy_are_timed_on_the_same_inputs():
    programs = [("p3", horner([1.0, 0.69, 0.24, 0.055])), ("p1", horner([1.0, 1.0]))]
    timings = measure_speed(programs, "exp2", 0.0, 1.0, repeats=2, count=1 << 14)
    vector = ["glibc libmvec _ZGVdN8v_exp2f"] if has_avx2() else []
    assert [t.name for t in timings] == ["p3", "p1", "glibc exp2f", *vector, "numpy.exp2"]
    assert all(t.ns > 0 and t.spread >= 1 for t in timings)


def test_a_target_whose_numpy_name_differs_is_timed_under_both_names():
    timings = measure_speed([("p1", horner([0.0, 1.0]))], "atan", 0.0, 1.0, repeats=1, count=1 << 12)
    vector = ["glibc libmvec _ZGVdN8v_atanf"] if has_avx2() else []
    assert [t.name for t in timings] == ["p1", "glibc atanf", *vector, "numpy.arctan"]


def test_programs_run_several_passes_per_clock_read_and_glibc_scalar_one():
    text = source([("p", horner([1.0, 1.0]))], "exp", 0.0, 1.0, count=1 << 12)
    assert "k == SCALAR ? 1 : 8" in text and "#define SCALAR 1" in text
    assert "_ZGVdN8v_expf(_mm256_loadu_ps(x + i))" in text  # glibc's vector library, 8 per call


def test_more_work_per_value_takes_longer():
    # 24 dependent fmas per value against 1: the harness must resolve the difference (at least 2×)
    heavy, light = horner([1.0 / (k + 1) for k in range(25)]), horner([1.0, 0.5])
    timings = measure_speed([("heavy", heavy), ("light", light)], "exp", 0.0, 1.0, repeats=3, count=1 << 16)
    assert timings[0].ns > 2 * timings[1].ns
