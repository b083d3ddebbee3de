"""The supervising parent of a run on Ray: a child Ray (or anything native) ends under Python still
ends with strop's one line and exit 2; one that ends through Python ends as it did, silently."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from agent.cli.supervise import (
    Ending,
    last_word,
    resume_ray_address,
    run_ray_address,
    supervised,
)

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = """
import os, signal, sys, time
from pathlib import Path
from agent.cli.supervise import announce, supervised

supervised(["go"], lambda: {address!r})
announce("r1")
{body}
"""


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def _program(tmp_path: Path, body: str, address: str) -> list[str]:
    script = tmp_path / "driver.py"
    script.write_text(PROGRAM.format(address=address, body=body))
    return [sys.executable, str(script), "go"]


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)


def test_a_child_ended_under_python_while_its_cluster_is_gone_is_one_line_naming_the_run(
    tmp_path: Path,
) -> None:
    done = _run(_program(tmp_path, "os._exit(1)", _closed_port()))
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the run stopped: the Ray cluster at 127.0.0.1:")
    assert "stopped answering" in lines[0] and "`strop resume r1` continues" in lines[0]
    assert "--executor local" in lines[0]


def test_a_child_ended_under_python_with_its_cluster_up_names_how_and_the_run(tmp_path: Path) -> None:
    with socket.socket() as head:  # something answers at the head's address
        head.bind(("127.0.0.1", 0))
        head.listen()
        address = f"127.0.0.1:{head.getsockname()[1]}"
        done = _run(_program(tmp_path, "os.kill(os.getpid(), signal.SIGSEGV)", address))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: the run stopped: strop's process ended under Python (killed by SIGSEGV); "
        "`strop resume r1` continues it"
    ]


def test_a_child_that_exits_through_python_ends_the_parent_as_it_did_and_silently(tmp_path: Path) -> None:
    done = _run(_program(tmp_path, "print('out'); sys.exit(1)", _closed_port()))
    assert done.returncode == 1
    assert done.stderr == "" and done.stdout == "out\n"  # stdout is the child's own, untouched


def test_sigterm_to_the_parent_reaches_the_child(tmp_path: Path) -> None:
    marker = tmp_path / "got"
    body = (
        f"signal.signal(signal.SIGTERM, lambda *_: (Path({str(marker)!r}).write_text('term'), sys.exit(7)))\n"
        f"Path({str(tmp_path / 'ready')!r}).write_text('')\n"
        "time.sleep(60)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen(_program(tmp_path, body, _closed_port()), env=env, stderr=subprocess.PIPE)
    _wait_for(tmp_path / "ready")
    parent.send_signal(signal.SIGTERM)
    _, stderr = parent.communicate(timeout=30)
    assert marker.read_text() == "term" and parent.returncode == 7 and stderr == b""


def test_a_child_ended_by_the_forwarded_sigterm_ends_the_parent_by_it_too(tmp_path: Path) -> None:
    """The nightly runner reads -15 for a strop it sent SIGTERM."""
    body = f"Path({str(tmp_path / 'ready')!r}).write_text('')\ntime.sleep(60)"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen(_program(tmp_path, body, _closed_port()), env=env, stderr=subprocess.PIPE)
    _wait_for(tmp_path / "ready")
    parent.send_signal(signal.SIGTERM)
    _, stderr = parent.communicate(timeout=30)
    assert parent.returncode == -signal.SIGTERM and stderr == b""


def test_a_parent_killed_outright_takes_its_child_along(tmp_path: Path) -> None:
    """`kill -9` of the strop a user sees ends the run, as it did: no orphan keeps the run's lock."""
    pid_file = tmp_path / "ready"
    body = f"Path({str(pid_file)!r}).write_text(str(os.getpid()))\ntime.sleep(60)"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen(_program(tmp_path, body, _closed_port()), env=env)
    _wait_for(pid_file)
    child = int(pid_file.read_text())
    parent.kill()
    parent.wait(timeout=30)
    end = time.monotonic() + 10
    while _alive(child):
        assert time.monotonic() < end, "the child outlived its parent"
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except OSError:
        return False


def test_ctrl_c_reaches_the_child_alone_and_the_parent_ends_as_it_does(tmp_path: Path) -> None:
    """A terminal sends SIGINT to the whole group: the parent waits for the child's own word."""
    body = (
        f"Path({str(tmp_path / 'ready')!r}).write_text('')\n"
        "try:\n    time.sleep(60)\n"
        "except KeyboardInterrupt:\n    print('interrupted: run r1 stops here', file=sys.stderr); sys.exit(130)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen(
        _program(tmp_path, body, _closed_port()), env=env, stderr=subprocess.PIPE, start_new_session=True
    )
    _wait_for(tmp_path / "ready")
    os.killpg(parent.pid, signal.SIGINT)
    _, stderr = parent.communicate(timeout=30)
    assert parent.returncode == 130 and stderr == b"interrupted: run r1 stops here\n"


def _wait_for(path: Path) -> None:
    end = time.monotonic() + 30
    while not path.exists():
        assert time.monotonic() < end, "the child never started"
        time.sleep(0.02)


def test_the_line_for_a_lost_cluster_is_the_one_the_loop_gives_a_cluster_gone() -> None:
    from agent.executors.cluster import ClusterGone
    from agent.loop.graph import _resume_advice

    gone = "the Ray cluster at 10.0.0.1:6379 stopped answering"
    line = last_word(Ending(1, run_id="r1"), "10.0.0.1:6379", reachable=lambda _: False)
    assert line == f"the run stopped: {gone}; {_resume_advice(ClusterGone(gone), 'r1')}"


def test_a_child_that_said_it_exited_needs_no_word() -> None:
    assert last_word(Ending(1, run_id="r1", exited=True), "10.0.0.1:6379", reachable=lambda _: False) is None


def test_only_a_command_on_ray_is_supervised(tmp_path: Path) -> None:
    local = tmp_path / "local"
    local.mkdir()
    (local / "task.toml").write_text('[search]\nstrategy = "greedy"\n')
    on_ray = tmp_path / "ray.toml"
    on_ray.write_text('[search]\nexecutor = "ray"\n')
    assert run_ray_address(None, None, local) is None
    assert run_ray_address("local", None, on_ray) is None  # the flag wins
    assert run_ray_address(None, None, on_ray) == "auto"
    assert run_ray_address("ray", None, local) == "auto"
    assert run_ray_address(None, "10.0.0.1:6379", None) == "10.0.0.1:6379"
    assert run_ray_address(None, None, tmp_path / "missing") is None


def test_resume_follows_the_run_s_saved_executor(tmp_path: Path) -> None:
    from agent.home import strop_home
    from agent.records import Direction, RunRecord
    from agent.run_index import RunIndex

    task = tmp_path / "task.toml"
    task.write_text('[search]\nexecutor = "ray"\naddress = "10.0.0.2:6379"\n')
    index = RunIndex(strop_home())
    index.put_run(RunRecord("abc123", "t", str(task), "/r", "/w", "main", "c0", "score", Direction.MAXIMIZE))
    assert resume_ray_address(None, None, "abc123") == "10.0.0.2:6379"  # the task's, saved nothing
    folder = strop_home() / "runs" / "abc123"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "overrides.json").write_text('{"executor": {"kind": "local", "address": null}}')
    assert resume_ray_address(None, None, "abc123") is None  # resumed once with --executor local
    (folder / "overrides.json").write_text('{"executor": {"kind": "ray", "address": "10.0.0.1:6379"}}')
    assert resume_ray_address(None, None, "abc123") == "10.0.0.1:6379"
    assert resume_ray_address("local", None, "abc123") is None
    assert resume_ray_address(None, None, "nosuchrun") is None  # the command itself says so


def test_an_in_process_call_is_never_supervised() -> None:
    """A test calling the command through typer's runner: this process's argv is not the command."""
    assert supervised(["run"], lambda: "127.0.0.1:1") is None


def test_a_task_file_nested_too_deeply_is_one_line_through_the_supervisor_check(tmp_path: Path) -> None:
    """`strop run` reads the task's `[search]` before anything to know whether it drives Ray; a task
    file nested past tomllib's recursion made that read an internal error instead of the one line."""
    task = tmp_path / "task.toml"
    task.write_text('[task]\nname = "deep"\n[extra]\nx = ' + "[" * 5000 + "]" * 5000 + "\n")
    env = {**os.environ, "STROP_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "run", str(task)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert (
        "nest too deeply" in done.stderr
        and "Traceback" not in done.stderr
        and "internal error" not in done.stderr
    )
