"""`strop ui` without a token answers the user who started it, not another local user.

On 127.0.0.1 it served one user's runs, logs and diffs to every local user over HTTP, though
the user's home kept them from those users. Now a connection whose socket another uid owns
is refused (403, one line saying how to share with a token); the owner's own curl and
browser still need no token, and a token lets anyone holding it in.

The real CLI serves on a free port; "another user" is a real uid (nobody): a client that
imports what it needs, drops to that uid with os.setuid, then speaks HTTP (root only).
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.ui import peer
from tests.ui.conftest import cli, free_port, wait_for

NOBODY = 65534
TOKEN = "s" * 24

AS_ANOTHER_USER = f"""
import encodings.idna, http.client, sys, os  # all imported before the switch: the runtime may lie under /root
url_port, path, forwarded = int(sys.argv[1]), sys.argv[2], sys.argv[3]
os.setgroups([])
os.setgid({NOBODY})
os.setuid({NOBODY})
connection = http.client.HTTPConnection("127.0.0.1", url_port, timeout=20)
connection.request("GET", path, headers={{"X-Forwarded-For": forwarded}} if forwarded else {{}})
answer = connection.getresponse()
print(answer.status)
print(answer.read().decode(), end="")
"""


def _as_another_user(base: str, path: str = "/", forwarded: str = "") -> tuple[int, str]:
    """GET `path` from the UI at `base` over a socket that uid `NOBODY` opens; (status, body)."""
    if os.getuid() != 0:
        pytest.skip("needs root: switches to another uid to be another user")
    port = base.rsplit(":", 1)[1]
    done = subprocess.run(
        [sys.executable, "-c", AS_ANOTHER_USER, port, path, forwarded],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    status, _, body = done.stdout.partition("\n")
    return int(status), body


def test_the_owner_s_own_client_needs_no_token(serve_ui: Callable[..., str]) -> None:
    base = serve_ui()
    with urllib.request.urlopen(base + "/", timeout=10) as answer:
        assert answer.status == 200


def test_another_user_is_refused_in_one_line(serve_ui: Callable[..., str]) -> None:
    base = serve_ui()
    status, body = _as_another_user(base)
    assert status == 403, body
    assert body.count("\n") == 1 and "runs to that user only" in body, body
    assert f"uid {os.geteuid()})'s runs" in body and "this connection is" in body and "uid 65534" in body, (
        body
    )
    assert "--token TOKEN and gives the URL ending ?token=TOKEN" in body, body
    status, _ = _as_another_user(base, "/static/favicon.svg")  # every route, not only the pages
    assert status == 403


def test_another_user_holding_the_token_is_let_in() -> None:
    port = free_port()
    served = subprocess.Popen(cli("ui", "--port", str(port), "--token", TOKEN), stdout=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/?token={TOKEN}")
        assert _as_another_user(base, f"/?token={TOKEN}")[0] == 200
        assert _as_another_user(base)[0] == 401
    finally:
        served.terminate()
        served.wait(timeout=10)


def test_naming_the_owner_s_connection_in_x_forwarded_for_does_not_pass(serve_ui: Callable[..., str]) -> None:
    """uvicorn takes the client's address from X-Forwarded-For on a loopback connection: naming
    the port of the owner's open connection would make the request look like the owner's."""
    base = serve_ui()
    host, port = base.removeprefix("http://").split(":")
    mine = http.client.HTTPConnection(host, int(port), timeout=10)
    mine.request("GET", "/")
    assert mine.getresponse().read() and mine.sock is not None  # kept open: its row says the owner's uid
    owned = "{}:{}".format(*mine.sock.getsockname())
    try:
        status, body = _as_another_user(base, "/", forwarded=owned)
    finally:
        mine.close()
    assert status == 403 and "X-Forwarded-For" in body, body


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6])
def test_the_owner_of_a_real_socket_is_found(family: socket.AddressFamily) -> None:
    address = "127.0.0.1" if family == socket.AF_INET else "::1"
    try:
        server = socket.socket(family)
        server.bind((address, 0))
    except OSError:
        pytest.skip(f"no {address} here")
    with server, socket.socket(family) as client:
        server.listen()
        client.connect(server.getsockname()[:2])
        accepted, _ = server.accept()
        with accepted:
            here, there = client.getsockname()[:2], server.getsockname()[:2]
            assert peer.socket_owner(here, there) == os.geteuid()
            assert peer.socket_owner(there, here) == os.geteuid()  # the server's side of it
            assert peer.socket_owner(here, (address, 1)) is None  # no such connection


def test_where_no_table_can_be_read_the_peer_is_unknowable(tmp_path: Path) -> None:
    with pytest.raises(peer.Unknowable):
        peer.socket_owner(("127.0.0.1", 1), ("127.0.0.1", 2), (tmp_path / "tcp", tmp_path / "tcp6"))
    with pytest.raises(peer.Unknowable):  # Starlette's in-process test client: no socket at all
        peer.socket_owner(("testclient", 50000), ("testserver", 80))
