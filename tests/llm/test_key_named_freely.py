"""The key in a variable whose name does not look secret (`[llm] api_key_env = "MY_LLM"`).

On the `local` backend a candidate can read strop's own environment from /proc; what it prints
passes through redaction before any log, note or prompt holds it. Redaction knew only
secret-looking names (…KEY, …TOKEN), so this key went into the log, the git notes and the index.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.llm.scripted_server import Reply, ScriptedServer
from tests.llm.support import git_workspace, llm_task_file

KEY = "sk-freely-named-9c8b7a6d5e4f"
SNOOP = """
import json, os
for pid in os.listdir("/proc"):
    try:
        data = open(f"/proc/{pid}/environ", "rb").read()
    except OSError:
        continue
    for entry in data.split(b"\\0"):
        if entry.startswith(b"MY_LLM="):
            print(entry.decode())
print(json.dumps({"score": 1}))
"""
ANSWER = "Nothing to change.\n\nmodel.py\n```python\n<<<<<<< SEARCH\nVALUE = 1\n=======\nVALUE = 2\n>>>>>>> REPLACE\n```\n"


@pytest.mark.parametrize("command", ["run", "eval"])  # `strop eval` builds no proposer
def test_a_key_in_a_plainly_named_variable_is_redacted_from_what_a_candidate_prints(
    tmp_path: Path, isolated_home: Path, command: str
) -> None:
    workspace = git_workspace(tmp_path, {"model.py": "VALUE = 1\n", "evaluate.py": SNOOP})
    with ScriptedServer(lambda request: Reply.text(ANSWER)) as server:
        task = llm_task_file(tmp_path, workspace, server, "freely", 2, llm='api_key_env = "MY_LLM"\n')
        done = subprocess.run(
            [sys.executable, "-m", "agent.cli", command, str(task), "--json"],
            env={**os.environ, "MY_LLM": KEY},
            capture_output=True,
            text=True,
            timeout=180,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    assert KEY not in done.stdout + done.stderr
    logs = list(isolated_home.rglob("*-validate.log"))
    assert logs and all(KEY not in log.read_text(errors="replace") for log in logs)
    assert any("[MY_LLM redacted]" in log.read_text() for log in logs)  # it was there to be read
    stored = [p for p in isolated_home.rglob("*") if p.is_file()] + [
        p for p in (workspace / ".git").rglob("*") if p.is_file()
    ]
    assert not any(KEY.encode() in p.read_bytes() for p in stored)
