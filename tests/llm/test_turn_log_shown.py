"""`strop show` of an attempt whose last turn was not evaluated keeps the earlier turn's verdict and log.

Turn 1 broke model.py (evaluated: buggy, with a log); turn 2's answer held no code (rejected, never
evaluated). Before, `show` said `evaluated in 0.00s on —` with no log tail, and `--json` gave
log_path '' and nothing else: the failure the model was asked to fix was hidden. Real loop, real
git, the real `openai` client against the scripted server; only the model's words are fake.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from agent.llm.scripted_server import RecordedRequest, Reply, ScriptedServer
from agent.loop import start_run
from agent.run_index import RunIndex
from agent.task import load_task
from evaluators.verdict import Status
from tests.llm.support import git_workspace, llm_task_file


def test_show_keeps_the_evaluated_turns_log_when_the_last_turn_held_no_code(
    tmp_path: Path, isolated_home: Path
) -> None:
    evaluate = 'import json, model\nprint("evaluating model.py")\nprint(json.dumps({"score": model.VALUE}))\n'
    workspace = git_workspace(tmp_path, {"model.py": "VALUE = 1\n", "evaluate.py": evaluate})

    def answer(request: RecordedRequest) -> Reply:
        if "did not succeed" in request.prompt or "This version failed" in request.prompt:
            return Reply.text("I am not sure what went wrong; the code looks fine to me.")
        edit = "<<<<<<< SEARCH\nVALUE = 1\n=======\nVALUE = (2\n>>>>>>> REPLACE"
        return Reply.text(f"Raise VALUE.\n\nmodel.py\n```python\n{edit}\n```\n")

    index = RunIndex(isolated_home)
    try:
        with ScriptedServer(answer) as server:
            path = llm_task_file(tmp_path, workspace, server, "turnlog", 2)
            path.write_text(path.read_text().replace("turn_limit = 1", "turn_limit = 2"))
            result = start_run(load_task(path), isolated_home, index)
    finally:
        index.close()
    attempt = result.records[1]
    assert attempt.turns == 2 and attempt.status is Status.REJECTED, attempt
    assert "held no code" in attempt.reason
    assert attempt.log_path == ""  # the record's own commit never ran

    def show(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "agent.cli", "show", f"{result.run_id}/1", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    shown = json.loads(show("--json"))
    [turn_one] = shown["earlier_turns"]
    assert turn_one["turn"] == 1 and turn_one["status"] == "buggy", turn_one
    assert turn_one["log_path"].endswith("1-validate.log") and turn_one["backend"], turn_one
    assert turn_one["eval_seconds"] > 0
    assert shown["log_tail_turn"] == 1 and "SyntaxError" in shown["log_tail"], shown["log_tail"]

    text = show()
    assert "evaluated in 0.00s on —" not in text
    assert "not evaluated (turn 2)" in text
    assert "turn 1: buggy" in text and "1-validate.log" in text
    assert "log tail (turn 1, " in text and "SyntaxError" in text
