import json
import subprocess
import sys

import numpy
import pytest

from agent.domains.numerics.codegen import C_FLAGS, c_source, numpy_source
from agent.domains.numerics.measure import Reference
from agent.domains.numerics.points import verification_points
from agent.domains.numerics.program import Node, Program
from agent.domains.numerics.targets import FORMATS, TARGETS
from tests.numerics.compiler import needs_cc

# every op once: ((x·c1 + c2) / (x + c3)) − sqrt(x)·c4 + x
PROGRAM = Program(
    (
        Node("x"),
        Node("const", (), 0.7071067811865476),
        Node("const", (), 1.4142135623730951),
        Node("fma", (0, 1, 2)),
        Node("const", (), 2.718281828459045),
        Node("add", (0, 4)),
        Node("div", (3, 5)),
        Node("sqrt", (0,)),
        Node("const", (), 0.3183098861837907),
        Node("mul", (7, 8)),
        Node("sub", (6, 9)),
        Node("add", (10, 0)),
    )
)


def _python_max_ulp(program, fn, lo, hi, name):
    fmt = FORMATS[name]
    points = verification_points(lo, hi, fmt)
    reference = Reference(points, TARGETS[fn].truth(points, fmt), fmt)
    return reference.measure(program.run_chunked(points, fmt)), len(points)


@needs_cc
@pytest.mark.parametrize(
    ("fn", "lo", "hi", "name"),  # exhaustive and sampled plans; asin is NumPy's arcsin and C's asinl
    [
        ("exp2", 1.0, 1.125, "float32"),
        ("exp", 0.5, 1.0, "float64"),
        ("asin", 0.25, 0.5, "float64"),
        ("exp", 0.0, 1.0, "float64"),  # from 0: the edges (the smallest subnormals) in both
    ],
)
def test_c_harness_remeasures_the_same_max_ulp(tmp_path, fn, lo, hi, name):
    program = PROGRAM.rounded(FORMATS[name].dtype)
    source = tmp_path / "approx.c"
    source.write_text(c_source(program, fn, lo, hi, name, header="test program"))
    binary = tmp_path / "approx"
    subprocess.run(["cc", *C_FLAGS, "-o", str(binary), str(source), "-lm"], check=True)
    measured = json.loads(subprocess.run([str(binary)], check=True, capture_output=True, text=True).stdout)
    ours, _ = _python_max_ulp(program, fn, lo, hi, name)
    assert ours.max_ulp > 1  # a real error, not a trivial zero
    assert measured["max_ulp"] == pytest.approx(ours.max_ulp, rel=1e-8)
    assert measured["max_rel_error"] == pytest.approx(ours.max_rel_error, rel=1e-8)
    assert measured["worst_x"] == ours.worst_x


@pytest.mark.parametrize("name", ["float32", "float64"])  # float64's fma needs Dekker's split constant too
def test_numpy_code_is_standalone_and_computes_the_same_values(tmp_path, name):
    dtype = FORMATS[name].dtype
    program = PROGRAM.rounded(dtype)
    module = tmp_path / "approx_mod.py"
    module.write_text(numpy_source(program, "exp2", 1.0, 1.125, name, header="test"))
    namespace: dict = {}
    exec(compile(module.read_text(), str(module), "exec"), namespace)
    x = numpy.linspace(1.0, 1.125, 4097).astype(dtype)
    assert numpy.array_equal(namespace["approx_exp2"](x), program.evaluate(x, dtype))
    run = subprocess.run([sys.executable, str(module)], check=True, capture_output=True, text=True)
    assert "max_ulp" in run.stdout


@needs_cc
def test_c_harness_measures_around_a_zero_inside_the_interval(tmp_path):
    """The C file written for a front point re-measures what Python verified, next to log's zero too."""
    from tests.numerics.test_edge_points import _log_through_sqrt

    program = _log_through_sqrt()
    source = tmp_path / "approx.c"
    source.write_text(c_source(program, "log", 0.5, 2.0, "float64", header="test", zeros=[1.0]))
    binary = tmp_path / "approx"
    subprocess.run(["cc", *C_FLAGS, "-o", str(binary), str(source), "-lm"], check=True)
    measured = json.loads(subprocess.run([str(binary)], check=True, capture_output=True, text=True).stdout)
    assert measured["max_rel_error"] == 1.0 and abs(measured["worst_x"] - 1.0) < 1e-15


@needs_cc
def test_c_harness_ends_on_a_float64_interval_across_0_with_wide_ends(tmp_path):
    """[-4, 4] spans more float64 ordinals than int64 holds: the harness's span overflowed and its
    'every float' loop never ended."""
    from agent.domains.numerics.program import horner

    program = horner([0.0, 1.0, 0.0, -1.0 / 6, 0.0, 1.0 / 120])  # sin's Taylor polynomial
    source = tmp_path / "approx.c"
    source.write_text(
        c_source(program, "sin", -4.0, 4.0, "float64", header="test", zeros=[-numpy.pi, 0.0, numpy.pi])
    )
    binary = tmp_path / "approx"
    subprocess.run(["cc", *C_FLAGS, "-o", str(binary), str(source), "-lm"], check=True)
    done = subprocess.run([str(binary)], check=True, capture_output=True, text=True, timeout=60)
    measured = json.loads(done.stdout)
    fmt = FORMATS["float64"]
    points = verification_points(-4.0, 4.0, fmt, [-numpy.pi, 0.0, numpy.pi])
    ours = Reference(points, TARGETS["sin"].truth(points, fmt), fmt).measure(program.run_chunked(points, fmt))
    assert measured["max_ulp"] == pytest.approx(ours.max_ulp, rel=1e-8)
    assert measured["max_rel_error"] == pytest.approx(ours.max_rel_error, rel=1e-8)
