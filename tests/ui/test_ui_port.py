"""`strop ui` on a port something already listens on: one line, exit 2 (uvicorn logged
`ERROR: [Errno 98]` and exited 3)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "agent.cli", "ui", "--port", str(port)],
            env={**os.environ, "STROP_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        f"error: cannot listen on 127.0.0.1:{port}: something already listens there; give another --port"
    )
