"""An endpoint that does not answer, and what auto mode asks an endpoint that does.

Real CLI, real loop, real git, real `openai` client against the scripted server on 127.0.0.1;
the endpoint that is down is a port bound and not listening (the connection is refused), and
the server that comes back comes back on that port.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.llm import ChatMessage, LLMClient
from agent.llm.endpoint import PROBE_VALUE
from agent.llm.scripted_server import RecordedRequest, Reply, ScriptedServer
from agent.loop import start_run
from agent.proposers.llm import LLMProposer
from agent.records import Cost
from agent.run import Candidate
from agent.run_index import RunIndex
from agent.task import LLMSpec, load_task
from evaluators.verdict import Status
from tests.llm.support import git_workspace, llm_task_file

ROOT = Path(__file__).resolve().parents[2]
DOWN = "does not answer (connection refused; is the server running?)"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    evaluate = 'import json, model\nprint(json.dumps({"score": model.VALUE}))\n'
    return git_workspace(tmp_path, {"model.py": "VALUE = 1\n", "evaluate.py": evaluate})


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but not listening, held for the test: connecting to it is refused at once."""
    held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    held.bind(("127.0.0.1", 0))
    yield held.getsockname()[1]
    held.close()


@pytest.fixture
def index(isolated_home: Path) -> Iterator[RunIndex]:
    opened = RunIndex(isolated_home)
    yield opened
    opened.close()


class Down:
    """Stands for a server in `llm_task_file`: only its URL, where nothing listens."""

    def __init__(self, port: int) -> None:
        self.base_url = f"http://127.0.0.1:{port}/v1"


def strop(home: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", "STROP_HOME": str(home)}
    command = [sys.executable, "-W", "ignore", "-m", "agent.cli", *args]
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    return done, time.monotonic() - started


def recorded(home: Path, run_id: str) -> tuple[str, list[Status]]:
    """The run's status and its experiments' statuses, as the index has them."""
    opened = RunIndex(home)
    try:
        return opened.find_run(run_id).status, [r.status for r in opened.experiments(run_id)]
    finally:
        opened.close()


def schema_of(request: RecordedRequest) -> dict | None:
    fmt = (request.body or {}).get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return fmt["json_schema"]["schema"]
    return fmt.get("schema") if fmt.get("type") == "json_object" else None


def raise_value(request: RecordedRequest) -> Reply:
    """A model that writes code: VALUE up by one (the probe's schema is ignored: plain text)."""
    found = re.findall(r"VALUE = (\d+)", request.prompt)
    value = int(found[-1]) if found else 1
    return Reply.text(
        f"Raise VALUE.\n\nmodel.py\n```python\n<<<<<<< SEARCH\nVALUE = {value}\n=======\n"
        f"VALUE = {value + 1}\n>>>>>>> REPLACE\n```\n"
    )


def test_a_run_and_its_resume_with_the_endpoint_down_stop_at_once_and_burn_nothing(
    tmp_path: Path, workspace: Path, closed_port: int, isolated_home: Path
) -> None:
    """It took 64 s to stop, 4 experiments rejected on failed calls; the resume, server still down,
    ran the rest of the budget the same way and ended `done`, exit 0."""
    task = llm_task_file(
        tmp_path, workspace, Down(closed_port), "down", 3, request_timeout="5s", max_retries=4
    )
    url = f"http://127.0.0.1:{closed_port}/v1"

    ran, _ = strop(isolated_home, "run", str(task))
    assert ran.returncode == 2, ran.stderr
    assert f"the LLM endpoint at {url} {DOWN}" in ran.stderr and "Traceback" not in ran.stderr
    run_id = re.findall(r"`strop resume (\S+)`", ran.stderr)[-1]
    assert recorded(isolated_home, run_id) == ("failed", [])  # not even experiment 0

    again, seconds = strop(isolated_home, "resume", run_id)
    assert again.returncode == 2, again.stderr
    assert f"the LLM endpoint at {url} {DOWN}" in again.stderr and f"`strop resume {run_id}`" in again.stderr
    assert "done" not in again.stderr + again.stdout and seconds < 60
    assert recorded(isolated_home, run_id) == ("failed", [])

    # the server comes back where it was: the same resume continues the run
    with ScriptedServer(raise_value, port=closed_port):
        fixed, _ = strop(isolated_home, "resume", run_id)
    assert fixed.returncode == 0, fixed.stderr
    status, statuses = recorded(isolated_home, run_id)
    assert status == "done" and statuses == [Status.OK] * 3


def test_the_probe_says_unreachable_and_asks_again_once_the_endpoint_answers(
    tmp_path: Path, workspace: Path, closed_port: int
) -> None:
    """`json_schema: refused (endpoint unavailable)`, kept for the rest of the process: plain text
    for good, though nothing had refused anything."""
    task = load_task(llm_task_file(tmp_path, workspace, Down(closed_port), "probe", 3, max_retries=0))
    proposer = LLMProposer(task)
    try:
        first = Candidate(idea="", proposer="llm")
        assert not proposer._capabilities(first).structured
        line = first.decisions[-1]
        assert "json_schema: unreachable (connection refused)" in line and "refused (" not in line
        assert "probed again later" in line and proposer.caps is None

        def constrained(request: RecordedRequest) -> Reply:
            return Reply.text(json.dumps({"probe": PROBE_VALUE}))

        with ScriptedServer(constrained, port=closed_port):
            second = Candidate(idea="", proposer="llm")
            assert proposer._capabilities(second).structured
        assert "endpoint probe: structured answers (json_schema)" in second.decisions[-1]
        assert proposer.caps is not None and proposer.caps.structured  # kept: the endpoint answered
    finally:
        proposer.close()


def test_auto_without_a_space_probes_and_switches_to_structured_edits(
    tmp_path: Path, workspace: Path, index: RunIndex, isolated_home: Path
) -> None:
    """With no [space], two failed text attempts repeated `answers as text (auto: 2 code attempts
    in a row gave no usable edit)` for ever: the endpoint was never probed."""

    def respond(request: RecordedRequest) -> Reply:
        schema = schema_of(request) or {}
        if "probe" in schema.get("properties", {}):
            return Reply.text(json.dumps({"probe": PROBE_VALUE}))
        if "edits" in schema.get("properties", {}):
            edit = {"path": "model.py", "search": "VALUE = 1", "replace": "VALUE = 5"}
            return Reply.text(json.dumps({"idea": "VALUE to 5", "edits": [edit]}))
        return Reply.text("The code looks fine to me.")

    with ScriptedServer(respond) as server:
        task = load_task(llm_task_file(tmp_path, workspace, server, "auto", 4, llm="fallback_after = 0"))
        result = start_run(task, isolated_home, index)
    made = [(r.mode, r.status) for r in result.records[1:]]
    assert made == [("text", Status.REJECTED), ("text", Status.REJECTED), ("structured", Status.OK)]
    decisions = "\n".join(result.records[3].decisions)
    assert "endpoint probe: structured answers (json_schema)" in decisions
    assert (
        "llm: answers as structured (auto: 2 code attempts in a row gave no usable edit; the endpoint "
        "enforces a JSON schema: structured edits)"
    ) in decisions
    assert result.records[3].metrics["score"] == 5


def test_estimated_completion_tokens_never_exceed_max_tokens() -> None:
    """`finish length, 1242+682` with max_tokens 512: the estimate of the text counted more tokens
    than the server may generate."""
    with ScriptedServer([Reply.no_usage("lorem ipsum dolor sit amet, " * 400)]) as server:
        spec = LLMSpec(base_url=server.base_url, model="scripted", max_tokens=64, max_retries=0)
        with LLMClient(spec) as client:
            reply = client.complete([ChatMessage("user", "write a lot")])
    assert not reply.usage_reported and reply.cost.estimated
    assert reply.cost.completion_tokens == 64
    assert "+64 tokens" in reply.log.line()


def test_call_counts_are_said_in_the_singular_for_one() -> None:
    """`26 calls (1 timeouts, 1 cancelled)` in `strop log`'s LLM row."""
    one = Cost(10, 5, calls=1, retries=1, timeouts=1, cancelled=1).describe()
    assert one.endswith("1 call (1 retry, 1 timeout, 1 cancelled)")
    two = Cost(10, 5, calls=2, retries=2, timeouts=2).describe()
    assert two.endswith("2 calls (2 retries, 2 timeouts)")


class _Gateway:
    """A real HTTP proxy on 127.0.0.1 that answers every request with one status, as a proxy whose
    upstream is down answers (502) or one that reaches it (200)."""

    def __init__(self, status: int) -> None:
        import http.server
        import threading

        code = status

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                body = b'{"object": "list", "data": []}' if code == 200 else b"bad gateway"
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_server_down_behind_a_proxy_is_one_that_does_not_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Behind HTTP_PROXY the connection is the proxy's: the server being down read as the proxy's
    502, an answer, and the check before experiment 0 let the run spend its experiments."""
    import openai

    from agent.llm.reachability import hint, why_unreachable

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "no_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    down, up = _Gateway(502), _Gateway(200)
    try:
        base = "http://llm.internal.example:8000/v1"
        monkeypatch.setenv("HTTP_PROXY", down.url)
        reason = why_unreachable(openai.OpenAI(base_url=base, api_key="x", max_retries=0))
        assert reason == "the proxy answered HTTP 502 for it: the server behind it does not answer"
        assert "NO_PROXY" in hint(reason)
        monkeypatch.setenv("HTTP_PROXY", up.url)  # the proxy reaches the server: it answers
        assert why_unreachable(openai.OpenAI(base_url=base, api_key="x", max_retries=0)) is None
        monkeypatch.delenv("HTTP_PROXY")  # no proxy: a 502 is the endpoint's own answer
        direct = f"{down.url}/v1"
        assert why_unreachable(openai.OpenAI(base_url=direct, api_key="x", max_retries=0)) is None
    finally:
        down.close()
        up.close()
