"""Issue 18: a nightly window is a limit: the night ends when the window does, start-up included.

The real CLI (`strop nightly run --window`) in a subprocess over a real task run (loop, git,
local sandbox) whose evaluations sleep, with more experiments than the window can hold:
only the deadline can end it. The wall time is measured around the whole command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from agent.nightly.history import History
from tests.ui.conftest import make_live_task

JOBS = """
[jobs.live]
task = "live"
schedule = "0 2 * * *"
budget = { experiments = 1000 }
"""


def test_a_night_ends_with_its_window_and_records_what_it_did(tmp_path: Path, isolated_home: Path) -> None:
    make_live_task(tmp_path / "live", experiments=1000, sleep=1.0)
    (tmp_path / "jobs.toml").write_text(JOBS)
    env = {**os.environ, "STROP_HOME": str(isolated_home)}
    command = [sys.executable, "-m", "agent.cli", "nightly", "run", "--jobs", str(tmp_path / "jobs.toml")]
    command += ["--job", "live"]  # now, whatever the clock: a fire hours ago is missed (`runner.late_limit`)
    started = time.monotonic()
    done = subprocess.run(
        [*command, "--window", "30s", "--json"], capture_output=True, text=True, env=env, timeout=180
    )
    wall = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert wall <= 30 + 2, f"--window 30s took {wall:.1f}s"
    (night,) = json.loads(done.stdout)
    assert night["status"] in ("done", "stopped") and night["run"]
    assert night["experiments"] >= 2  # it got somewhere before the window closed
    assert History(isolated_home).last("live").status == night["status"]
