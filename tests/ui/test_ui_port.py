"""`strop ui` on a port something already listens on: one line, exit 2 (uvicorn logged
`ERROR: [Errno 98]` and exited 3)."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _ui(tmp_path, "--port", str(port))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        f"error: cannot listen on 127.0.0.1:{port}: something already listens there; give another --port"
    )


def _ui(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`strop ui ARGS` in a fresh interpreter and home, as a user starts it."""
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", "ui", *args],
        env={**os.environ, "STROP_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _not_here(address: str) -> bool:
    """Whether this machine lacks `address` (a documentation address no machine should have).

    False when it has it, or cannot speak the address's family at all: the case is then
    untestable here (a skip that says so), not a failure of strop's."""
    try:
        probe = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET)
    except OSError:  # no IPv6 on this machine
        return False
    with probe:
        try:
            probe.bind((address, 0))
        except OSError as error:
            return error.errno == errno.EADDRNOTAVAIL
    return False


@pytest.mark.parametrize(
    ("host", "said"),
    [
        (
            "192.0.2.1",
            "cannot listen on 192.0.2.1:{port}: this machine has no such address; give one of its own",
        ),
        ("2001:db8::1", "cannot listen on [2001:db8::1]:{port}: this machine has no such address"),
        ("no-such-host.invalid", "cannot listen on no-such-host.invalid:{port}: no address is known for"),
    ],
)
def test_an_address_this_machine_lacks_is_one_line_with_its_reason(
    tmp_path: Path, host: str, said: str
) -> None:
    """It printed the token URL as if serving, uvicorn's ERROR line, then a wrong guess: "(in use?)"."""
    if host[0].isdigit() and not _not_here(host):
        # the case needs an address this machine lacks; one that owns a documentation address,
        # or has no IPv6 at all, cannot show it (never so on CI machines seen so far)
        pytest.skip(f"this machine owns {host}, or cannot bind its address family: nothing to refuse")
    port = 18767
    done = _ui(tmp_path, "--host", host, "--port", str(port))
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""  # no URL, no token: nothing is served
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: " + said.format(port=port)), done.stderr


def test_an_ipv6_address_is_printed_in_brackets_as_a_browser_reads_it(tmp_path: Path) -> None:
    """`http://::1:8797/` was printed: no browser opens that; `http://[::1]:8797/` it does."""
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
            port = probe.getsockname()[1]
    except OSError:
        pytest.skip("this machine has no IPv6 loopback: the URL cannot be served here")
    server = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "ui", "--host", "::1", "--port", str(port)],
        env={**os.environ, "STROP_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
    finally:
        server.terminate()
        server.communicate(timeout=30)
    assert f"strop ui on http://[::1]:{port}/ " in first, first
