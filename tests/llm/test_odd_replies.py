"""Replies that look broken but hold a good answer, which must be used after one call.

Bytes that are not UTF-8 inside a streamed reply (a character split across tokens by a
llama.cpp or Ollama build) and `</think>` at a line's end inside the answer's own code (not a
reasoning model's headless think block). Through the real `openai` client and the scripted
server, and through a real run where the answer must be applied.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from agent.edits import split_reasoning
from agent.llm import ChatMessage, LLMClient
from agent.llm.scripted_server import Reply, ScriptedServer
from agent.loop import start_run
from agent.records import ExperimentRecord
from agent.run_index import RunIndex
from agent.task import LLMSpec, load_task
from tests.llm.support import git, git_workspace, llm_task_file

EVALUATOR = 'import json, model\nprint(json.dumps({"score": model.VALUE}))\n'
FINISH = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
HELLO = [ChatMessage("user", "hello")]


def sr(path: str, search: str, replace: str) -> str:
    return f"{path}\n```python\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n```\n"


def event(content: bytes) -> bytes:
    """One streamed content chunk whose text is these bytes, as they are (valid UTF-8 or not)."""
    return b'data: {"choices": [{"index": 0, "delta": {"content": "' + content + b'"}}]}\n\n'


def text_events(text: str) -> list[bytes]:
    return [event(text[i : i + 4].encode().replace(b"\n", b"\\n")) for i in range(0, len(text), 4)]


def run(tmp_path: Path, home: Path, reply: Reply) -> tuple[ExperimentRecord, int, Path]:
    """A two-experiment run (the baseline and one LLM attempt): the attempt's record, the calls, the repo."""
    workspace = git_workspace(tmp_path, {"model.py": "VALUE = 1\n", "evaluate.py": EVALUATOR})
    index = RunIndex(home)
    try:
        with ScriptedServer([reply]) as server:
            task = llm_task_file(tmp_path, workspace, server, "odd", 2, llm='answers = "text"\n')
            result = start_run(load_task(task), home, index)
            calls = len(server.completions)
    finally:
        index.close()
    records = {r.id: r for r in result.records}
    assert sorted(records) == [0, 1], "every experiment is recorded"
    return records[1], calls, workspace


def committed(workspace: Path, record: ExperimentRecord, path: str) -> str:
    return git(workspace, "show", f"{record.commit}:{path}")


def complete(server: ScriptedServer) -> tuple[str, int]:
    """One `complete` call through the real client: its text and the requests the server saw."""
    spec = LLMSpec(base_url=server.base_url, model="m", request_timeout=5.0, max_retries=2)
    with LLMClient(spec, environ={}, sleep=lambda s: None) as client:
        reply = client.complete(HELLO)
    assert reply.attempts == 1 and not reply.log.failures
    return reply.text, len(server.completions)


# ---------------------------------------------------------------------- bytes that are not UTF-8
def test_bytes_that_are_not_utf8_in_a_stream_are_replaced_not_retried() -> None:
    """The `openai` package's strict decoder failed the reply: it was sent again, a wasted call."""
    stream = Reply.events(event(b"hello caf\xc3"), event(b"\xa9 ok \xff"), FINISH)
    with ScriptedServer([stream, Reply.text("the retry")]) as server:
        assert complete(server) == ("hello caf\ufffd\ufffd ok \ufffd", 1)


def test_a_character_split_between_two_network_reads_is_kept_whole() -> None:
    """The repair decodes incrementally: valid bytes that arrive apart are one character, not two U+FFFD."""
    head, tail = event("café".encode()).split(b"\xa9")
    stream = replace(Reply.events(event(b"a "), head, b"\xa9" + tail, FINISH), chunk_delay=0.05)
    with ScriptedServer([stream]) as server:
        assert complete(server) == ("a café", 1)


def test_a_stream_with_bytes_that_are_not_utf8_is_applied_after_one_call(
    tmp_path: Path, isolated_home: Path
) -> None:
    """Before, the retry met "script exhausted": two calls and no edit."""
    plan = event(b"Raise VALUE \xe2\x80 now.\\n\\n")  # an en dash cut after two of its three bytes
    stream = Reply.events(plan, *text_events(sr("model.py", "VALUE = 1", "VALUE = 2")), FINISH)
    record, calls, workspace = run(tmp_path, isolated_home, stream)
    assert calls == 1 and record.idea == "Raise VALUE \ufffd now."
    assert committed(workspace, record, "model.py") == "VALUE = 2\n"


# ---------------------------------------------------------------------- </think> in the answer's code
CODE_WITH_TAG = "VALUE = 2  # a headless reply ends its thoughts with </think>"


def test_a_closing_think_tag_inside_the_answers_code_is_not_a_reasoning_block() -> None:
    fenced = "Edit the parser.\n\n" + sr("model.py", "VALUE = 1", CODE_WITH_TAG)
    assert split_reasoning(fenced) == (fenced, "")
    bare = (
        "Edit.\n\nmodel.py\n<<<<<<< SEARCH\nVALUE = 1\n=======\nEND = '''\n</think>\n'''\n>>>>>>> REPLACE\n"
    )
    assert split_reasoning(bare) == (bare, "")  # an unfenced SEARCH/REPLACE block is code too
    whole = "New file.\n\n```python path=tags.py\nCLOSE = '''\n</think>\n'''\n```\n"
    assert split_reasoning(whole) == (whole, "")


def test_a_headless_think_block_still_ends_at_its_closing_tag() -> None:
    """DeepSeek-R1 style: the template opened `<think>`; fences in the thoughts are closed before it."""
    thoughts = "Maybe:\n\nmodel.py\n```python\nVALUE = 777\n```\nNo.\n</think>\n"
    assert split_reasoning(thoughts + "\nThe answer.") == ("The answer.", thoughts)
    # a tag in the answer's code after the real one stays in the answer
    answer = sr("model.py", "VALUE = 1", CODE_WITH_TAG)
    assert split_reasoning(thoughts + answer) == (answer, thoughts)
    # thoughts with a fence never closed: the tag still ends them, as before
    unclosed = "Try:\n```python\nVALUE = 3\n</think>\n"
    assert split_reasoning(unclosed + "X") == ("X", unclosed)


def test_an_edit_whose_code_holds_a_closing_think_tag_is_applied(tmp_path: Path, isolated_home: Path) -> None:
    """Before, everything up to that line was taken as reasoning: the edit lost its head, nothing applied."""
    answer = "Raise VALUE.\n\n" + sr("model.py", "VALUE = 1", CODE_WITH_TAG)
    record, calls, workspace = run(tmp_path, isolated_home, Reply.text(answer))
    assert calls == 1 and record.idea == "Raise VALUE."
    assert committed(workspace, record, "model.py") == CODE_WITH_TAG + "\n"
