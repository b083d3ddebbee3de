"""A model call in flight when strop is SIGKILLed is counted (its prompt, estimated) once the run resumes.

A paid endpoint bills the prompt of a call the client never heard back from; the run's token total
(and so its token and cost budgets) left that call out entirely: only a recorded experiment carried
tokens, and the killed call's experiment was proposed again on resume. Real `strop run` in a
subprocess, the real `openai` client against the scripted server, which hangs on the first call.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from agent.llm.chat import ChatMessage
from agent.llm.scripted_server import RecordedRequest, Reply, ScriptedServer
from agent.llm.tokens import estimate_prompt_tokens
from tests.llm.support import git_workspace, llm_task_file

ROOT = Path(__file__).resolve().parents[2]
EDIT = "Raise VALUE.\n\nmodel.py\n```python\n<<<<<<< SEARCH\nVALUE = 1\n=======\nVALUE = 2\n>>>>>>> REPLACE\n```\n"


def _strop(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "STROP_HOME": str(home), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True, env=environ, timeout=180
    )


def test_a_call_cut_by_sigkill_counts_its_prompt_after_resume(tmp_path: Path, isolated_home: Path) -> None:
    evaluate = "import json, model\nprint(json.dumps({'score': model.VALUE}))\n"
    workspace = git_workspace(tmp_path, {"model.py": "VALUE = 1\n", "evaluate.py": evaluate})
    calls: list[int] = []

    def answer(request: RecordedRequest) -> Reply:
        calls.append(1)
        return Reply.hang() if len(calls) == 1 else Reply.text(EDIT, prompt_tokens=1000, completion_tokens=50)

    with ScriptedServer(answer) as server:
        task = llm_task_file(
            tmp_path, workspace, server, "killed", 2, request_timeout="120s", max_retries=0,
            llm="price_input = 2.0\nprice_output = 8.0",
        )  # fmt: skip
        environ = {**os.environ, "STROP_HOME": str(isolated_home), "PYTHONPATH": str(ROOT)}
        process = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "run", str(task), "--quiet"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=environ,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 120
            while not server.completions:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the model call never reached the server"
                time.sleep(0.05)
            time.sleep(0.3)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            if process.stderr is not None:
                process.stderr.close()
        [hung] = server.completions
        messages = [ChatMessage(m["role"], m["content"]) for m in (hung.body or {})["messages"]]
        estimate = estimate_prompt_tokens(messages)
        [run] = json.loads(_strop(isolated_home, "runs", "--json").stdout)

        resumed = _strop(isolated_home, "resume", run["id"])
        assert resumed.returncode == 0, resumed.stderr
        said = resumed.stdout + resumed.stderr
        assert f"+{estimate} prompt tokens (estimated, $" in said and "cut by a crash" in said, said
        assert "completion tokens of a call cut in flight are unknown" in said, said
        assert said.count("cut by a crash") == 1, said

        logged = json.loads(_strop(isolated_home, "log", run["id"], "--json").stdout)
        recorded = sum(
            r["cost"]["prompt_tokens"] + r["cost"]["completion_tokens"] for r in logged["experiments"]
        )
        assert recorded == 1050  # the call answered after the resume, as the server reported it
        assert logged["cost"]["tokens"] == recorded + estimate, logged["cost"]
        assert logged["cost"]["estimated"] >= estimate and logged["cost"]["calls"] == 2, logged["cost"]
        assert logged["cost"]["usd"] > 1050 * 2.0 / 1e6  # the cut call's prompt priced at the input price
        [listed] = json.loads(_strop(isolated_home, "runs", "--json").stdout)
        assert listed["cost"]["tokens"] == recorded + estimate, listed["cost"]
        text = _strop(isolated_home, "log", run["id"]).stdout
        assert f"{recorded + estimate} tokens" in text, text

        again = _strop(isolated_home, "resume", run["id"], "--experiments", "3")
        assert "cut by a crash" not in again.stdout + again.stderr  # counted once, never again
