"""`strop run` lanes on a real Ray cluster: the bundled task, same-seed equality, a killed worker."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from agent.executors import ExecutorSpec
from agent.executors.cluster import LocalCluster
from agent.home import run_dir, strop_home
from agent.loop import Overrides, start_run
from agent.loop.audit import audit_run
from agent.run_index import RunIndex
from agent.task import load_task
from evaluators.verdict import Status
from tests.loop.conftest import make_task


def _run(task: Path, overrides: Overrides):  # type: ignore[no-untyped-def]
    index = RunIndex(strop_home())
    return start_run(load_task(task), strop_home(), index, overrides), index


def _ray(cluster: LocalCluster, retries: int = 2) -> dict:
    return ExecutorSpec("ray", cluster.address, retries).to_dict()


def _summary(records):  # type: ignore[no-untyped-def]
    return [(r.id, r.parent, r.idea, r.params, r.status.value, r.metrics) for r in records]


def test_same_seed_gives_the_same_experiments_on_ray_as_locally(
    tmp_path: Path, cluster: LocalCluster
) -> None:
    local, _ = _run(make_task(tmp_path / "a", experiments=6, seed=3), Overrides(parallel=2))
    remote, index = _run(
        make_task(tmp_path / "b", experiments=6, seed=3), Overrides(parallel=2, executor=_ray(cluster))
    )
    assert _summary(remote.records) == _summary(local.records)
    assert audit_run(remote.run_id, strop_home(), index, evaluated=6) == []
    assert all(Path(r.log_path).is_file() and r.log_digest for r in remote.records)


def _kill_first_evaluation(cluster: LocalCluster, killed: list[int], timeout: float = 120.0) -> None:
    """SIGKILL the first Ray worker seen running an evaluation (its title is ray::evaluate_job)."""
    import os
    import signal

    end = time.monotonic() + timeout
    while time.monotonic() < end and not killed:
        for pid in cluster.worker_pids():
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if title.startswith(b"ray::evaluate_job"):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
        time.sleep(0.05)


def _run_killing_one_worker(tmp_path: Path, cluster: LocalCluster, retries: int, schedule: str = "batch"):  # type: ignore[no-untyped-def]
    task = make_task(tmp_path / "t", experiments=4, sleep=2.0, schedule=schedule)
    killed: list[int] = []
    killer = threading.Thread(target=_kill_first_evaluation, args=(cluster, killed), daemon=True)
    killer.start()
    result, index = _run(task, Overrides(parallel=2, executor=_ray(cluster, retries)))
    killer.join(timeout=1)
    assert killed, "no evaluation was seen running on the cluster"
    return result, index


@pytest.mark.parametrize("schedule", ["batch", "async"])
def test_a_worker_killed_mid_evaluation_is_retried_nothing_lost_or_duplicated(
    tmp_path: Path, cluster: LocalCluster, schedule: str
) -> None:
    result, index = _run_killing_one_worker(tmp_path, cluster, retries=1, schedule=schedule)
    assert [r.id for r in result.records] == [0, 1, 2, 3]
    assert all(r.status is Status.OK for r in result.records)  # the killed one ran again, once
    assert len({r.commit for r in result.records}) == 4
    assert result.status == "done"
    assert audit_run(result.run_id, strop_home(), index, evaluated=4) == []


def test_a_worker_killed_with_no_retries_left_is_recorded_failed_with_the_reason(
    tmp_path: Path, cluster: LocalCluster
) -> None:
    result, index = _run_killing_one_worker(tmp_path, cluster, retries=0)
    assert [r.id for r in result.records] == [0, 1, 2, 3]
    lost = [r for r in result.records if r.status is not Status.OK]
    assert len(lost) == 1 and lost[0].status is Status.BUGGY
    assert lost[0].reason.startswith("lost on the Ray cluster after 1 attempt(s)")
    assert result.status == "done"
    assert audit_run(result.run_id, strop_home(), index, evaluated=4) == []


def test_secrets_in_the_driver_environment_never_reach_a_worker(cluster: LocalCluster, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from agent.executors.cluster import connect

    monkeypatch.setenv("OPENAI_API_KEY", "sk-driver-only")
    ray = connect(cluster.address)

    def probe() -> str | None:
        import os

        return os.environ.get("OPENAI_API_KEY")

    assert ray.get([ray.remote(probe).options(num_cpus=1).remote() for _ in range(2)]) == [None, None]


def test_the_bundled_task_runs_with_two_lanes_on_ray_from_the_command_line(
    tmp_path: Path, cluster: LocalCluster
) -> None:
    import json
    import os
    import subprocess
    import sys

    task = Path(__file__).parents[2] / "benchmarks" / "tasks" / "diabetes-pca"
    env = {**os.environ, "OPENAI_API_KEY": "sk-driver-only"}
    command = [sys.executable, "-m", "agent.cli", "run", str(task), "--parallel", "2", "--executor", "ray"]
    command += ["--address", cluster.address, "--experiments", "4", "--json"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["experiments"] == 4 and report["status"] == "done"
    assert report["best"]["status"] == "ok" and report["best"]["metrics"]["rmse"] > 0
    assert report["best"]["final_metrics"]  # the hidden test ran once, on the driver
    log = (run_dir(report["run"]) / "run.log").read_text()
    assert f"evaluations run on ray at {cluster.address}" in log


def test_an_unreachable_cluster_is_one_line_and_the_run_resumes_locally(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    from agent.executors.cluster import free_port

    task = make_task(tmp_path / "t", experiments=2)
    base = [sys.executable, "-m", "agent.cli"]
    gone = f"127.0.0.1:{free_port()}"
    env = dict(os.environ)
    failed = subprocess.run(
        [*base, "run", str(task), "--executor", "ray", "--address", gone],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert failed.returncode == 2
    assert f"cannot reach the Ray cluster at {gone}" in failed.stderr
    assert "Traceback" not in failed.stderr
    # the run it made is named, recorded failed (it read "interrupted", 0 experiments, no word)
    listed = subprocess.run([*base, "runs", "--json"], capture_output=True, text=True, env=env, timeout=60)
    [run] = json.loads(listed.stdout)
    assert f"strop resume {run['id']}" in failed.stderr and run["status"] == "failed", (failed.stderr, run)
    resumed = subprocess.run(
        [*base, "resume", "--executor", "local", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert '"experiments": 2' in resumed.stdout


def _wait_for_an_evaluation(driver, cluster: LocalCluster, timeout: float = 180.0) -> None:  # type: ignore[no-untyped-def]
    """Until a worker of `cluster` runs an evaluation `driver` (a `strop run` process) sent it."""
    end = time.monotonic() + timeout
    in_flight = False
    while time.monotonic() < end and driver.poll() is None and not in_flight:
        in_flight = any(
            Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::evaluate_job")
            for pid in cluster.worker_pids()
            if Path(f"/proc/{pid}").exists()
        )
        time.sleep(0.05)
    assert in_flight, "no evaluation was seen running on the cluster"


def test_a_killed_driver_is_resumed_and_re_dispatches_what_was_in_flight(
    tmp_path: Path, cluster: LocalCluster
) -> None:
    import json
    import os
    import signal
    import subprocess
    import sys

    task = make_task(tmp_path / "t", experiments=4, sleep=2.0)
    base = [sys.executable, "-m", "agent.cli"]
    driver = subprocess.Popen(
        [*base, "run", str(task), "--parallel", "2", "--executor", "ray", "--address", cluster.address, "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _wait_for_an_evaluation(driver, cluster)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait(timeout=30)
    resumed = subprocess.run([*base, "resume", "--json"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    report = json.loads(resumed.stdout)
    assert report["experiments"] == 4 and report["status"] == "done"
    index = RunIndex(strop_home())
    records = _records(report["run"])
    assert [r.id for r in records] == [0, 1, 2, 3] and all(r.status is Status.OK for r in records)
    assert audit_run(report["run"], strop_home(), index, evaluated=4) == []


def test_sigterm_stops_a_ray_run_with_its_line_and_the_signal_s_status(
    tmp_path: Path, cluster: LocalCluster
) -> None:
    """`ray.init` put its own SIGTERM handler (`sys.exit`) in place of strop's: the run ended with
    status 1 and no word, where the nightly runner reads -15 as "stopped at the window's end"."""
    import os
    import signal
    import subprocess
    import sys

    task = make_task(tmp_path / "t", experiments=4, sleep=20.0)
    driver = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "run", str(task), "--parallel", "2", "--executor", "ray",
         "--address", cluster.address, "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    _wait_for_an_evaluation(driver, cluster)
    os.kill(driver.pid, signal.SIGTERM)
    _, stderr = driver.communicate(timeout=60)
    assert driver.returncode == -signal.SIGTERM, stderr[-2000:]
    assert "interrupted: run " in stderr and "strop resume" in stderr, stderr[-2000:]


def _records(run_id: str):  # type: ignore[no-untyped-def]
    from agent.run import Run

    return Run.reopen(run_id, strop_home(), RunIndex(strop_home())).records()


def test_a_cluster_that_goes_away_mid_run_is_one_line_and_the_run_finishes_locally(
    tmp_path: Path,
) -> None:
    """Its own one-node cluster (the shared one must outlive this test), stopped mid-evaluation."""
    import json
    import subprocess
    import sys

    task = make_task(tmp_path / "t", experiments=4, sleep=3.0)
    base = [sys.executable, "-m", "agent.cli"]
    with LocalCluster(nodes=1, cpus=2) as doomed:
        driver = subprocess.Popen(
            [*base, "run", str(task), "-p", "2", "--executor", "ray", "--address", doomed.address, "-q"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        killed: list[int] = []
        end = time.monotonic() + 180
        while time.monotonic() < end and driver.poll() is None and not killed:
            if any(_title(pid).startswith(b"ray::evaluate_job") for pid in doomed.worker_pids()):
                doomed.stop()
                killed.append(1)
            time.sleep(0.05)
        assert killed, "no evaluation was seen running on the cluster"
        _, stderr = driver.communicate(timeout=120)
    assert driver.returncode == 2, stderr[-2000:]
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "stopped answering" in errors[0] and "--executor local" in errors[0]
    assert "Traceback" not in stderr and "rpc_client" not in stderr
    resumed = subprocess.run(
        [*base, "resume", "--executor", "local", "--json"], capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    report = json.loads(resumed.stdout)
    assert report["experiments"] == 4 and report["status"] == "done"
    assert f"`strop resume {report['run']}` continues" in errors[0] and "RUN" not in errors[0]
    records = _records(report["run"])
    assert [r.id for r in records] == [0, 1, 2, 3] and all(r.status is Status.OK for r in records)
    assert audit_run(report["run"], strop_home(), RunIndex(strop_home()), evaluated=4) == []


def _title(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_an_mle_competition_runs_its_evaluations_on_ray(tmp_path: Path, cluster: LocalCluster) -> None:
    """`strop mle run --executor ray`: selection on the cluster, the one final grading on the driver."""
    import json
    import subprocess
    import sys

    from tests.mle.sklearn_competition import write_sklearn_competition

    root = write_sklearn_competition(tmp_path / "wine")
    command = [sys.executable, "-m", "agent.cli", "mle", "run", str(root), "-n", "2", "--json"]
    command += ["--executor", "ray", "--address", cluster.address, "--out", str(tmp_path / "work")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["valid_submission"] and report["experiments"] == 2 and report["status"] == "done"
    log = (run_dir(report["run"]) / "run.log").read_text()
    assert f"evaluations run on ray at {cluster.address}" in log
