"""Each sandbox is charged for what it does itself: its disk writes (not another program's, not
what was written while it was held at its gate), its memory (not address space it only reserves,
where a cgroup counts the memory), and it holds a bounded number of open files.

Real backends; the writes of "another program" are this test's own, beside the workspace on the
same file system, as a parallel evaluation's or a candidate's (for a held scorer) would be.
"""

from __future__ import annotations

import json
import os
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from evaluators.held import HeldRun
from sandbox.bubblewrap import BwrapSandbox
from sandbox.execution import Execution, KilledBy, Limits, Sandbox
from sandbox.memory import cgroup_support
from tests.sandbox.support import require_backend

LIMITS = Limits(timeout=30, memory=256 << 20, workspace_bytes=64 << 20, files=2_000, pids=64)
MB = 1 << 20


def run(box: Sandbox, workdir: Path, script: str, limits: Limits = LIMITS) -> Execution:
    return box.run(["python", "-c", textwrap.dedent(script)], workdir, limits)


def write_beside(folder: Path, megabytes: int = 100, files: int = 3_000) -> None:
    """Another program's writes: `megabytes` MiB on disk and `files` empty files, in `folder`."""
    folder.mkdir(exist_ok=True)
    with open(folder / "big.bin", "wb") as handle:
        for _ in range(megabytes):
            handle.write(b"y" * MB)
        handle.flush()
        os.fsync(handle.fileno())
    for index in range(files):
        (folder / f"f{index}").touch()


def when_present(marker: Path, then: object, timeout: float = 20.0) -> threading.Thread:
    """A thread that calls `then()` once `marker` exists (the sandboxed command reached a point)."""

    def wait() -> None:
        deadline = time.monotonic() + timeout
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        then()  # type: ignore[operator]

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def beside(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "another-program"


# --- disk: what the sandbox wrote itself ---------------------------------------------------


@pytest.mark.parametrize("name", ["bwrap", "local"])
def test_a_held_command_is_not_charged_for_what_was_written_while_it_waited(
    name: str, workdir: Path, beside: Path
) -> None:
    """Measured before: the held scorer "filled its disk quota" 0.02 s into scoring, for the
    candidate's 235,000 cache files written while it waited at its gate."""
    box = require_backend(name)
    sleeper = ["python", "-I", "-S", "-c", "import time; time.sleep(0.8); print('scored')"]
    held = HeldRun(box, sleeper, workdir, LIMITS, {}, [], max_wait=60)  # type: ignore[arg-type]
    time.sleep(0.5)
    write_beside(beside)  # the candidate's stage: past the scorer's byte and file budgets
    execution = held.open(20)
    assert execution is not None
    assert execution.ok and execution.killed_by is None, (execution.killed_by, execution.notes)
    assert execution.stdout.strip() == "scored"


@pytest.mark.parametrize("name", ["docker", "bwrap"])
def test_another_programs_writes_do_not_stop_a_sandbox(name: str, workdir: Path, beside: Path) -> None:
    """Measured before: an honest 100 MB writer was killed for "disk" beside a 1000 MB one."""
    box = require_backend(name)
    script = """
    import time
    open("started", "w").close()
    time.sleep(4)
    print("done")
    """
    writer = when_present(workdir / "started", lambda: write_beside(beside))
    execution = run(box, workdir, script)
    writer.join()
    assert execution.ok and execution.killed_by is None, (execution.killed_by, execution.notes)


def test_on_local_the_budget_is_the_file_systems_growth(workdir: Path, beside: Path) -> None:
    """Documented (sandbox/local.py, sandbox/disk.py): local's command may write anywhere, so its
    budget stays the file system's growth, whoever wrote it."""
    box = require_backend("local")
    script = """
    import time
    open("started", "w").close()
    time.sleep(8)
    """
    writer = when_present(workdir / "started", lambda: write_beside(beside))
    execution = run(box, workdir, script)
    writer.join()
    assert execution.killed_by is KilledBy.DISK, execution.tail()


@pytest.mark.parametrize("name", ["docker", "bwrap"])
def test_own_writes_past_the_budget_stop_it_even_beside_another_writer(
    name: str, workdir: Path, beside: Path
) -> None:
    """40 MB, then another program's 100 MB (the trigger trips, the account says 40 MB: it runs
    on), then 120 MB more: 160 MB of its own, past the 64 MiB budget (by a margin: the file system's
    growth is the trigger, and files other tests delete meanwhile take from it)."""
    box = require_backend(name)
    script = """
    import os, time
    def fill(name):
        with open(name, "wb") as handle:
            for _ in range(40):
                handle.write(b"x" * (1 << 20))
            handle.flush()
            os.fsync(handle.fileno())
    fill("a.bin")
    open("half", "w").close()
    deadline = time.time() + 20
    while not os.path.exists("go") and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)
    for name in ("b.bin", "c.bin", "d.bin"):  # 120 MB more: a margin for other tests' deletions meanwhile
        fill(name)
    time.sleep(5)
    print("not stopped")
    """

    def then() -> None:
        write_beside(beside, files=0)
        time.sleep(0.5)  # a few of the watch's looks: the account is taken, the trigger based again
        (workdir / "go").touch()

    writer = when_present(workdir / "half", then)
    execution = run(box, workdir, script)
    writer.join()
    assert execution.killed_by is KilledBy.DISK, execution.tail()
    assert any("the sandbox wrote" in note for note in execution.notes), execution.notes


DELETED_OPEN = """
import os, time
fd = os.open("hidden", os.O_CREAT | os.O_WRONLY, 0o600)
os.unlink("hidden")
for _ in range(100):
    os.write(fd, b"x" * (1 << 20))
os.fsync(fd)
time.sleep(5)
print("not stopped")
"""

DELETED_MAPPED = """
import mmap, os, time
fd = os.open("hidden", os.O_CREAT | os.O_RDWR, 0o600)
os.ftruncate(fd, 100 << 20)
view = mmap.mmap(fd, 100 << 20)
os.close(fd)
os.unlink("hidden")
for offset in range(0, 100 << 20, 1 << 20):
    view[offset : offset + (1 << 20)] = b"x" * (1 << 20)
view.flush()
time.sleep(5)
print("not stopped")
"""


DEEP = """
import os
for _ in range(20):  # a path of over 4,096 characters: /proc/PID/fd/N cannot be read back as text
    os.mkdir("d" * 250)
    os.chdir("d" * 250)
"""


@pytest.mark.parametrize("name", ["docker", "bwrap"])
@pytest.mark.parametrize("deep", [False, True], ids=["shallow", "deep"])
@pytest.mark.parametrize("script", [DELETED_OPEN, DELETED_MAPPED], ids=["open", "mapped"])
def test_a_deleted_file_it_still_holds_counts(name: str, deep: bool, script: str, workdir: Path) -> None:
    """Open, unlink, write (or map, close, unlink, write): in no folder, still on the disk. In a
    folder deeper than 4,096 characters the files were found by their path's text, which cannot
    be read there: 200 MiB went unnoticed under a 64 MiB budget."""
    execution = run(require_backend(name), workdir, (DEEP if deep else "") + textwrap.dedent(script))
    assert execution.killed_by is KilledBy.DISK, execution.tail()
    assert any("the sandbox wrote" in note for note in execution.notes), execution.notes


# --- memory: no address-space limit where a cgroup counts the memory ------------------------

THREADS = """
import json, resource, threading, time
limit = resource.getrlimit(resource.RLIMIT_AS)[0]
threads = [threading.Thread(target=time.sleep, args=(0.5,)) for _ in range(60)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps({"as": limit, "threads": len(threads)}))
"""


def test_a_thread_pool_runs_where_a_memory_cgroup_holds_the_memory(workdir: Path) -> None:
    """60 threads reserve 60 x 8 MiB of stacks and hold a few MB: under RLIMIT_AS = 256 MiB
    they failed "can't start new thread"; the cgroup counts what they use."""
    box = require_backend("bwrap")
    if isinstance(cgroup_support(), str):
        pytest.skip(f"no memory cgroup here: {cgroup_support()}")
    execution = run(box, workdir, THREADS)
    assert execution.ok, execution.tail()
    assert json.loads(execution.stdout) == {"as": -1, "threads": 60}


@pytest.mark.parametrize("name", ["bwrap-watch", "local"])
def test_the_address_space_limit_stays_where_only_the_watch_holds_memory(name: str, workdir: Path) -> None:
    """Without a cgroup the watch polls; RLIMIT_AS still stops one process's fast allocation,
    and a failure it likely caused says so in the notes."""
    require_backend(name.split("-")[0])
    box = BwrapSandbox(memory_cgroups=False) if name == "bwrap-watch" else require_backend("local")
    execution = run(box, workdir, THREADS)
    assert not execution.ok and "can't start new thread" in execution.stderr, execution.tail()
    assert any("RLIMIT_AS" in note for note in execution.notes), execution.notes


# --- open files --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["docker", "bwrap", "local"])
def test_open_files_are_capped(name: str, workdir: Path) -> None:
    """Measured before: one sandbox held 1.05M open files (60 processes x 19,990)."""
    script = """
    import json, os, resource
    fds = []
    try:
        while len(fds) < 10_000:
            fds.append(os.open("/dev/null", os.O_RDONLY))
        error = None
    except OSError as failure:
        error = failure.errno
    print(json.dumps({"limit": list(resource.getrlimit(resource.RLIMIT_NOFILE)), "opened": len(fds), "errno": error}))
    """
    limits = replace(LIMITS, open_files=1_000)
    execution = run(require_backend(name), workdir, script, limits)
    assert execution.ok, execution.tail()
    seen = json.loads(execution.stdout)
    assert seen["limit"] == [1_000, 1_000]
    assert seen["opened"] < 1_000 and seen["errno"] == 24  # EMFILE
    assert Limits().open_files == 4096
