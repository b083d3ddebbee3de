"""The heartbeat says what an experiment in flight is doing: waiting for the model, or evaluating.

Seen against a real local model: during turns 2 and 3 of an experiment, and while the model
server was frozen, `strop run` said `… between experiments for 140s (the next one, or the final
phase on the best)`; a resume said `starting for 20s` during a model call. A user could not tell
a model that generates from one that hangs, or from a slow evaluation.

The real CLI, the real loop and the real `openai` client against the scripted endpoint, which
answers slowly; stderr is read line by line while the call (or the evaluation) is in flight, each
line stamped with the time it arrived, and the stamps are checked against when the server got
the request and when it answered.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agent.llm.scripted_server import RecordedRequest, Reply, ScriptedServer
from tests.llm.support import git_workspace, llm_task_file

ROOT = Path(__file__).resolve().parents[2]
SLOW = 20.0  # seconds: the slow evaluation and the slow model reply; the heartbeat speaks after 10 s

# VALUE = 2 evaluates for SLOW seconds and then crashes: turn 1 fails, so turn 2 asks the model again
EVALUATOR = f"""
import json, time
import model
if model.VALUE == 2:
    time.sleep({SLOW})
    raise SystemExit("VALUE 2 crashes after a long evaluation")
print(json.dumps({{"score": model.VALUE}}))
"""


def edit(before: int, after: int) -> str:
    return (
        f"Plan: set VALUE to {after}.\n\nmodel.py\n```python\n<<<<<<< SEARCH\nVALUE = {before}\n"
        f"=======\nVALUE = {after}\n>>>>>>> REPLACE\n```\n"
    )


@dataclass
class Model:
    """Answers chat requests from a list of replies, noting when each request arrived."""

    replies: list[Reply]
    arrived: list[float] = field(default_factory=list)

    def __call__(self, request: RecordedRequest) -> Reply:
        self.arrived.append(time.monotonic())
        return self.replies.pop(0) if self.replies else Reply.error(400, "scripted server: script exhausted")


@dataclass
class Command:
    """The real CLI in a child process; its stderr lines, each with the time it was read."""

    process: subprocess.Popen[str]
    lines: list[tuple[float, str]] = field(default_factory=list)

    @classmethod
    def start(cls, *args: str) -> Command:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
        process = subprocess.Popen(
            [sys.executable, "-W", "ignore", "-c", "from agent.cli import main; main()", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        command = cls(process)
        threading.Thread(target=command._read, daemon=True).start()
        return command

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def wait(self, timeout: float = 240) -> int:
        try:
            return self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()

    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def between(self, start: float, end: float) -> list[str]:
        return [line for at, line in self.lines if start < at < end]


def task(tmp_path: Path, server: ScriptedServer, turn_limit: int) -> Path:
    workspace = git_workspace(tmp_path, {"model.py": "VALUE = 1\n", "evaluate.py": EVALUATOR})
    return llm_task_file(
        tmp_path,
        workspace,
        server,
        "phases",
        experiments=2,
        llm='answers = "text"\n',
        turns=f'turns = "fixed"\nturn_limit = {turn_limit}',
        timeout="2m",
        request_timeout="2m",
    )


@pytest.mark.slow
def test_the_heartbeat_tells_a_slow_evaluation_from_a_slow_model_on_turn_two(tmp_path: Path) -> None:
    """Experiment 1's turn 1 evaluates for 20 s, then its turn 2 waits 20 s for the model."""
    model = Model([Reply.text(edit(1, 2)), Reply.text(edit(2, 3), delay=SLOW)])
    with ScriptedServer(model) as server:
        command = Command.start("run", str(task(tmp_path, server, turn_limit=2)))
        code = command.wait()
        assert code == 0, command.text()
    assert len(model.arrived) == 2, command.text()
    first, second = model.arrived
    evaluating = command.between(first, second)  # turn 1's answer is in; turn 2 not asked yet
    assert any("experiment 1 (" in line and "): evaluating (" in line for line in evaluating), command.text()
    waiting = command.between(second, second + SLOW)  # turn 2's call is in flight
    assert any(
        "experiment 1 (" in line and "): waiting for the model (turn 2, " in line for line in waiting
    ), command.text()
    assert not any("between experiments" in line for line in waiting), command.text()
    assert "1 ok score = 3" in command.text() or "1 turn 2 ok score = 3" in command.text(), command.text()


@pytest.mark.slow
def test_a_resume_during_a_model_call_says_it_waits_for_the_model(tmp_path: Path) -> None:
    """A run killed while the model hung; its resume asks again, and the model takes 20 s."""
    model = Model([Reply.hang(300), Reply.text(edit(1, 3), delay=SLOW)])
    with ScriptedServer(model) as server:
        path = task(tmp_path, server, turn_limit=1)
        first = Command.start("run", str(path))
        deadline = time.monotonic() + 120
        while not model.arrived and time.monotonic() < deadline and first.process.poll() is None:
            time.sleep(0.2)
        assert model.arrived, first.text()
        time.sleep(1.0)  # the call is in flight: the checkpoint is the one before it
        first.process.send_signal(signal.SIGTERM)
        first.wait(60)
        started = [line for _, line in first.lines if " started · task phases" in line]
        assert started, first.text()
        run_id = started[0].split("run ", 1)[1].split()[0]
        again = Command.start("resume", run_id)
        code = again.wait()
        assert code == 0, again.text()
    assert len(model.arrived) == 2, again.text()
    asked = model.arrived[1]
    waiting = again.between(asked, asked + SLOW)
    assert any("experiment 1: waiting for the model (" in line for line in waiting), again.text()
    assert not any("starting for" in line for line in waiting), again.text()
    assert "1 ok score = 3" in again.text(), again.text()
