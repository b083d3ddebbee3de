"""A night's progress while its jobs run, and a SIGTERM or SIGHUP said as a Ctrl-C is.

Before, `strop nightly run` said `starting`, then nothing until the job ended (its stderr was
kept for a failure line only), `--json` included; its closing lines gave no time against the
job's budget; and a SIGTERM or SIGHUP killed it silently (exit 143), where a Ctrl-C said what
was kept. Real CLI, real jobs (a run job on the local sandbox, an evolve search); the lines
are read as they come, so each assertion says what was on stderr while the job still ran.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.nightly import runner
from agent.nightly.history import History
from agent.nightly.progress import BURST, JobProgress
from tests.nightly.test_nights import _a_night_under_way, finish, make_jobs, nightly


@dataclass(frozen=True)
class Heard:
    """A line of the nightly's stderr, and whether the nightly still ran when it was read."""

    text: str
    running: bool


def heard_while_running(process: subprocess.Popen[str]) -> tuple[list[Heard], str]:
    """Every stderr line of `process` as it came (with whether it still ran), and its stdout."""
    heard: list[Heard] = []
    stdout: list[str] = []
    reader = threading.Thread(target=lambda: stdout.append(process.stdout.read()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    for line in process.stderr or []:
        heard.append(Heard(line.rstrip("\n"), process.poll() is None))
    process.wait(timeout=240)
    reader.join(timeout=30)
    return heard, "".join(stdout)


def before(heard: list[Heard], closing: str) -> list[Heard]:
    """The lines said before the first that starts with `closing` (all of them when none does)."""
    end = next((i for i, line in enumerate(heard) if line.text.startswith(closing)), len(heard))
    return heard[:end]


def test_a_run_jobs_progress_reaches_stderr_while_it_runs_with_json(
    tmp_path: Path, isolated_home: Path
) -> None:
    """Its own stderr lines, named, at once; a heartbeat after 10 s of silence with its time and
    best so far; a closing line with its time against its budget; stdout stays one JSON document."""
    jobs = make_jobs(tmp_path, experiments=6, sleep=3.0)  # ~20 s on an idle machine, longer loaded
    process = nightly("run", "--jobs", str(jobs), "--now", "2026-12-01T02:10", "--json")
    heard, out = heard_while_running(process)
    assert process.returncode == 0, [line.text for line in heard]
    said = [line.text for line in heard]
    under_way = before(heard, "nightly: live: done")
    assert len(under_way) < len(heard), said  # the closing line came
    # the job's own warning (one-stage evaluator), passed on while it ran: before, only a failure showed it
    assert any(
        line.running
        and line.text.startswith("nightly: live: warning: this task's evaluator runs in one stage")
        for line in under_way
    ), said
    beats = [line for line in under_way if line.text.startswith("nightly: live: running ")]
    assert beats and all(line.running for line in beats), said
    pattern = r"nightly: live: running \S+ of 9m\d\ds · run \w{6} · \d+ experiments( · best score = \S+)?"
    assert all(re.fullmatch(pattern, line.text) for line in beats), said
    assert "best score = " in beats[-1].text, said  # the last beat comes after experiments scored
    closing = next(text for text in said if text.startswith("nightly: live: done"))
    assert re.fullmatch(r"nightly: live: done in \S+ of 9m\d\ds, best score = \S+", closing), closing
    (night,) = json.loads(out)  # stdout: the JSON alone
    assert night["status"] == "done" and 0 < night["seconds"] <= night["given"] <= 600, night
    recorded = History(isolated_home).last("live")
    assert recorded is not None and (recorded.seconds, recorded.given) == (night["seconds"], night["given"])


EVOLVE_JOB = """
[jobs.exp]
kind = "numerics"
args = ["--fn", "exp", "--interval", "0.5,1", "--dtype", "float64", "--population", "6", "--islands", "1",
        "--max-cost", "2", "--workers", "1", "--cost-model", "ops"]
schedule = "0 3 * * *"
budget = { time = "25s" }
"""


def test_an_evolve_jobs_phases_are_passed_on_as_it_searches(tmp_path: Path, isolated_home: Path) -> None:
    """The search's own progress lines, named, while it runs; the closing lines say its time of its 25 s."""
    (tmp_path / "jobs.toml").write_text(EVOLVE_JOB)
    process = nightly("run", "--jobs", str(tmp_path / "jobs.toml"), "--now", "2026-12-01T03:10")
    heard, out = heard_while_running(process)
    said = [line.text for line in heard]
    assert process.returncode == 0, said
    under_way = before(heard, "nightly: exp: done")
    assert any(line.running and line.text.startswith("nightly: exp: phase: search") for line in under_way), (
        said
    )
    assert re.search(r"^nightly: exp: done in \S+ of 25\.0s, best ", "\n".join(said), re.M), said
    assert re.search(r"^exp: done · \S+ of 25\.0s · run \w{6} · best ", out, re.M), out


# a job that floods its stderr, then fails with its own error line
FLOOD = """
import sys, time
for i in range(500):
    print(f"line {i}", file=sys.stderr, flush=True)
time.sleep(2.5)
print("error: the flood is over", file=sys.stderr, flush=True)
sys.exit(3)
"""


def test_a_flooding_job_is_passed_on_at_a_modest_rate_and_still_says_why_it_failed(tmp_path: Path) -> None:
    said: list[str] = []
    progress = JobProgress("flood", 60.0, said.append)
    started = time.monotonic()
    with pytest.raises(runner._Failed) as failed:
        runner._watch(
            [sys.executable, "-c", FLOOD],
            runner._Window(stop_at=time.time() + 60),
            lambda _: None,
            tmp_path,
            progress,
        )
    took = time.monotonic() - started
    assert failed.value.reason == "the flood is over"  # the failure line, from every line kept
    assert len(progress.lines) == 501
    assert said[:BURST] == [f"flood: line {i}" for i in range(BURST)], said  # the first at once
    assert said[-1] == "flood: error: the flood is over", said  # the last is never lost
    assert len(said) <= BURST + took + 2, (took, said)  # then one a second at most
    assert any(text.startswith("flood: line 499") for text in said), said  # the latest held goes out


@pytest.mark.parametrize(
    ("signum", "reached"), [(signal.SIGTERM, "group"), (signal.SIGHUP, "nightly")], ids=["term", "hup"]
)
def test_a_sigterm_or_sighup_says_what_was_kept_and_ends_by_the_signal(
    tmp_path: Path, isolated_home: Path, signum: int, reached: str
) -> None:
    """As a Ctrl-C: the jobs stopped, their night kept to resume, one line; then the signal's own
    exit (143 or 129 in a shell), where before the nightly died at once and said nothing."""
    jobs, _now, first = _a_night_under_way(tmp_path, isolated_home)
    try:
        if reached == "group":  # systemd, a CI timeout, `kill -TERM -PGID`: the job gets it too
            os.killpg(first.pid, signum)
        else:
            os.kill(first.pid, signum)
        code, out, err = finish(first, timeout=60)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    assert code == -signum, (code, err)
    stopped = History(isolated_home).last("live")
    assert stopped is not None and stopped.run and stopped.status == "running", stopped  # resumable
    line = f"interrupted: live keeps run {stopped.run}, {stopped.experiments} experiments; "
    assert line in err and f"`strop nightly run --jobs {jobs}` resumes it" in err, err
    assert "Traceback" not in err, err
