"""float32 programs computed in float64 inside: one rounding at the end, as glibc's float functions do.

Each layer that runs a program (Python, the generated C and NumPy code, the exhaustive pass, the
speed loops) must compute the same values, or a "< 1 ULP" claim made in one would not hold in another.
"""

import json
import subprocess
import sys

import numpy
import pytest

from agent.domains.numerics.codegen import C_FLAGS, c_source, numpy_source
from agent.domains.numerics.domain import NumericsDomain
from agent.domains.numerics.exhaustive import verify_all
from agent.domains.numerics.measure import Reference
from agent.domains.numerics.points import verification_points
from agent.domains.numerics.program import horner
from agent.domains.numerics.request import NumericsInputError, Request
from agent.domains.numerics.speed import measure_speed
from agent.domains.numerics.targets import FORMATS
from tests.numerics.compiler import needs_cc

FLOAT32 = FORMATS["float32"]
INSIDE = FLOAT32.computed_in("float64")


def _exp2_degree(degree: int, fmt) -> object:
    domain = NumericsDomain("exp2", 0.0, 1.0, "float32", fit_points=200, score_points=512, polish_evaluations=0,
                            arithmetic=fmt.inside)  # fmt: skip
    return domain.fitted(horner([0.0] * (degree + 1)))


def test_the_format_says_what_it_computes_in():
    assert INSIDE.dtype is numpy.float32 and INSIDE.arithmetic.dtype is numpy.float64
    assert INSIDE.label == "float32 (float64 inside)" and FLOAT32.arithmetic is FLOAT32
    assert FLOAT32.computed_in("float32") == FLOAT32 and FLOAT32.computed_in(None) == FLOAT32
    with pytest.raises(ValueError, match="float64 programs compute in float64"):
        FORMATS["float64"].computed_in("float32")
    with pytest.raises(NumericsInputError, match="--arithmetic"):
        Request("exp", -1.0, 1.0, "float32", arithmetic="float16").validate()


def test_one_rounding_at_the_end_beats_rounding_every_step():
    """The same degree-7 exp2 polynomial: its float32 evaluation pays ~0.5 ULP per late step."""
    program = _exp2_degree(7, INSIDE)
    x = verification_points(0.0, 1.0, FLOAT32)[::7]
    reference = Reference(x, numpy.exp2(x.astype(numpy.longdouble)), FLOAT32)
    inside = reference.measure(program.run(x, INSIDE))
    every_step = reference.measure(program.run(x, FLOAT32))
    assert inside.max_ulp < 0.51  # the approximation error is ~1e-3 ULP: the final rounding is all
    assert every_step.max_ulp > inside.max_ulp + 0.2
    direct = program.evaluate(x, numpy.float64).astype(numpy.float32)
    assert numpy.array_equal(program.run(x, INSIDE), direct)


@needs_cc
def test_c_and_numpy_code_compute_in_double(tmp_path):
    program = _exp2_degree(5, INSIDE)
    text = c_source(program, "exp2", 0.0, 1.0, "float32", header="test", inside="float64")
    assert "static float approx_exp2(float input)" in text and "const double x = input;" in text
    assert "fmaf(" not in text and "fma(" in text
    (tmp_path / "approx.c").write_text(text)
    subprocess.run(
        ["cc", *C_FLAGS, "-o", str(tmp_path / "approx"), str(tmp_path / "approx.c"), "-lm"], check=True
    )
    measured = json.loads(
        subprocess.run([str(tmp_path / "approx")], check=True, capture_output=True, text=True).stdout
    )
    points = verification_points(0.0, 1.0, FLOAT32)
    ours = Reference(points, numpy.exp2(points.astype(numpy.longdouble)), FLOAT32).measure(
        program.run_chunked(points, INSIDE)
    )
    assert measured["max_ulp"] == pytest.approx(ours.max_ulp, rel=1e-8)
    module = tmp_path / "approx_mod.py"
    module.write_text(numpy_source(program, "exp2", 0.0, 1.0, "float32", "test", "float64"))
    namespace: dict = {}
    exec(compile(module.read_text(), str(module), "exec"), namespace)
    x = numpy.linspace(0.0, 1.0, 4097).astype(numpy.float32)
    values = namespace["approx_exp2"](x)
    assert values.dtype == numpy.float32 and numpy.array_equal(values, program.run(x, INSIDE))
    assert (
        "max_ulp"
        in subprocess.run([sys.executable, str(module)], check=True, capture_output=True, text=True).stdout
    )


@needs_cc
def test_exhaustive_pass_in_double_equals_python_on_every_float():
    lo, hi = 0.25, 0.2578125
    program = _exp2_degree(4, INSIDE)
    points = verification_points(lo, hi, FLOAT32)
    ours = Reference(points, numpy.exp2(points.astype(numpy.longdouble)), FLOAT32).measure(
        program.run_chunked(points, INSIDE)
    )
    (inside,), _ = verify_all([program], "exp2", lo, hi, fmt=INSIDE)
    (single,), _ = verify_all([program.rounded(numpy.float32)], "exp2", lo, hi)
    assert inside.points == ours.points == len(points)
    assert inside.max_ulp == pytest.approx(ours.max_ulp, rel=1e-6)
    assert single.max_ulp != pytest.approx(inside.max_ulp, rel=1e-3)  # the C really computed in double


@needs_cc
def test_speed_loops_compile_and_time_double_inside():
    program = _exp2_degree(6, INSIDE)
    timings = measure_speed([("inside", program)], "exp2", 0.0, 1.0, repeats=1, count=1 << 16, fmt=INSIDE)
    assert timings[0].name == "inside" and timings[0].ns > 0
