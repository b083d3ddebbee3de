"""Nights end to end through the real CLI: warm start, a killed night resumed, two nightlies at once.

The clock is `--now` (the scheduler's clock seam); runs are real (loop, git, local sandbox).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.nightly.history import History
from agent.run_index import RunIndex
from tests.ui.conftest import make_live_task

JOBS = """
[nightly]
window = "10m"

[jobs.live]
task = "live"
schedule = "0 2 * * *"
budget = {{ experiments = {experiments} }}
"""


def nightly(*args: str, **popen: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "nightly", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,  # type: ignore[call-overload]
    )


def finish(process: subprocess.Popen[str], timeout: float = 240) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def make_jobs(root: Path, experiments: int, sleep: float) -> Path:
    make_live_task(root / "live", experiments=experiments, sleep=sleep)
    (root / "jobs.toml").write_text(JOBS.format(experiments=experiments))
    return root / "jobs.toml"


def test_two_nights_the_second_starts_from_the_firsts_best(tmp_path: Path, isolated_home: Path) -> None:
    jobs = make_jobs(tmp_path, experiments=4, sleep=0.0)
    code, out, err = finish(nightly("run", "--jobs", str(jobs), "--now", "2026-12-01T02:10"))
    assert code == 0, err
    code, out, err = finish(nightly("run", "--jobs", str(jobs), "--now", "2026-12-01T09:00"))
    assert code == 0 and "nothing is due" in err  # same night: nothing to do
    code, out, err = finish(nightly("run", "--jobs", str(jobs), "--now", "2026-12-02T02:01"))
    assert code == 0, err
    first, second = History(isolated_home).nights("live")
    assert (first.night, second.night) == ("2026-12-01T02:00", "2026-12-02T02:00")
    assert first.status == second.status == "done" and first.run != second.run
    index = RunIndex(isolated_home)
    run2 = index.find_run(second.run)
    assert second.base == first.commit == run2.base_commit  # warm start: experiment 0 is last night's best
    zero = index.experiments(run2.id)[0]
    assert zero.metrics["score"] == first.best_metric  # re-evaluated: the same score
    assert zero.idea.startswith(f"baseline: commit {first.commit[:10]}, the start this run was given")
    shown = subprocess.run(
        [sys.executable, "-m", "agent.cli", "show", f"{run2.id}/0"], capture_output=True, text=True
    ).stdout
    assert f"parent: commit {first.commit[:10]} (the run's given start, not main as it is)" in shown
    assert second.best_metric is not None and first.best_metric is not None
    assert second.best_metric >= first.best_metric
    assert second.previous_metric == first.best_metric and second.gain is not None and second.gain >= 0
    summary = subprocess.run(
        [sys.executable, "-m", "agent.cli", "nightly", "summary", "--html", str(tmp_path / "s.html")],
        capture_output=True,
        text=True,
    )
    assert summary.returncode == 0, summary.stderr
    assert f"adopt: strop adopt {second.run}/{second.best}" in summary.stdout
    assert "since the previous night" in summary.stdout
    assert "data:image/png;base64," in (tmp_path / "s.html").read_text()

    # its own summary again is written over; any other file, the jobs file first, never (it was)
    def summary_to(target: Path) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "agent.cli", "nightly", "summary", "--html", str(target)]
        return subprocess.run(command, capture_output=True, text=True)

    jobs_text = jobs.read_text()
    assert summary_to(tmp_path / "s.html").returncode == 0
    refused = summary_to(jobs)
    assert refused.returncode == 2 and "exists and is not a strop report" in refused.stderr, refused.stderr
    assert jobs.read_text() == jobs_text
    deeper = summary_to(tmp_path / "new" / "s.html")  # a folder on the way is made
    assert deeper.returncode == 0 and (tmp_path / "new" / "s.html").is_file(), deeper.stderr


def _wait(condition: object, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _a_night_under_way(tmp_path: Path, home: Path) -> tuple[Path, tuple[str, str], subprocess.Popen[str]]:
    """A nightly (its own process group) whose run job has recorded two experiments: its jobs file,
    its `--now`, its process."""
    jobs = make_jobs(tmp_path, experiments=5, sleep=0.7)
    now = ("--now", "2026-12-01T02:10")
    first = nightly("run", "--jobs", str(jobs), *now, start_new_session=True)

    def running_with_experiments() -> bool:
        night = History(home).last("live")
        return bool(night and night.run and len(RunIndex(home).experiments(night.run)) >= 2)

    try:
        _wait(running_with_experiments)
    except BaseException:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        raise
    return jobs, now, first


def test_a_killed_night_is_resumed_and_two_nightlies_never_overlap(
    tmp_path: Path, isolated_home: Path
) -> None:
    jobs, now, first = _a_night_under_way(tmp_path, isolated_home)
    try:
        code, out, err = finish(nightly("run", "--jobs", str(jobs), *now))  # a second nightly meanwhile
        assert code == 0 and "holds the nightly lock" in out and f"pid {first.pid}" in out, (out, err)
    finally:
        os.kill(first.pid, signal.SIGKILL)  # the night dies mid-run; its job must die with it, unseen
        first.wait()
    killed = History(isolated_home).last("live")
    assert killed is not None and killed.status == "running" and killed.run
    page = tmp_path / "killed.html"  # no nightly holds the lock: the night is not running
    code, out, err = finish(nightly("summary", "--html", str(page)))
    assert code == 0 and "· interrupted (the next `strop nightly run` resumes it)" in out, (out, err)
    assert "interrupted (the next `strop nightly run` resumes it)" in page.read_text()
    before = len(RunIndex(isolated_home).experiments(killed.run))
    # what the killed night's run found, not "nothing scored … 0 experiments" (its end never came)
    counted = re.search(r", (\d+) experiments", out)
    assert counted and 2 <= int(counted.group(1)) <= before, out  # the job may end one more as it dies
    assert "nothing scored" not in out and "score = " in out, out
    from fastapi.testclient import TestClient

    from agent.ui.app import create_app

    shown = TestClient(create_app(isolated_home)).get("/nightly").text
    row = shown[shown.index('<table id="nights">') :].split("</tr>")[1]
    assert "interrupted (resumes next night)" in row and "score = " in row, row
    assert before < 5
    code, out, err = finish(nightly("run", "--jobs", str(jobs), "--now", "2026-12-01T02:40"))
    assert code == 0, err
    (night,) = History(isolated_home).nights("live")
    assert night.resumed and night.run == killed.run and night.status == "done"
    assert [run.id for run in RunIndex(isolated_home).runs()] == [killed.run]  # resumed, not restarted
    records = RunIndex(isolated_home).experiments(killed.run)
    assert [r.id for r in records] == list(range(len(records))) and len(records) >= before
    assert RunIndex(isolated_home).find_run(killed.run).status == "done"


@pytest.mark.parametrize("reached", ["group", "nightly"], ids=["terminal", "nightly-alone"])
def test_a_ctrl_c_keeps_the_night_and_the_next_nightly_resumes_it(
    tmp_path: Path, isolated_home: Path, reached: str
) -> None:
    """A Ctrl-C is a stop like SIGTERM. Before, the job exited 130 first and its night was
    recorded `failed` with the job's last stderr line, so the next nightly said "nothing is due"
    and the run stayed interrupted for good. A terminal's Ctrl-C reaches the nightly and its job
    (one process group); a `kill -INT` of the nightly alone reaches no job: the nightly stops it.
    """
    jobs, now, first = _a_night_under_way(tmp_path, isolated_home)
    try:
        if reached == "group":
            os.killpg(first.pid, signal.SIGINT)
        else:
            os.kill(first.pid, signal.SIGINT)
        code, out, err = finish(first, timeout=60)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    stopped = History(isolated_home).last("live")
    assert stopped is not None and stopped.run, stopped
    assert code == 130, (code, err)
    assert (stopped.status, stopped.error) == ("running", ""), stopped  # resumable, not failed
    line = f"interrupted: live keeps run {stopped.run}, {stopped.experiments} experiments; "
    assert line in err and f"`strop nightly run --jobs {jobs}` resumes it" in err, err
    assert stopped.experiments >= 2 and stopped.best_metric is not None  # what it found is kept
    code, out, err = finish(nightly("run", "--jobs", str(jobs), "--now", "2026-12-01T02:40"))
    assert code == 0, err
    (night,) = History(isolated_home).nights("live")
    assert night.resumed and night.run == stopped.run and night.status == "done", night
    assert [run.id for run in RunIndex(isolated_home).runs()] == [stopped.run]  # resumed, not restarted


QUANT_JOBS = """
[jobs.quant]
kind = "quant"
args = ["--model", "digits-mlp", "--budget-bits", "3.0", "--baselines", "fast", "--population", "8"]
schedule = "0 4 * * *"
budget = { time = "30s" }

[jobs.broken]
task = "missing-task"
schedule = "0 4 * * *"
"""


def test_an_evolve_job_and_a_failing_job_in_one_night(tmp_path: Path, isolated_home: Path) -> None:
    """A quant search runs as a job (its baselines kept for the report); a broken job beside it fails alone."""
    (tmp_path / "jobs.toml").write_text(QUANT_JOBS)
    code, out, err = finish(
        nightly("run", "--jobs", str(tmp_path / "jobs.toml"), "--now", "2026-12-01T04:00", "--parallel", "2")
    )
    assert code == 1, err  # a job failed: cron and scripts are told
    nights = {n.job: n for n in History(isolated_home).nights()}
    assert nights["broken"].status == "failed" and "missing-task" in nights["broken"].error
    quant = nights["quant"]
    assert quant.status == "done", quant.error
    assert (
        quant.run and quant.metric == "val_acc" and quant.best_metric is not None and quant.best_metric > 0.5
    )
    from agent.report import gather
    from agent.report.plots import all_plots

    data = gather(RunIndex(isolated_home), quant.run, isolated_home)
    # a reference row and the fast baseline that always fits (greedy may be cut by a loaded 30 s night)
    assert data.is_search and {"uniform_int4", "uniform_best_int"} <= {b.name for b in data.baselines}
    assert "pareto" in [plot.name for plot in all_plots(data)]


NUMERICS_JOBS = """
[jobs.exp]
kind = "numerics"
args = ["--fn", "exp", "--interval", "0.5,1", "--dtype", "float64", "--population", "6", "--islands", "1",
        "--max-cost", "4", "--workers", "0", "--cost-model", "ops"]
schedule = "0 3 * * *"
budget = { time = "35s" }  # room for start-up and baselines on a loaded machine
"""


def test_an_evolve_search_continues_its_population_the_next_night(
    tmp_path: Path, isolated_home: Path
) -> None:
    """Warm start of evolve jobs: the second night's search is the first one's, continued."""
    import pickle

    from agent.evolution.sealed import unseal

    (tmp_path / "jobs.toml").write_text(NUMERICS_JOBS)
    saved = []
    for now in ("2026-11-30T03:10", "2026-12-01T03:10"):
        code, _, err = finish(nightly("run", "--jobs", str(tmp_path / "jobs.toml"), "--now", now))
        assert code == 0, err
        night = [n for n in History(isolated_home).nights() if n.job == "exp"][-1]
        assert night.status == "done", (night.status, night.error, err[-2000:])
        [checkpoint] = (isolated_home / "nightly" / "populations").glob("exp-*.ckpt")
        saved.append(pickle.loads(unseal(checkpoint.read_bytes(), checkpoint)))  # sealed by this home
    nights = [n for n in History(isolated_home).nights() if n.job == "exp"]
    assert [n.status for n in nights] == ["done", "done"], [n.error for n in nights]
    first, second = saved
    assert second.generation > first.generation and second.stats.evaluated > first.stats.evaluated
    # continued, not restarted: the search's clock counts both nights (a restart would count one)
    assert second.next_uid > first.next_uid
    assert second.stats.wall_time > 1.5 * first.stats.wall_time, (first.stats, second.stats)


MLE_JOBS = """
[jobs.wine]
kind = "mle"
competition = "wine"
args = ["--seed", "1"]
schedule = "0 1 * * *"
budget = { experiments = 2 }
"""


def test_an_mle_job_warm_starts_from_last_nights_best(tmp_path: Path, isolated_home: Path) -> None:
    """Two nights of a competition: one working folder, the second run's experiment 0 is the first's best."""
    from tests.mle.sklearn_competition import write_sklearn_competition

    write_sklearn_competition(tmp_path / "wine")
    (tmp_path / "jobs.toml").write_text(MLE_JOBS)
    for now in ("2026-11-30T01:05", "2026-12-01T01:05"):
        code, _, err = finish(nightly("run", "--jobs", str(tmp_path / "jobs.toml"), "--now", now))
        assert code == 0, err
    first, second = History(isolated_home).nights("wine")
    assert (first.status, second.status) == ("done", "done"), (first.error, second.error)
    assert first.metric == "accuracy" and first.experiments == 2 and first.best_metric is not None
    assert "hidden test" in first.note and "hidden test" in second.note
    assert second.base == first.commit and second.previous_metric == first.best_metric
    assert second.best_metric is not None and second.best_metric >= first.best_metric
    [folder] = (isolated_home / "nightly" / "mle").iterdir()  # one working folder, kept
    assert json.loads((folder / "report.json").read_text())["run"] == second.run
    index = RunIndex(isolated_home)
    run2 = index.find_run(second.run)
    assert run2.base_commit == first.commit and first.run != second.run
    zero = index.experiments(run2.id)[0]
    assert zero.metrics["accuracy"] == first.best_metric  # last night's best, re-evaluated


def test_an_mle_job_whose_competition_changed_starts_afresh(tmp_path: Path, isolated_home: Path) -> None:
    """Last night's best lives in a working folder for other data (or another metric): no warm start."""
    from tests.mle.sklearn_competition import write_sklearn_competition

    write_sklearn_competition(tmp_path / "wine")
    (tmp_path / "jobs.toml").write_text(MLE_JOBS)
    code, _, err = finish(nightly("run", "--jobs", str(tmp_path / "jobs.toml"), "--now", "2026-11-30T01:05"))
    assert code == 0, err
    config = tmp_path / "wine" / "config.yaml"
    config.write_text(config.read_text() + "\n# the owner edited the competition\n")
    code, _, err = finish(nightly("run", "--jobs", str(tmp_path / "jobs.toml"), "--now", "2026-12-01T01:05"))
    assert code == 0, err
    first, second = History(isolated_home).nights("wine")
    assert second.status == "done", second.error
    assert first.identity and second.identity != first.identity
    assert second.base is None  # not warm-started from a commit of the old folder's repo
    assert len(list((isolated_home / "nightly" / "mle").iterdir())) == 2
