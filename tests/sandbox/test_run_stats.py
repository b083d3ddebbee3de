"""The scorer reads what strop measured of stage run ($STROP_RUN_STATS), which no candidate can forge.

A speed task scored by the run stage's own timing takes the candidate's word: it runs the
candidate's code, which may print any time or patch the clock. Here the candidate sleeps and
burns CPU, then plants forged stats everywhere it can write; the scorer scores with the file
strop wrote, and sees the real figures. The CPU time is given only where a cgroup counted every
process (docker's; bwrap's where strop may make one: `sandbox.cputime`).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from evaluators.spec import EvaluatorSpec
from evaluators.verdict import Status, Verdict
from sandbox.bubblewrap import BwrapSandbox
from sandbox.cputime import CpuCgroup, cpu_support, used
from sandbox.execution import KilledBy, Limits
from sandbox.memory import CGROUP_PREFIX, CgroupPlace, cgroup_support, own_cgroup
from tests.sandbox.support import in_ci, require_backend, staged_in

COUNTED = cpu_support(cgroup_support())
"""Where bwrap's cgroups count the CPU time here, or why none can be made (not root, read-only)."""
NO_CGROUP = f"this machine cannot make bwrap a cgroup to count CPU time in: {COUNTED}"

RUN = """
import glob, json, os, time
end = time.process_time() + 0.3
while time.process_time() < end:
    pass
time.sleep(0.4)
forged = json.dumps({"wall_seconds": 0.001, "cpu_seconds": 0.001, "peak_memory_bytes": 1})
planted = []
for place in [os.path.join(os.environ["STROP_OUTPUTS"], "run.json"), "run.json",
              *glob.glob("/tmp/*/measured"), "../measured"]:
    target = os.path.join(place, "run.json") if os.path.isdir(place) else place
    try:
        open(target, "w").write(forged)
        planted.append(target)
    except OSError:
        pass
print("planted", planted)
"""

SCORE = """
import json, os
stats = json.load(open(os.environ["STROP_RUN_STATS"]))
print(json.dumps({"wall": stats["wall_seconds"], "cpu": stats["cpu_seconds"] or -1.0,
                  "memory": stats["peak_memory_bytes"] or -1}))
"""


def evaluate(tmp_path: Path, run: str, backend: str) -> Verdict:
    """Both stages on `backend`: `run` as the candidate's run.py, SCORE as the scorer; it must score."""
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "run.py").write_text(run)
    (tmp_path / "scorer").mkdir()
    (tmp_path / "scorer" / "score.py").write_text(SCORE)
    spec = EvaluatorSpec(
        run="python run.py", score="python -I score.py", scorer="scorer", metric="wall", direction="minimize",
        timeout=60,
    )  # fmt: skip
    verdict = staged_in(tmp_path, spec, backend).evaluate(tmp_path / "work", name="0")
    assert verdict.status is Status.OK, verdict.reason
    return verdict


@pytest.mark.parametrize("backend", ["bwrap", "docker", "local"])
def test_the_scorer_scores_with_strops_measurements_not_the_candidates(tmp_path: Path, backend: str) -> None:
    verdict = evaluate(tmp_path, RUN, backend)
    assert 0.4 <= verdict.metrics["wall"] < 30, verdict.metrics
    assert verdict.metrics["memory"] > 0, verdict.metrics
    if backend == "docker" or (backend == "bwrap" and isinstance(COUNTED, CgroupPlace)):
        assert verdict.metrics["cpu"] >= 0.25, verdict.metrics  # a cgroup counts every process
    else:  # rusage misses a process left running at the end (see the next tests): none given
        assert verdict.metrics["cpu"] == -1.0, verdict.metrics
    log = (tmp_path / "logs" / "0-validate.log").read_text()
    assert "planted" in log  # the candidate ran and tried


ORPHAN = """
import os, time
done = os.path.abspath("done")
if os.fork() == 0:
    if os.fork() == 0:  # a worker no one waits for: it does the work, then lingers until killed
        end = time.process_time() + 0.6
        while time.process_time() < end:
            pass
        open(done, "w").write("1")
        time.sleep(60)
    os._exit(0)
os.wait()
while not os.path.exists(done):
    time.sleep(0.01)
"""


@pytest.mark.parametrize("backend", ["bwrap", "docker", "local"])
def test_work_done_by_a_process_left_running_is_never_read_as_fast(tmp_path: Path, backend: str) -> None:
    """On bwrap a double-forked worker's CPU went uncounted (killed at the end, never waited for):
    the same prime count read 115x "faster". A figure that can miss work is not given."""
    verdict = evaluate(tmp_path, ORPHAN, backend)
    assert 0.6 <= verdict.metrics["wall"] < 30, verdict.metrics  # the wall time holds the worker's work
    cpu = verdict.metrics["cpu"]
    assert cpu == -1.0 or cpu >= 0.5, verdict.metrics  # counted whole, or not given


WORKER_LEFT_RUNNING = """
import os, time
def burn(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
done = os.path.abspath("done")
burn(0.2)  # the main process's own
if os.fork() == 0:
    if os.fork() == 0:  # orphaned at once, waited for by no one, killed when the main ends
        burn(0.3)
        open(done, "w").write("1")
        time.sleep(60)
    os._exit(0)
os.wait()
while not os.path.exists(done):
    time.sleep(0.01)
"""


def test_bwrap_counts_the_cpu_of_a_worker_left_running(tmp_path: Path) -> None:
    """Where strop may make a cgroup, bwrap's CPU time is the cgroup's: the orphan's 0.3 s with
    the main process's 0.2 s. rusage saw the main's only (about 0.25 s), so none was given."""
    _need_cgroup()
    require_backend("bwrap")
    verdict = evaluate(tmp_path, WORKER_LEFT_RUNNING, "bwrap")
    assert 0.5 <= verdict.metrics["cpu"] < 10, verdict.metrics


def strop_groups(folder: Path) -> dict[str, list[str]]:
    """This strop's cgroups in `folder`, each with the pids in it."""
    mine = f"{CGROUP_PREFIX}{os.getpid()}-"
    found = {}
    for entry in folder.iterdir():
        if entry.name.startswith(mine):
            found[entry.name] = (entry / "cgroup.procs").read_text().split()
    return found


HELD = """
import os, time
for _ in range(3):
    if os.fork() == 0:
        time.sleep(60)
        os._exit(0)
open("ready", "w").close()
time.sleep(60)
"""


def test_bwraps_cpu_cgroup_holds_its_processes_and_is_removed(tmp_path: Path) -> None:
    """v1: a cpuacct cgroup of the sandbox's own holds bwrap and all it starts while it runs, and
    is gone after, a command killed at its timeout included."""
    _need_cgroup()
    assert isinstance(COUNTED, CgroupPlace)
    if COUNTED.version != 1:
        pytest.skip("cgroup v2: the CPU time is the memory cgroup's own cpu.stat, no group of its own")
    require_backend("bwrap")
    before = strop_groups(COUNTED.folder)
    done = []
    run = threading.Thread(
        target=lambda: done.append(
            BwrapSandbox().run(["python", "-c", HELD], tmp_path, Limits(timeout=3, pids=32))
        )
    )
    run.start()
    try:
        for _ in range(100):
            if (tmp_path / "ready").exists():
                break
            time.sleep(0.05)
        during = {name: pids for name, pids in strop_groups(COUNTED.folder).items() if name not in before}
    finally:
        run.join()
    assert len(during) == 1, during
    assert len(next(iter(during.values()))) >= 5, during  # bwrap, its init, python and its 3 children
    assert done and done[0].killed_by is KilledBy.TIMEOUT and done[0].cpu_complete, done
    assert strop_groups(COUNTED.folder) == before


@pytest.mark.parametrize(
    ("version", "name", "text", "seconds"),
    [
        (1, "cpuacct.usage", "1500000000\n", 1.5),
        (2, "cpu.stat", "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n", 2.5),
        (2, "cpu.stat", "user_usec 2000000\n", None),
    ],
)
def test_a_cgroups_cpu_counter_is_read_in_its_unit(
    tmp_path: Path, version: int, name: str, text: str, seconds: float | None
) -> None:
    """v1 counts nanoseconds, v2 microseconds (a plain folder stands in for the cgroup: this
    machine may have only one of the two)."""
    (tmp_path / name).write_text(text)
    assert used(tmp_path, version) == seconds
    (tmp_path / "cgroup.procs").write_text("")  # a cgroup nothing is left in
    group = CpuCgroup(tmp_path, version, owned=False)
    group.close()
    assert group.seconds == seconds and tmp_path.exists()  # read; the memory cgroup's owner removes it


@pytest.mark.parametrize(
    ("cgroups", "mounts", "expected"),
    [
        (  # this machine's: cpu and cpuacct apart, strop at the root of cpuacct
            "4:memory:/process_api/abc\n2:cpuacct:/\n1:cpu:/\n0::/\n",
            "33 31 0:30 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct\n",
            CgroupPlace(Path("/sys/fs/cgroup/cpuacct"), 1),
        ),
        (  # most v1 distributions: mounted together
            "3:cpu,cpuacct:/user.slice\n0::/\n",
            "30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n",
            CgroupPlace(Path("/sys/fs/cgroup/cpu,cpuacct/user.slice"), 1),
        ),
        ("4:memory:/abc\n", "", "no cpuacct controller in /proc/self/cgroup"),
    ],
)
def test_strops_own_cpuacct_cgroup_is_found(cgroups: str, mounts: str, expected: object) -> None:
    assert own_cgroup(cgroups, mounts, "cpuacct") == expected


def test_docker_gives_a_short_runs_cpu_and_memory_whole(tmp_path: Path) -> None:
    """A container's own cgroup is gone when its command ends, so figures sampled every 50 ms missed
    a command shorter than that altogether (no CPU time, no peak: a scorer dividing by the peak
    crashed, and one falling back to wall time ranked a slower program first) and the last 50 ms
    of every other. Read from a parent cgroup of its own after the end, they are whole."""
    from sandbox.container import DockerSandbox
    from sandbox.container_accounting import ROOT

    sandbox = require_backend("docker")
    assert isinstance(sandbox, DockerSandbox)
    _need_parents(sandbox)
    for _ in range(3):
        execution = sandbox.run(["sh", "-c", "echo quick"], tmp_path, Limits(timeout=30, memory=1 << 30))
        assert execution.ok and execution.stdout.strip() == "quick"
        assert execution.cpu_complete and execution.cpu_time > 0, execution.notes
        assert execution.peak_memory, execution.notes
    burn = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    execution = sandbox.run(["python", "-c", burn], tmp_path, Limits(timeout=30, memory=1 << 30))
    assert execution.cpu_complete and 0.3 <= execution.cpu_time < 5, execution.cpu_time
    left = [p for p in ROOT.glob(f"*/{CGROUP_PREFIX}{os.getpid()}-*")] + list(
        ROOT.glob(f"{CGROUP_PREFIX}{os.getpid()}-*")
    )
    assert left == [], "each container's parent cgroup is removed with it"


def test_a_containers_figures_are_read_from_its_parent_in_each_version(tmp_path: Path) -> None:
    """Pure reads of the kernel's files, laid out as v1 (cpuacct in ns, max_usage) and v2 (cpu.stat
    in µs, memory.peak); without a parent the sampled CPU time is not given as whole."""
    from sandbox.container_accounting import Accounting

    v1, v2 = tmp_path / "v1", tmp_path / "v2"
    for folder, files in (
        (v1 / "cpuacct" / "strop-1-a", {"cpuacct.usage": "250000000\n"}),
        (v1 / "memory" / "strop-1-a", {"memory.max_usage_in_bytes": "4096\n"}),
        (v2 / "strop-1-a", {"cpu.stat": "usage_usec 125000\nuser_usec 1\n", "memory.peak": "8192\n"}),
    ):
        folder.mkdir(parents=True)
        for name, text in files.items():
            (folder / name).write_text(text)
    (v2 / "cgroup.controllers").write_text("cpu memory\n")
    for root, cpu, peak in ((v1, 0.25, 4096), (v2, 0.125, 8192)):
        accounting = Accounting("strop-1-a", root)
        accounting.cid = "c0ffee"
        accounting.finish()
        assert (accounting.cpu, accounting.peak, accounting.complete) == (cpu, peak, True)
        accounting.remove()
    sampled = Accounting(None, v2)
    sampled.cid = "c0ffee"
    sampled.finish()
    assert not sampled.complete and "sampled" in sampled.note()


def test_docker_stops_making_parents_it_cannot_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine whose cgroups are not where strop reads them (another cgroup namespace: a docker
    socket lent into a container) would get a parent per evaluation that strop never removes: after
    the first that is not found, no more are made."""
    import sandbox.container as container
    from sandbox.container_accounting import ROOT, Accounting

    require_backend("docker")
    sandbox = container.DockerSandbox()  # its own: this one stops making parents
    _need_parents(sandbox)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    made: list[str | None] = []

    def accounting(parent: str | None) -> Accounting:
        made.append(parent)
        return Accounting(parent, elsewhere)  # strop's view holds none of the engine's cgroups

    monkeypatch.setattr(container, "Accounting", accounting)
    try:
        for _ in range(2):
            execution = sandbox.run(["sh", "-c", "echo x"], tmp_path, Limits(timeout=30, memory=1 << 30))
            assert execution.ok and not execution.cpu_complete, execution.notes
        assert made[0] is not None and made[1] is None and not sandbox.parents
    finally:  # the one made where strop did not look: removed here, as a sweep would after exit
        for folder in ROOT.glob(f"*/{made[0]}"):
            folder.rmdir()


def _need_parents(sandbox: object) -> None:
    """Skip where the engine's cgroups are not strop's to read (a normal user, the systemd driver);
    in CI, whose machine is root with a cgroupfs engine, that is a failure."""
    if not getattr(sandbox, "parents", False):
        message = "the docker engine here does not make cgroupfs cgroups strop may read and remove"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


def test_a_docker_error_before_the_end_leaves_parents_on(tmp_path: Path) -> None:
    """A container that never ran to its end (the engine's API timing out under load) says nothing
    about where its cgroups are: parents stay on, and the next run's CPU time is whole again."""
    import sandbox.container as container

    require_backend("docker")
    sandbox = container.DockerSandbox()  # its own: its engine client is made to fail once
    _need_parents(sandbox)
    real = sandbox.client.api.start

    def times_out(*args: object, **kwargs: object) -> None:
        sandbox.client.api.start = real
        raise TimeoutError("the engine's API timed out")

    sandbox.client.api.start = times_out
    with pytest.raises(TimeoutError):
        sandbox.run(["sh", "-c", "echo x"], tmp_path, Limits(timeout=30, memory=1 << 30))
    execution = sandbox.run(["sh", "-c", "echo x"], tmp_path, Limits(timeout=30, memory=1 << 30))
    assert sandbox.parents and execution.cpu_complete, execution.notes


def _need_cgroup() -> None:
    """Skip where bwrap cannot be given a cgroup (a normal user, a read-only cgroup file system);
    in CI, whose machine is root with a writable one, that is a failure."""
    if not isinstance(COUNTED, CgroupPlace):
        if in_ci():
            pytest.fail(NO_CGROUP)
        pytest.skip(NO_CGROUP)
