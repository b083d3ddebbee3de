"""A task file names where the prompts and the key go: said before the first call, and a
credential of another service is never sent as the key (the task file may be a stranger's)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.errors import TaskSpecError
from agent.llm.reach import reach_note
from agent.llm.scripted_server import RecordedRequest, Reply, ScriptedServer
from agent.task import LLMSpec, load_task
from tests.llm.support import git_workspace, llm_task_file


def test_a_task_file_may_not_send_another_services_credential(tmp_path: Path) -> None:
    """`api_key_env = "AWS_SECRET_ACCESS_KEY"` sent the user's cloud secret to the task's host."""
    workspace = git_workspace(tmp_path, {"model.py": "VALUE = 1\n"})
    with ScriptedServer(lambda request: Reply(text="")) as server:
        task = llm_task_file(tmp_path, workspace, server, "t", 2, llm='api_key_env = "AWS_SECRET_ACCESS_KEY"')
        with pytest.raises(TaskSpecError) as refused:
            load_task(task)
    message = str(refused.value)
    assert "\n" not in message and "AWS_SECRET_ACCESS_KEY" in message and "another service" in message


def test_the_note_names_the_host_the_variable_and_plain_http() -> None:
    remote = LLMSpec(base_url="http://203.0.113.7:8000/v1", model="m", api_key_env="MY_LLM_KEY")
    said = reach_note(remote)
    assert "m at http://203.0.113.7:8000/v1" in said and "$MY_LLM_KEY" in said
    assert "plain http" in said
    for url in ("http://127.0.0.1:11434/v1", "http://localhost:8000/v1", "https://api.example.com/v1"):
        assert "plain http" not in reach_note(LLMSpec(base_url=url, model="m")), url


def test_strop_run_says_where_the_key_goes_before_the_first_call(tmp_path: Path) -> None:
    workspace = git_workspace(
        tmp_path,
        {
            "model.py": "VALUE = 1\n",
            "evaluate.py": 'import json, model\nprint(json.dumps({"score": model.VALUE}))\n',
        },
    )

    def answer(request: RecordedRequest) -> Reply:
        return Reply(text="no change")

    with ScriptedServer(answer) as server:
        task = llm_task_file(tmp_path, workspace, server, "t", 1)
        env = {**os.environ, "STROP_HOME": str(tmp_path / "home"), "OPENAI_API_KEY": "sk-test-not-shown"}
        done = subprocess.run(
            [sys.executable, "-m", "agent.cli", "run", str(task), "-q"],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("LLM: ")]
    assert "with the value of $OPENAI_API_KEY as the key" in line and "sk-test" not in done.stderr


def test_a_ray_cluster_the_task_file_names_is_said(tmp_path: Path) -> None:
    """`[search] executor = "ray"` with a remote address sent the scorer and the validation answers
    to a host the task file chose, silently (and hung when it never answered)."""
    from agent.llm.reach import reach_notes

    workspace = git_workspace(tmp_path, {"model.py": "VALUE = 1\n"})
    with ScriptedServer(lambda request: Reply(text="")) as server:
        path = llm_task_file(tmp_path, workspace, server, "t", 2)
        ray = '[search]\nexecutor = "ray"\naddress = "198.51.100.9:6379"\n'
        path.write_text(path.read_text().replace("[search]\n", ray))
        task = load_task(path)
    notes = reach_notes(task)
    assert any(note.startswith("Ray: ") and "198.51.100.9:6379" in note for note in notes), notes
    assert not any(note.startswith("Ray: ") for note in reach_notes(task, address_given=True))
