"""A run a configuration error stopped says so in its record, and resumes once it is fixed.

The endpoint answered 404 (a wrong base_url or model): the run stopped with one line, but its
record still said `running`, so `strop runs` and `strop log` called it "interrupted: no strop
process is running it (killed or crashed)", the reason only a note in run.log. Real loop, real
git, the real CLI in a subprocess, the scripted endpoint on 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.llm.errors import LLMConfigError
from agent.llm.scripted_server import RecordedRequest, Reply, ScriptedServer
from agent.loop import resume_run, start_run
from agent.loop.events import RunStarted
from agent.loop.graph import Overrides, _elapsed_so_far
from agent.run import Run
from agent.run_index import RunIndex
from agent.task import load_task
from evaluators.verdict import Status
from tests.llm.support import git_workspace, llm_task_file

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def index(isolated_home: Path) -> Iterator[RunIndex]:
    opened = RunIndex(isolated_home)
    yield opened
    opened.close()


def strop(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STROP_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_a_run_stopped_by_a_404_says_why_and_resumes_once_fixed(
    tmp_path: Path, index: RunIndex, isolated_home: Path
) -> None:
    evaluate = 'import json, model\nprint(json.dumps({"score": model.VALUE}))\n'
    workspace = git_workspace(tmp_path, {"model.py": "VALUE = 1\n", "evaluate.py": evaluate})
    wrong = threading.Event()
    wrong.set()

    def endpoint(request: RecordedRequest) -> Reply:
        return Reply.error(404, "no such route") if wrong.is_set() else Reply.text("The code is fine.")

    with ScriptedServer(endpoint) as server:
        task = load_task(llm_task_file(tmp_path, workspace, server, "failed", 3))
        with pytest.raises(LLMConfigError):
            start_run(task, isolated_home, index)
        run = index.runs()[0]
        assert run.status == "failed" and run.finished, run
        assert run.stop_reason.startswith("HTTP 404: not found"), run.stop_reason
        assert run.stop_reason.endswith(f"fix it, then `strop resume {run.id}`")

        listed = json.loads(strop(isolated_home, "runs", "--json").stdout)
        assert [(r["status"], r["interrupted"], r["stop_reason"]) for r in listed] == [
            ("failed", False, run.stop_reason)
        ]
        table = strop(isolated_home, "runs").stdout
        assert "interrupted" not in table and f"{run.id} failed: HTTP 404: not found" in table, table
        log = strop(isolated_home, "log", run.id).stdout
        assert "killed or crashed" not in log and "failed: HTTP 404: not found" in log, log
        assert json.loads(strop(isolated_home, "log", run.id, "--json").stdout)["status"] == "failed"
        audit = strop(isolated_home, "audit", run.id).stdout
        assert "run status is 'failed' (an error stopped it: HTTP 404" in audit, audit
        assert "wait for it to end" not in audit  # no process is left to wait for

        wrong.clear()  # the endpoint fixed: a plain resume continues where it stopped
        resumed = resume_run(run.id, isolated_home, index)
    assert resumed.status == "done" and resumed.stop_reason == "experiment budget spent: 3 of 3"
    assert [r.id for r in resumed.records] == [0, 1, 2]


def test_a_run_an_error_stopped_mid_batch_keeps_the_time_it_ran(
    tmp_path: Path, index: RunIndex, isolated_home: Path
) -> None:
    """The loop counts its time at each budget decision: a key refused after two good replies
    dropped the seconds since (here the refused call's 3 s), so its resume had that much more of
    the run's time than was left, and `strop resume --time` counted from too early."""
    evaluate = 'import json, model\nprint(json.dumps({"score": model.VALUE}))\n'
    workspace = git_workspace(tmp_path, {"model.py": "VALUE = 1\n", "evaluate.py": evaluate})
    answered: list[int] = []

    def endpoint(request: RecordedRequest) -> Reply:
        if not request.path.endswith("/chat/completions"):
            return Reply.text("ok")  # `GET /models`: the endpoint answers
        if len(answered) == 2:  # every call after two good replies: refused, after 3 s
            return dataclasses.replace(Reply.error(401, "invalid api key"), delay=3.0)
        answered.append(1)
        value = len(answered)
        return Reply.text(
            f"Raise VALUE.\n\nmodel.py\n```python\n<<<<<<< SEARCH\nVALUE = {value}\n=======\n"
            f"VALUE = {value + 1}\n>>>>>>> REPLACE\n```\n"
        )

    events: list[object] = []
    with ScriptedServer(endpoint) as server:
        task = load_task(llm_task_file(tmp_path, workspace, server, "lost-time", 5, max_retries=0))
        started = time.time()
        with pytest.raises(LLMConfigError):
            start_run(task, isolated_home, index, Overrides(time=300.0), started=started)
        ran = time.time() - started
        run = index.runs()[0]
        assert run.status == "failed" and [r.status for r in index.experiments(run.id)] == [Status.OK] * 3
        kept = _elapsed_so_far(Run.reopen(run.id, isolated_home, index))
        assert ran - 1.5 <= kept <= ran, (kept, ran)  # the refused call's 3 s included

        with pytest.raises(LLMConfigError):  # the key still refused: the resume stops on it again
            resume_run(run.id, isolated_home, index, sink=events.append)
    (banner,) = [event for event in events if isinstance(event, RunStarted)]
    said = re.search(r"time left: (\d+)s", banner.budget)
    assert said is not None and int(said.group(1)) <= 300 - ran + 1.5, (banner.budget, ran)
