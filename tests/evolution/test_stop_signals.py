"""Ctrl-C, SIGTERM and SIGHUP end `strop evolve numerics|quant` cleanly: one line, no traceback, no worker left.

Before, a SIGTERM killed the command on the spot (its run left `running`, no word of what
was kept) and a terminal's Ctrl-C, which reaches the whole process group, made every pool
worker and the Z3 checker print a KeyboardInterrupt traceback. Now the command says what it
leaves (the run's Pareto points, the checkpoint's generation, the output files), closes its
run as `stopped`, takes its workers down and exits as `strop run` does: 130 after a Ctrl-C,
by the signal itself after a SIGTERM or SIGHUP (the nightly runner reads that status).
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

NUMERICS = [
    "numerics", "--fn", "exp", "--interval", "0.5,1", "--dtype", "float64", "--population", "6",
    "--islands", "1", "--max-cost", "2", "--workers", "2", "--cost-model", "ops", "--time", "60s",
]  # fmt: skip
QUANT = [
    "quant", "--model", "digits-mlp", "--budget-bits", "3.0", "--baselines", "none", "--workers", "2",
    "--population", "8", "--time", "60s",
]  # fmt: skip
TRACES = ("Traceback", "KeyboardInterrupt", "BrokenPipeError", "ConnectionResetError", "Exception ignored")


def _session(leader: int) -> list[int]:
    """The live (not zombie) processes of the session `leader` started."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == leader and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def _gone(leader: int, within: float = 3.0) -> list[int]:
    """The session's processes still alive after up to `within` seconds."""
    deadline = time.monotonic() + within
    while (left := _session(leader)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _interrupt(
    home: Path, args: list[str], ready: Callable[[str], bool], send: Callable[[int], None], after: float
) -> tuple[int, str, list[int]]:
    """Start `strop evolve ARGS`, wait until its stderr is `ready`, `after` seconds more, then `send`.

    Returns its status, its stderr and its session's processes still alive 3 s after it ended.
    """
    log = home.parent / "stderr.txt"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "evolve", *args],
            stdout=subprocess.DEVNULL,
            stderr=sink,
            env={**os.environ, "STROP_HOME": str(home), "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
            start_new_session=True,  # its own process group: a terminal's Ctrl-C reaches all of it
        )
        try:
            deadline = time.monotonic() + 90
            while not ready(log.read_text()):
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
            time.sleep(after)
            send(process.pid)
            code = process.wait(timeout=30)
            left = _gone(process.pid)
        finally:
            for pid in _session(process.pid):
                os.kill(pid, signal.SIGKILL)
    return code, log.read_text(), left


def _runs(home: Path) -> list[dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "runs", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "STROP_HOME": str(home), "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        timeout=60,
    )
    return json.loads(done.stdout)


def _ctrl_c(pid: int) -> None:
    os.killpg(pid, signal.SIGINT)  # what a terminal does: every process of the foreground group


def _sigterm(pid: int) -> None:
    os.kill(pid, signal.SIGTERM)  # what `kill`, systemd and the nightly runner do: the command alone


@pytest.mark.parametrize(
    ("send", "status"), [(_ctrl_c, 130), (_sigterm, -signal.SIGTERM)], ids=["ctrl-c", "sigterm"]
)
def test_a_stop_signal_mid_search_ends_evolve_numerics_with_one_line(
    tmp_path: Path, send: Callable[[int], None], status: int
) -> None:
    home, out = tmp_path / "home", tmp_path / "out"
    code, text, left = _interrupt(
        home, [*NUMERICS, "--out", str(out)], lambda log: "phase: search" in log, send, after=1.0
    )
    assert code == status, text
    assert not [word for word in TRACES if word in text], text
    assert left == [], f"processes outlived the command: {left}"
    (line,) = [line for line in text.splitlines() if line.startswith("interrupted: ")]
    (run,) = _runs(home)
    assert f"run {run['id']} " in line, line
    assert f"front's C and NumPy files in {out}: not written" in line, line
    assert not out.exists() or not any(out.iterdir())  # no half-written program file
    assert run["status"] == "stopped", run


def test_sigterm_ends_evolve_quant_with_its_checkpoint_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.evolution.sealed import unseal

    home, checkpoint = tmp_path / "home", tmp_path / "quant.ckpt"
    code, text, left = _interrupt(
        home,
        [*QUANT, "--checkpoint", str(checkpoint)],
        lambda log: "engine generation 0" in log,
        _sigterm,
        after=0.5,
    )
    assert code == -signal.SIGTERM, text
    assert not [word for word in TRACES if word in text], text
    assert left == [], f"processes outlived the command: {left}"
    (line,) = [line for line in text.splitlines() if line.startswith("interrupted: ")]
    (run,) = _runs(home)
    assert f"run {run['id']} keeps the " in line and f"`strop log {run['id']}`" in line, line
    assert run["status"] == "stopped", run
    said = int(line.split(f"{checkpoint} holds generation ")[1].split()[0])
    monkeypatch.setenv("STROP_HOME", str(home))  # the checkpoint is sealed with that home's key
    state = pickle.loads(unseal(checkpoint.read_bytes(), checkpoint))
    assert state.generation == said >= 0
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("quant.ckpt")] == [
        "quant.ckpt",
        "quant.ckpt.identity.json",
    ]  # no temporary file beside it
    assert "chosen config and its quantized weights: not written" in line, line
