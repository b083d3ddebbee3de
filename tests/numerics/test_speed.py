import shutil

import pytest

from agent.domains.numerics.program import horner
from agent.domains.numerics.speed import measure_speed

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="needs the system C compiler")


def test_loops_glibc_and_numpy_are_timed_on_the_same_inputs():
    programs = [("p3", horner([1.0, 0.69, 0.24, 0.055])), ("p1", horner([1.0, 1.0]))]
    timings = measure_speed(programs, "exp2", 0.0, 1.0, repeats=2, count=1 << 14)
    assert [t.name for t in timings] == ["p3", "p1", "glibc exp2f", "numpy.exp2"]
    assert all(t.ns > 0 and t.spread >= 1 for t in timings)
