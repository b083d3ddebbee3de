"""A Ctrl-C during a Z3 check is strop's: it is raised, never answered as `unknown`.

Z3's own SIGINT handler turned a Ctrl-C that landed in a check into an `unknown` result,
so `strop evolve quant` (a Z3 check per candidate) ran on to "done", exit 0.
"""

from __future__ import annotations

import subprocess
import sys

CHECKS_UNDER_A_CTRL_C = """
import os, signal, threading, time
from agent.smt import z3

threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
started = time.monotonic()
answers = set()
try:
    while time.monotonic() - started < 5:
        solver = z3.Solver()
        x, y, z = z3.Ints("x y z")
        solver.add(x * x * x + y * y * y == z * z * z, x > 1, y > 1, z > 1, x < 2000, y < 2000)
        solver.set("timeout", 300)
        answers.add(str(solver.check()))
except KeyboardInterrupt:
    print(f"interrupted after {time.monotonic() - started:.1f}s")
else:
    print(f"not interrupted: {sorted(answers)}")
"""


def test_a_ctrl_c_during_z3_checks_raises() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECKS_UNDER_A_CTRL_C], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.startswith("interrupted after"), done.stdout + done.stderr
    assert float(done.stdout.split()[2].rstrip("s")) < 2.0
