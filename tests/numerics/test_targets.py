"""Every target: its truth against mpmath, its libm names, where it is defined, its baselines."""

import subprocess

import mpmath
import numpy
import pytest

from agent.cli.evolve import FUNCTIONS
from agent.domains.numerics.skeletons import Shape, families
from agent.domains.numerics.targets import FORMATS, TARGETS
from tests.numerics.compiler import needs_cc

# a point inside the domain of every target (asin's is [-1, 1], log's x > 0)
POINTS = numpy.array([0.0625, 0.3, 0.7, 0.99])


def test_the_help_names_every_target():
    assert FUNCTIONS.split(", ") == list(TARGETS)


@pytest.mark.parametrize("fn", list(TARGETS))
def test_truth_agrees_with_mpmath_far_below_a_float64_ulp(fn):
    target = TARGETS[fn]
    truth = target.truth(POINTS, FORMATS["float64"])
    with mpmath.workdps(40):
        for x, value in zip(POINTS, truth, strict=True):
            reference = target.mp(mpmath.mpf(float(x)))
            relative = abs(mpmath.mpf(str(value)) - reference) / abs(reference)
            assert relative < 2.0**-60, (fn, float(x), float(relative))


@needs_cc
def test_every_libm_name_the_generated_c_calls_exists(tmp_path):
    # long double truth (codegen's harness), float and 8-wide float (speed), 4-wide double (exhaustive)
    calls = []
    for target in TARGETS.values():
        calls += [f"(double){target.c_truth}(0.5L)", f"{target.c_float}(0.5f)", f"{target.name}(0.5)"]
    vectors = "".join(
        f"    _ZGVdN8v_{t.c_float}(_mm256_set1_ps(0.5f)); _ZGVdN4v_{t.name}(_mm256_set1_pd(0.5));\n"
        for t in TARGETS.values()
    )
    declarations = "".join(
        f"__m256 _ZGVdN8v_{t.c_float}(__m256); __m256d _ZGVdN4v_{t.name}(__m256d);\n"
        for t in TARGETS.values()
    )
    source = tmp_path / "names.c"
    source.write_text(
        "#include <math.h>\n#include <stdio.h>\n#include <immintrin.h>\n"
        + declarations
        + "int main(void) {\n    double s = "
        + " + ".join(calls)
        + ";\n#ifdef __AVX2__\n"
        + vectors
        + '#endif\n    printf("%.17g\\n", s);\n    return 0;\n}\n'
    )
    binary = tmp_path / "names"
    subprocess.run(
        ["cc", "-O0", "-march=native", "-o", str(binary), str(source), "-lmvec", "-lm"],
        check=True,
        capture_output=True,
    )
    total = float(subprocess.run([str(binary)], check=True, capture_output=True, text=True).stdout)
    expected = sum(3 * float(TARGETS[fn].truth(numpy.array([0.5]), FORMATS["float64"])[0]) for fn in TARGETS)
    assert total == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    ("fn", "lo", "hi", "defined"),
    [
        ("log", 0.5, 2.0, True),
        ("log", -1.0, 1.0, False),
        ("log1p", -0.5, 1.0, True),
        ("log1p", -1.0, 1.0, False),
        ("asin", -1.0, 1.0, True),
        ("asin", 0.0, 1.5, False),
        ("tan", 0.0, 1.5, True),
        ("tan", 2.0, 4.0, True),  # the next branch, between the poles at π/2 and 3π/2
        ("tan", 1.0, 2.0, False),
        ("tan", 0.0, 1.5707963705062866, False),  # float32(π/2) lies just past the pole
        ("exp", -700.0, 700.0, True),
    ],
)
def test_where_a_target_is_defined(fn, lo, hi, defined):
    assert TARGETS[fn].defined_on(lo, hi) is defined


def test_even_functions_get_even_polynomials_and_rationals():
    named = dict(families(Shape(even=True), 0.0, 1.5, 8))
    x = numpy.linspace(-1.5, 1.5, 13)
    even = named["even-poly-6"].with_constants(numpy.array([0.5, -0.25, 2.0, 1.0]))
    assert even.cost() == 4  # x², then three fmas
    assert numpy.allclose(even.evaluate(x, numpy.float64), 1 + 2 * x**2 - 0.25 * x**4 + 0.5 * x**6)
    rational = named["even-rational-2/4"]
    assert rational.cost() == 5  # x², one fma over, two under, the division
    assert numpy.allclose(rational.evaluate(x, numpy.float64), rational.evaluate(-x, numpy.float64))
    assert not any(name.startswith("even") for name in dict(families(Shape(), 0.0, 1.5, 8)))
