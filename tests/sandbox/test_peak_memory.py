"""A command's reported peak memory is its own, not strop's.

A forked child's peak RSS starts from its parent's (the kernel copies the high-water mark at
fork and keeps it across exec): in CI, a pytest worker of 0.8–1.3 GB reported candidates held
under 256 MiB by a cgroup as 0.8–1.3 GB. Each backend that reads the launcher's `ru_maxrss`
runs here from a process holding 600 MiB, on a command of 40 MiB.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.memory import credible_peak
from tests.sandbox.support import require_backend

DRIVER = """
import json, sys, tempfile
from pathlib import Path
from sandbox.bubblewrap import BwrapSandbox
from sandbox.local import LocalSandbox
from sandbox.execution import Limits

ballast = bytearray(600 << 20)
for i in range(0, len(ballast), 4096):
    ballast[i] = 1
kind = sys.argv[1]
box = {"bwrap-cgroup": BwrapSandbox, "bwrap-watch": lambda: BwrapSandbox(memory_cgroups=False),
       "local": LocalSandbox}[kind]()
with tempfile.TemporaryDirectory() as folder:
    command = ["python", "-c", "import time; x = bytearray(40 << 20); x[::4096] = b'1' * len(x[::4096]); time.sleep(1)"]
    result = box.run(command, Path(folder), Limits(timeout=30, memory=512 << 20, pids=32))
print(json.dumps({"exit": result.exit_code, "peak": result.peak_memory, "notes": result.notes}))
"""


@pytest.mark.parametrize("kind", ["bwrap-cgroup", "bwrap-watch", "local"])
def test_a_large_strop_does_not_lend_its_peak_to_the_command(kind: str, tmp_path: Path) -> None:
    require_backend(kind.split("-")[0])
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, kind],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["exit"] == 0
    assert result["peak"] is not None
    assert 40 << 20 <= result["peak"] < 300 << 20, result  # 40 MiB and an interpreter, not 600 MiB


def test_credible_peak_reads_a_launcher_peak_above_strops_own_as_the_commands() -> None:
    assert credible_peak(None, 0, 100) is None
    assert credible_peak(90, 50, 100) == 50  # inherited: the watch's sum
    assert credible_peak(300, 50, 100) == 300  # larger than strop ever was: the command's own
    assert credible_peak(300, 400, 100) == 400
