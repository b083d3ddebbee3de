"""How a night's jobs end: with the nightly that started them, and with time to stop at the window's end.

Before, a nightly killed outright (SIGKILL: the OOM killer, a reboot's last sweep) left its
evolve jobs running unseen until their next line to the dead nightly's pipe crashed them (a
quiet phase, such as an exhaustive verification, for minutes; their run then `failed`), and a job still running at the window's
end had 1 s between SIGTERM and SIGKILL, less than a stopping job may wait for its
containers' removal. Now each job gets SIGTERM when the nightly dies, and `[nightly]
stop_grace` seconds (10 s by default) to end after the window's SIGTERM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.errors import UserError
from agent.nightly import runner
from agent.nightly.jobs import STOP_GRACE, load_jobs
from agent.nightly.runner import CLOSE_SECONDS, MIN_SECONDS, stop_grace
from agent.run_index import RunIndex

ROOT = Path(__file__).resolve().parents[2]

EVOLVE_JOB = """
[jobs.exp]
kind = "numerics"
args = ["--fn", "exp", "--interval", "0.5,1", "--dtype", "float64", "--population", "6", "--islands", "1",
        "--max-cost", "2", "--workers", "1", "--cost-model", "ops"]
schedule = "0 3 * * *"
budget = { time = "90s" }
"""


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _session(leader: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _running(int(entry.name)):
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[3]) == leader:
                    found.append(int(entry.name))
            except (OSError, IndexError):
                continue
    return found


def test_a_killed_nightly_takes_its_evolve_job_with_it(tmp_path: Path, isolated_home: Path) -> None:
    (tmp_path / "jobs.toml").write_text(EVOLVE_JOB)
    nightly = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "nightly", "run", "--jobs", str(tmp_path / "jobs.toml")]
        + ["--now", "2026-12-01T03:10"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (jobs := _children(nightly.pid)):
            assert nightly.poll() is None and time.monotonic() < deadline, "the job never started"
            time.sleep(0.05)
        (job,) = jobs
        while not (runs := RunIndex(isolated_home).runs()):  # the search has recorded its run
            assert _running(job) and time.monotonic() < deadline, "the job never started its search"
            time.sleep(0.1)
        nightly.kill()  # no code of the nightly runs: only the job's parent-death signal can stop it
        nightly.wait()
        ended = time.monotonic() + 10
        while _running(job) and time.monotonic() < ended:
            time.sleep(0.1)
        assert not _running(job), "the job ran on after its nightly was killed"
        ended = time.monotonic() + 5
        while (left := _session(nightly.pid)) and time.monotonic() < ended:
            time.sleep(0.1)
        assert left == [], f"the job's processes outlived it: {left}"
    finally:
        for pid in _session(nightly.pid):
            os.kill(pid, signal.SIGKILL)
    # stopped as at the window's end, not crashed on its first line to the dead nightly's pipe
    run = RunIndex(isolated_home).find_run(runs[0].id)
    assert (run.status, run.stop_reason) == ("stopped", "interrupted by SIGTERM"), run


# a job that takes `STOPPING` seconds to end after SIGTERM (stopping its containers, writing its
# run's state), then ends by the signal as strop does; it marks that it got to the end
SLOW_STOPPER = """
import os, signal, sys, time
def stop(signum, frame):
    time.sleep(float(sys.argv[2]))
    open(sys.argv[1], "w").write("stopped cleanly")
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
signal.signal(signal.SIGTERM, stop)
print("RUN r1", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize(("grace", "clean"), [(4.0, True), (0.5, False)], ids=["within", "past"])
def test_a_job_running_at_the_windows_end_has_the_grace_to_stop(
    tmp_path: Path, grace: float, clean: bool
) -> None:
    """SIGTERM at the window's end; SIGKILL only if the job has not ended `grace` seconds later."""
    mark = tmp_path / "mark"
    runs: list[str] = []
    started = time.monotonic()
    with pytest.raises(runner._Overran):  # recorded `stopped`, either way
        runner._watch(
            [sys.executable, "-c", SLOW_STOPPER, str(mark), "1.5"],
            runner._Window(stop_at=time.time() + 1.0, grace=grace),
            runs.append,
            tmp_path,
        )
    took = time.monotonic() - started
    assert runs == ["r1"]
    assert mark.exists() == clean, f"grace {grace}s for a job that needs 1.5s"
    assert took < 1.0 + grace + 1.5, took


def test_the_stop_grace_is_a_nightly_setting_and_comes_out_of_the_window(tmp_path: Path) -> None:
    path = tmp_path / "jobs.toml"
    path.write_text('[nightly]\nwindow = "1h"\n')
    assert load_jobs(path).spec.nightly.stop_grace == STOP_GRACE >= 10  # a docker stop's worst wait, 5 s
    path.write_text('[nightly]\nstop_grace = "2s"\n')
    assert load_jobs(path).spec.nightly.stop_grace == 2.0
    path.write_text('[nightly]\nstop_grace = "2h"\n')
    with pytest.raises(UserError, match=r"jobs.toml: \[nightly\] stop_grace must be between 0s and 600s"):
        load_jobs(path)


def test_a_short_window_keeps_at_most_a_tenth_for_the_grace() -> None:
    """A 30 s trial night paying the full 10 s grace (and the close) would start no job at all."""
    assert stop_grace(STOP_GRACE, 6 * 3600) == STOP_GRACE
    assert stop_grace(STOP_GRACE, 30) == 3.0
    assert 30 - CLOSE_SECONDS - stop_grace(STOP_GRACE, 30) >= MIN_SECONDS
    assert stop_grace(0.0, 30) == 0.0


EVOLVE_NIGHT = """
[nightly]
window = "26s"  # the job gets 20 s (the least a job is started with), then SIGTERM

[jobs.exp]
kind = "numerics"
args = ["--fn", "exp", "--interval", "0.5,1", "--dtype", "float64", "--population", "6", "--islands", "1",
        "--max-cost", "4", "--workers", "0", "--cost-model", "ops"]
schedule = "0 3 * * *"
"""


def test_an_evolve_job_stopped_at_the_windows_end_keeps_its_run_in_the_summary(
    tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An evolve search said its run id only in its final JSON: stopped by the window, its night had
    no run, and the summary listed nothing of the Pareto points it had recorded in git.

    The job is the real `strop evolve numerics` process, told `--time 600s` instead of the
    window's 20 s: a search whose last phases overrun its time (a loaded machine), which only
    the window's SIGTERM ends.
    """
    import json
    from datetime import datetime

    command = runner._command

    def overrunning(*args: object) -> list[str]:
        words = command(*args)  # type: ignore[arg-type]
        words[words.index("--time") + 1] = "600s"
        return words

    monkeypatch.setattr(runner, "_command", overrunning)
    (tmp_path / "jobs.toml").write_text(EVOLVE_NIGHT)
    jobs = load_jobs(tmp_path / "jobs.toml")
    tonight = runner.run_night(jobs, isolated_home, datetime(2026, 12, 1, 3, 10), jobs.spec.nightly.window)
    [night] = tonight.records
    assert (night.status, night.error) == ("stopped", "stopped at the end of the window"), night
    summary = subprocess.run(
        [sys.executable, "-m", "agent.cli", "nightly", "summary", "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert summary.returncode == 0, summary.stderr[-2000:]
    [job] = json.loads(summary.stdout)
    [run] = RunIndex(isolated_home).runs()
    assert job["status"] == "stopped" and job["run"] == run.id, job
    assert job["experiments"] >= 1 and job["best_metric"] is not None, job  # the Pareto points so far


def test_a_search_whose_progress_reader_is_gone_searches_on(tmp_path: Path, isolated_home: Path) -> None:
    """A nightly killed outright closes the job's pipes just before its SIGTERM reaches the job: a
    progress line written in between met a broken pipe and recorded the run as `failed: the search
    stopped with an error` (a flaky end of the test above). Progress nobody reads is no error."""
    search = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "evolve", "numerics", "--fn", "exp", "--interval", "0.5,1"]
        + ["--dtype", "float64", "--population", "6", "--islands", "1", "--max-cost", "2", "--workers", "1"]
        + ["--cost-model", "ops", "--time", "30s", "--out", str(tmp_path / "out")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert search.stderr is not None
    search.stderr.readline()  # it has started talking
    search.stderr.close()  # and nobody reads it any more
    assert search.wait(timeout=120) in (0, 120)  # 120: Python's own flush of stderr at its exit
    (run,) = RunIndex(isolated_home).runs()
    assert run.status == "done", run
