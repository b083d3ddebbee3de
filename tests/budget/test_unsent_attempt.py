"""An attempt whose model call the token budget cannot pay for is not sent, and not an experiment.

It was recorded as a rejected experiment: `strop log` said "3 ok, 1 rejected (4 attempts)" and
the budget line "every attempt counted, the 1 rejected too" of an attempt that sent nothing,
cost nothing and changed nothing. Now the run stops naming the budget and records nothing for
it. Real loop, real git, the real CLI in a subprocess, the scripted endpoint on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from agent.llm.scripted_server import RecordedRequest, Reply, ScriptedServer
from agent.loop import Overrides, resume_run, start_run
from agent.loop.audit import audit_run
from agent.run_index import RunIndex
from agent.task import load_task
from evaluators.verdict import Status
from tests.llm.support import llm_task_file

ROOT = Path(__file__).resolve().parents[2]
REFUSED = re.compile(
    r"^token budget: \d+ tokens left cannot pay for a prompt of about \d+ tokens .*; not sent$"
)


def raise_value(request: RecordedRequest) -> Reply:
    """VALUE up by one, each call reported as 1000 + 200 tokens."""
    found = re.findall(r"VALUE = (\d+)", request.prompt)
    value = int(found[-1]) if found else 1
    return Reply.text(
        f"Raise VALUE.\n\nmodel.py\n```python\n<<<<<<< SEARCH\nVALUE = {value}\n=======\n"
        f"VALUE = {value + 1}\n>>>>>>> REPLACE\n```\n",
        prompt_tokens=1000,
        completion_tokens=200,
    )


def strop(home: Path, *args: str) -> str:
    env = {**os.environ, "STROP_HOME": str(home), "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_an_attempt_the_token_budget_cannot_pay_for_is_no_experiment(
    tmp_path: Path, workspace: Path, index: RunIndex, isolated_home: Path
) -> None:
    with ScriptedServer(raise_value) as server:
        path = llm_task_file(tmp_path, workspace, server, "unsent", 50)
        path.write_text(path.read_text().replace("[budget]\n", "[budget]\ntokens = 2600\n"))
        result = start_run(load_task(path), isolated_home, index)
        sent = len(server.completions)
        # more experiments change nothing: the budget still cannot pay, nothing is sent or recorded
        resumed = resume_run(result.run_id, isolated_home, index, experiments=10)
        sent_after = len(server.completions)
    assert sent == sent_after == 2
    for ran in (result, resumed):
        assert [(r.id, r.status) for r in ran.records] == [(0, Status.OK), (1, Status.OK), (2, Status.OK)]
        assert REFUSED.match(ran.stop_reason), ran.stop_reason
    assert audit_run(result.run_id, isolated_home, index) == []
    log = (isolated_home / "runs" / result.run_id / "run.log").read_text()
    assert "experiment 3 not evaluated and not recorded: its model call was not sent (token budget: " in log

    shown = strop(isolated_home, "log", result.run_id)
    assert "rejected" not in shown and "stopped by the run's budget" not in shown, shown
    assert "experiments: 3 ok (3 attempts)" in shown, shown
    listed = json.loads(strop(isolated_home, "log", result.run_id, "--json"))
    assert [e["id"] for e in listed["experiments"]] == [0, 1, 2]


def test_a_lane_the_budget_cannot_pay_for_is_left_out_the_others_kept(
    tmp_path: Path, workspace: Path, index: RunIndex, isolated_home: Path
) -> None:
    """Two lanes: the last batch's first call is paid for, the second not: one experiment more."""
    with ScriptedServer(raise_value) as server:
        path = llm_task_file(tmp_path, workspace, server, "lanes", 50, parallel=2, llm="concurrency = 1\n")
        path.write_text(path.read_text().replace("[budget]\n", "[budget]\ntokens = 4000\n"))
        result = start_run(load_task(path), isolated_home, index, Overrides(parallel=2))
        sent = len(server.completions)
    assert sent == 3
    assert [r.id for r in result.records] == [0, 1, 2, 3]
    assert all(r.status is Status.OK for r in result.records), [r.status for r in result.records]
    assert REFUSED.match(result.stop_reason), result.stop_reason
    assert audit_run(result.run_id, isolated_home, index) == []
