"""SIGKILL while the hidden test is being scored, then `strop resume`: both readings are listed.

The README: "Every reading of the hidden test is listed … so you see how often the hidden
answers were read". A final phase killed while its scorer had the final private data wrote no
log, so after the resume read them again `strop audit` listed one reading. The reading is now on
disk (its log, as "started", fsync'd) before the answers are copied out for the scorer.

Before the resume, the audit of the killed run called its status "running" where `strop runs`
and `strop log` say "interrupted": it now uses that word, and says `strop resume RUN`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from agent.home import strop_home
from tests.redteam.conftest import _hostile_task

ROOT = Path(__file__).resolve().parents[2]
SLOW_FINAL_SCORER = """
import os, sys, time
if os.environ.get("STROP_PHASE") == "final":
    time.sleep(4)
"""


def _strop(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-W", "ignore", "-m", "agent.cli", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_a_hidden_test_reading_killed_mid_way_is_listed_as_started_never_finished(tmp_path: Path) -> None:
    hostile = _hostile_task("local", tmp_path)
    hostile.configure(experiments=2)
    scorer = hostile.root / "scorer" / "score.py"
    scorer.write_text(SLOW_FINAL_SCORER + scorer.read_text())
    home = strop_home()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "run", str(hostile.task), "-n", "2", "--quiet"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    exposed: list[Path] = []
    while not exposed and process.poll() is None and time.monotonic() < deadline:
        exposed = list(home.glob("runs/*/scratch/*/final-private/labels.json"))  # the answers, out
        time.sleep(0.02)
    assert exposed, process.communicate()[1].decode()[-2000:]
    run = exposed[0].parents[3].name
    time.sleep(0.5)  # well inside the final scorer (it sleeps 4 s)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()

    killed = _strop("audit", run)  # its words are checked last: first what the hidden test's readings are
    said = " ".join((killed.stdout + killed.stderr).split())

    resumed = _strop("resume", run)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    report = json.loads(_strop("audit", run, "--json").stdout)
    readings = report["hidden_tests"]
    assert len(readings) == 2, readings  # the hidden answers were read twice
    first, second = readings
    assert first["experiment"] == second["experiment"]
    assert first["finished"] is False and first["recorded"] is False, first
    assert second["finished"] is True and second["recorded"] is True and second["value"] is not None, second
    assert report["whole"], report["problems"]
    text = _strop("audit", run)
    lines = [line for line in text.stdout.splitlines() if line.startswith("hidden test: ")]
    assert len(lines) == 2 and "started, never finished: killed?" in lines[0], text.stdout
    assert not list(home.glob("runs/*/scratch/*")), "an evaluation folder was left behind"

    assert killed.returncode == 1, said
    assert "run status is 'interrupted'" in said and f"`strop resume {run}`" in said, said
    assert "run status is 'running'" not in said, said
