"""A task's `mounts` may not hand candidates a host service's socket, a device, or the host's /proc.

A read-only bind stops writes, not `connect()`: `mounts = ["/tmp/x/pathsock"]` let candidate code
on docker and bwrap talk to the host service listening there (dockerd's socket would be root on
the host), and `mounts = ["/proc"]` replaced bubblewrap's own /proc with the host's (every host
process's command line). Such mounts are refused when the task is loaded, with the reason.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from agent.errors import TaskSpecError
from agent.task import load_task
from sandbox.mount_hazards import MOST_ENTRIES, host_hazard

TASK = """
[task]
name = "mounts"
goal = "g"
workspace = "ws"

[evaluator]
run = "true"
score = "python score.py"
scorer = "scorer"
metric = "score"
direction = "maximize"
mounts = [{mounts}]
"""


@pytest.fixture
def listening(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A folder holding a unix socket a host service listens on."""
    folder = tmp_path / "service"
    folder.mkdir()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(folder / "api.sock"))
    server.listen(1)
    yield folder
    server.close()


def _task(tmp_path: Path, *mounts: Path | str) -> Path:
    (tmp_path / "ws").mkdir(exist_ok=True)
    (tmp_path / "scorer").mkdir(exist_ok=True)
    (tmp_path / "scorer" / "score.py").write_text("print('{\"score\": 1}')\n")
    path = tmp_path / "task.toml"
    path.write_text(TASK.format(mounts=", ".join(f'"{mount}"' for mount in mounts)))
    return path


def test_a_socket_or_a_folder_holding_one_is_refused(tmp_path: Path, listening: Path) -> None:
    with pytest.raises(TaskSpecError, match=r"api\.sock is a unix socket: a read-only mount does not stop"):
        load_task(_task(tmp_path, listening / "api.sock"))
    with pytest.raises(TaskSpecError, match=r"holds a unix socket \(.*api\.sock\)"):
        load_task(_task(tmp_path, listening))


@pytest.mark.parametrize("host", ["/proc", "/dev", "/sys", "/run", "/proc/self", "/var/run"])
def test_the_hosts_own_trees_are_refused(tmp_path: Path, host: str) -> None:
    with pytest.raises(TaskSpecError, match=r"the host's /(proc|dev|sys|run)"):
        load_task(_task(tmp_path, host))


def test_a_data_folder_and_a_link_to_a_socket(tmp_path: Path, listening: Path) -> None:
    data = tmp_path / "data"
    (data / "train").mkdir(parents=True)
    (data / "train" / "x.csv").write_text("1\n")
    assert host_hazard(data) is None
    load_task(_task(tmp_path, data))  # accepted
    (tmp_path / "alias").symlink_to(listening / "api.sock")
    assert "unix socket" in (host_hazard(tmp_path / "alias") or "")
    (data / "inner-link").symlink_to(
        listening / "api.sock"
    )  # not followed: inside the sandbox it leads nowhere
    assert host_hazard(data) is None
    assert MOST_ENTRIES >= 10_000


def test_data_in_shared_memory_is_a_mount_like_any_folder(tmp_path: Path) -> None:
    """/dev/shm is in /dev, but a dataset kept there for fast loading is no device."""
    import tempfile

    with tempfile.TemporaryDirectory(dir="/dev/shm") as shm:
        (Path(shm) / "x.csv").write_text("1\n")
        assert host_hazard(Path(shm)) is None
        load_task(_task(tmp_path, shm))


def test_a_shallow_socket_is_found_beside_a_big_deep_folder(tmp_path: Path) -> None:
    """Depth first, a folder of more than `MOST_ENTRIES` files listed before the socket's folder
    hid it: a home folder's `.cache` before `.docker/desktop/docker.sock`."""
    home = tmp_path / "home"
    cache = home / "aaa" / "cache"
    cache.mkdir(parents=True)
    for number in range(MOST_ENTRIES + 1):
        (cache / f"{number}").touch()
    (home / "zzz").mkdir()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(home / "zzz" / "docker.sock"))
    try:
        assert "unix socket" in (host_hazard(home) or "")
    finally:
        server.close()
