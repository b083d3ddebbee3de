"""Fixtures for the UI tests: a small live task, and `strop ui` served by the real CLI on a free port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

EVALUATOR = textwrap.dedent(
    """
    import json, os, time
    p = json.load(open("params.json"))
    time.sleep(float(os.environ.get("EVAL_SLEEP", "0")))
    print(json.dumps({"score": -(p["x"] - 1.5) ** 2 - (p["n"] - 12) ** 2 / 16}))
    """
)

TASK = """
[task]
name = "live"
goal = "Maximise score."

[evaluator]
command = "python evaluate.py"
metric = "score"
direction = "maximize"
timeout = "30s"
sandbox = "local"
files = ["evaluate.py"]
env = {{ EVAL_SLEEP = "{sleep}" }}

[budget]
experiments = {experiments}

[space]
x = {{ type = "float", low = -5, high = 5 }}
n = {{ type = "int", low = 1, high = 21 }}

[knowledge]
memory = false
"""


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True, capture_output=True
    )


def make_live_task(root: Path, experiments: int = 10, sleep: float = 0.0) -> Path:
    """A git repo whose task improves params.json; each evaluation sleeps `sleep` seconds."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "evaluate.py").write_text(EVALUATOR)
    (root / "params.json").write_text(json.dumps({"x": -4.0, "n": 2}))
    (root / "task.toml").write_text(TASK.format(experiments=experiments, sleep=sleep))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "initial")
    return root / "task.toml"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "agent.cli", *args]


@pytest.fixture
def serve_ui() -> Iterator[Callable[..., str]]:
    """Start `strop ui` (the real CLI) on a free port; returns its base URL. Stopped after the test."""
    started: list[subprocess.Popen[str]] = []

    def serve(*extra: str) -> str:
        port = free_port()
        process = subprocess.Popen(
            cli("ui", "--port", str(port), *extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(process)
        base = f"http://127.0.0.1:{port}"
        wait_for(base + "/")
        return base

    yield serve
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def environment() -> dict[str, str]:
    return dict(os.environ)
