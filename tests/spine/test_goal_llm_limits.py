"""`strop run WORKSPACE --goal … --eval …` takes the model's limits from the environment, and says
where the task file it wrote is.

Seen against a small local model: the quick path read only STROP_LLM_URL and STROP_LLM_MODEL, so
every call kept `max_tokens = 4096` and the 120 s request limit (3,333 tokens in 78 s a call),
and nothing said which task.toml had been written, to edit it. The real CLI, the real loop and
the real `openai` client against the scripted endpoint, which records what it was asked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.llm.scripted_server import RecordedRequest, Reply, ScriptedServer
from agent.task import load_task

BENCH = 'import json\nprint(json.dumps({"seconds": float(open("speed.txt").read())}))\n'
EDIT = "Plan: halve the time.\n\nspeed.txt\n```\n<<<<<<< SEARCH\n2.0\n=======\n1.0\n>>>>>>> REPLACE\n```\n"
GOAL = ["--goal", "make it fast", "--eval", "python bench.py", "--metric", "seconds", "--direction", "min"]


def workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "speedy"
    folder.mkdir()
    (folder / "bench.py").write_text(BENCH)
    (folder / "speed.txt").write_text("2.0\n")
    return folder


def strop(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STROP_LLM")}
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env={**clean, "OPENAI_API_KEY": "x", **env},
    )


def test_the_quick_path_takes_max_tokens_context_and_timeout_and_names_its_task_file(
    tmp_path: Path, isolated_home: Path
) -> None:
    asked: list[RecordedRequest] = []

    def model(request: RecordedRequest) -> Reply:
        asked.append(request)
        return Reply.text(EDIT)

    folder = workspace(tmp_path)
    with ScriptedServer(model) as server:
        done = strop(
            ["run", str(folder), *GOAL, "-n", "2"],
            STROP_LLM_URL=server.base_url,
            STROP_LLM_MODEL="scripted",
            STROP_LLM_MAX_TOKENS="700",
            STROP_LLM_CONTEXT="8192",
            STROP_LLM_TIMEOUT="45s",
        )
    assert done.returncode == 0, done.stderr
    bodies = [request.body for request in asked if request.path.endswith("/chat/completions")]
    assert bodies, done.stderr
    for body in bodies:  # the client may ask for less (a token budget), never for more
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        assert limit is not None and limit <= 700, body
    first = done.stderr.splitlines()[0]
    assert first.startswith("note: the task is written to "), done.stderr
    path = Path(first.removeprefix("note: the task is written to ").split(": edit it", 1)[0])
    assert path.parent == isolated_home / "tasks" and path.is_file(), first
    assert f"strop run {path}" in first and "edit it" in first, first
    llm = load_task(path).spec.llm
    assert llm is not None and (llm.max_tokens, llm.context, llm.request_timeout) == (700, 8192, 45.0)


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("STROP_LLM_MAX_TOKENS", "lots", "STROP_LLM_MAX_TOKENS='lots': give a whole number of tokens"),
        ("STROP_LLM_MAX_TOKENS", "4", "at least 16"),
        ("STROP_LLM_CONTEXT", "8k", "STROP_LLM_CONTEXT='8k': give a whole number of tokens"),
        ("STROP_LLM_CONTEXT", "2048", "STROP_LLM_CONTEXT=2048 leaves no room"),
        ("STROP_LLM_TIMEOUT", "soon", "STROP_LLM_TIMEOUT (one model request's limit): not a duration"),
    ],
)
def test_a_bad_limit_is_one_line_before_anything_runs(
    tmp_path: Path, isolated_home: Path, variable: str, value: str, said: str
) -> None:
    folder = workspace(tmp_path)
    done = strop(
        ["run", str(folder), *GOAL, "-n", "2"],
        STROP_LLM_URL="http://127.0.0.1:9/v1",
        STROP_LLM_MODEL="scripted",
        **{variable: value},
    )
    assert done.returncode == 2, done.stderr
    assert said in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr and not (isolated_home / "tasks").exists()
