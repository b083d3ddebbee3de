"""Red team: what real models and servers send, through a real run (the loop, real git, the real `openai`
client and the scripted server; only the model's words, and the server's bytes, are scripted).

A reply must never crash the run, lose an experiment, write outside the checkout or to a protected
file, or apply what a reasoning model only thought about. Endpoint quirks that cannot heal (an unknown
model, a server that refuses to stream, an unset key) stop the run with one line, after one call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.edits import MAX_FILES, PathGuard, apply_edits, parse_answer, reader, split_reasoning
from agent.llm import ChatMessage, LLMClient, LLMConfigError
from agent.llm.scripted_server import RecordedRequest, Reply, ScriptedServer
from agent.llm.tokens import prompt_tokens_upper
from agent.loop import start_run
from agent.records import ExperimentRecord
from agent.run_index import RunIndex
from agent.task import LLMSpec, load_task
from tests.llm.support import commit_initial, git, llm_task_file

KEY = "sk-hostile-5ecret-77c1"
EVALUATOR = 'import json, model\nprint(json.dumps({"score": model.VALUE}))\n'
HELLO = [ChatMessage("user", "hello")]


def sr(path: str, search: str, replace: str) -> str:
    return f"{path}\n```python\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n```\n"


GOOD = "Raise VALUE.\n\n" + sr("model.py", "VALUE = 1", "VALUE = 2")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    (path / "model.py").write_text("VALUE = 1\n\ndef important():\n    return VALUE\n")
    (path / "evaluate.py").write_text(EVALUATOR)
    return path


def task_file(tmp_path: Path, workspace: Path, server: ScriptedServer, experiments: int = 2) -> Path:
    return llm_task_file(tmp_path, workspace, server, "hostile", experiments, llm='answers = "text"\n')


def script(*replies: str | Reply) -> Callable[[RecordedRequest], Reply]:
    queue = list(replies)

    def answer(request: RecordedRequest) -> Reply:
        if not queue:
            return Reply.error(400, "scripted server: script exhausted")
        reply = queue.pop(0)
        return reply if isinstance(reply, Reply) else Reply.text(reply)

    return answer


def run(tmp_path: Path, workspace: Path, home: Path, *replies: str | Reply) -> tuple[ExperimentRecord, int]:
    """A two-experiment run (the baseline and one LLM attempt); the attempt's record and the calls made."""
    if not (workspace / ".git").exists():
        commit_initial(workspace)
    index = RunIndex(home)
    try:
        with ScriptedServer(script(*replies)) as server:
            result = start_run(load_task(task_file(tmp_path, workspace, server)), home, index)
            calls = len(server.completions)
    finally:
        index.close()
    records = {r.id: r for r in result.records}
    assert sorted(records) == [0, 1], "every experiment is recorded"
    return records[1], calls


def committed(workspace: Path, record: ExperimentRecord, path: str) -> str:
    return git(workspace, "show", f"{record.commit}:{path}")


def said(record: ExperimentRecord) -> str:
    return "\n".join([record.reason, *record.decisions])


# ---------------------------------------------------------------------- reasoning models, through a run
def test_edits_inside_a_think_block_are_never_applied(
    tmp_path: Path, workspace: Path, isolated_home: Path
) -> None:
    thinking = (
        "<think>\nMaybe set it huge:\n" + sr("model.py", "VALUE = 1", "VALUE = 999")
        + "or the whole file:\n```python path=model.py\nVALUE = 5000\n```\nToo risky.\n</think>\n\n"
    )  # fmt: skip
    record, calls = run(tmp_path, workspace, isolated_home, thinking + GOOD)
    assert calls == 1
    assert committed(workspace, record, "model.py").startswith("VALUE = 2\n")
    assert record.idea == "Raise VALUE."  # the commit subject is the answer's plan, not the thoughts
    assert "reasoning block (<think>) was set aside" in said(record)


def test_a_headless_think_block_with_a_file_in_it_is_no_edit(
    tmp_path: Path, workspace: Path, isolated_home: Path
) -> None:
    """DeepSeek-R1's template opens `<think>` in the prompt: the reply holds only the closing tag."""
    reply = "What if model.py were:\n\nmodel.py\n```python\nVALUE = 777\n```\nNo, it is fine.\n</think>\n\nNo change."
    record, calls = run(tmp_path, workspace, isolated_home, reply)
    assert calls == 1 and record.status.value == "rejected"
    assert "VALUE = 777" not in committed(workspace, record, "model.py")


def test_a_reply_cut_while_thinking_is_sent_back_not_applied(
    tmp_path: Path, workspace: Path, isolated_home: Path
) -> None:
    cut = Reply.text(
        "<think>\nplan:\n" + sr("model.py", "VALUE = 1", "VALUE = 31337") + "more", finish_reason="length"
    )
    record, calls = run(tmp_path, workspace, isolated_home, cut, "<think>short</think>\n" + GOOD)
    assert calls == 2
    assert committed(workspace, record, "model.py").startswith("VALUE = 2\n")
    assert "cut while reasoning" in said(record)


# ---------------------------------------------------------------------- cut replies, through a run
@pytest.mark.parametrize(
    "cut",
    [
        pytest.param(lambda text: Reply.text(text, finish_reason="length"), id="finish-length"),
        pytest.param(
            lambda text: Reply.events(
                *[{"choices": [{"index": 0, "delta": {"content": c}}]} for c in text], done=False
            ),
            id="stream-ends-without-finish",
        ),
    ],
)
def test_a_whole_file_cut_before_its_closing_fence_is_not_applied(
    cut: Callable[[str], Reply], tmp_path: Path, workspace: Path, isolated_home: Path
) -> None:
    """Applied, the file would lose `important()` and still score: code lost without a trace."""
    text = "Rewrite.\n\n```python path=model.py\nVALUE = 2\n\n"
    record, calls = run(tmp_path, workspace, isolated_home, cut(text), GOOD)
    assert calls == 2  # sent back once, saying so
    assert committed(workspace, record, "model.py") == "VALUE = 2\n\ndef important():\n    return VALUE\n"
    assert "cut off before its closing fence" in said(record)


# ---------------------------------------------------------------------- what the plan may hold
def test_a_plan_with_nul_escape_and_lone_surrogate_is_committed_clean(
    tmp_path: Path, workspace: Path, isolated_home: Path
) -> None:
    """A NUL in the commit message crashed `git commit` (ValueError), a lone surrogate its encoding."""
    plan = "\x1b]0;pwned\x07Raise \x00VALUE \ud800now."
    events = [{"choices": [{"index": 0, "delta": {"content": piece}}]} for piece in (plan, "\n\n", GOOD[14:])]
    stream = Reply.events(*events, {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    record, calls = run(tmp_path, workspace, isolated_home, stream)
    assert calls == 1 and record.idea == "]0;pwnedRaise VALUE \ufffdnow."
    message = git(workspace, "log", "-1", "--format=%B", record.commit)
    assert "\x00" not in message and "\x1b" not in message and "pwnedRaise VALUE \ufffdnow." in message
    assert committed(workspace, record, "model.py").startswith("VALUE = 2\n")


def test_a_path_with_escape_sequences_is_recorded_without_them(
    tmp_path: Path, workspace: Path, isolated_home: Path
) -> None:
    """The note about a file whose fence never closes quoted its path raw into the record's decisions
    (git notes, `--json`): only the screens strop draws cleaned it."""
    text = "Add it.\n\n```python path=evil\x1b]0;owned\x07.py\nX = 1\n"
    record, calls = run(tmp_path, workspace, isolated_home, text, GOOD)
    assert calls == 2 and "no closing fence" in said(record)
    assert not any(ch in said(record) for ch in "\x1b\x07"), said(record)


def test_a_one_word_sentence_before_a_fence_is_not_a_file_name(
    tmp_path: Path, workspace: Path, isolated_home: Path
) -> None:
    record, calls = run(tmp_path, workspace, isolated_home, "Done.\n\n```py\nVALUE = 3\n```\n", GOOD)
    assert calls == 2 and "named no file" in said(record)
    assert "Done." not in git(workspace, "ls-tree", "--name-only", record.commit)


def test_a_reply_that_is_only_a_tool_call_is_sent_back_saying_so(
    tmp_path: Path, workspace: Path, isolated_home: Path
) -> None:
    call = {"index": 0, "id": "c1", "type": "function", "function": {"name": "edit_file", "arguments": "{}"}}
    tool = Reply.events(
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": None, "tool_calls": [call]}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    )
    record, calls = run(tmp_path, workspace, isolated_home, tool, GOOD)
    assert calls == 2 and "your answer was a tool call (edit_file)" in said(record)
    assert committed(workspace, record, "model.py").startswith("VALUE = 2\n")


# ---------------------------------------------------------------------- links in the workspace
@pytest.mark.parametrize(
    ("link", "target", "path"),
    [("alias.py", "evaluate.py", "alias.py"), ("tools", ".", "tools/evaluate.py")],
    ids=["file-link", "folder-link"],
)
def test_a_link_in_the_workspace_does_not_reach_a_protected_file(
    link: str, target: str, path: str, tmp_path: Path, workspace: Path, isolated_home: Path
) -> None:
    os.symlink(target, workspace / link)
    forged = f"Forge.\n\n```python path={path}\nimport json\nprint(json.dumps({{'score': 1e9}}))\n```\n"
    record, _ = run(tmp_path, workspace, isolated_home, forged + GOOD)
    assert committed(workspace, record, "evaluate.py") == EVALUATOR
    assert record.status.value == "ok" and record.metrics["score"] == 2  # not 'tampered': refused up front
    assert "is a protected evaluator file" in said(record)


@pytest.mark.parametrize("path", ["src", ".", "model.py/inner.py"], ids=["folder", "root", "under-a-file"])
def test_a_path_that_is_a_folder_or_goes_through_a_file_is_refused_not_a_crash(
    path: str, tmp_path: Path, workspace: Path, isolated_home: Path
) -> None:
    """Written, these raised IsADirectoryError / FileExistsError in `git commit`'s caller: the run died."""
    (workspace / "src").mkdir()
    (workspace / "src" / "util.py").write_text("X = 1\n")
    record, calls = run(
        tmp_path, workspace, isolated_home, f"x\n\n```python path={path}\nX = 2\n```\n" + GOOD
    )
    assert calls == 1 and committed(workspace, record, "model.py").startswith("VALUE = 2\n")
    assert committed(workspace, record, "src/util.py") == "X = 1\n"
    assert f"whole file 1 ({path}) was refused" in said(record)


def test_a_file_git_ignores_is_refused_not_applied_and_silently_lost(
    tmp_path: Path, workspace: Path, isolated_home: Path
) -> None:
    """The lane wrote it, the commit left it out, the evaluation failed on an import the model was told applied."""
    (workspace / ".gitignore").write_text("gen/\n")
    helper = "x\n\n```python path=gen/helper.py\nBIG = 2\n```\n"
    record, calls = run(tmp_path, workspace, isolated_home, helper + GOOD)
    assert calls == 1 and record.status.value == "ok"
    assert "'gen/helper.py' is ignored by git" in said(record)
    assert not any(d.startswith("llm: applied") and "gen/helper.py" in d for d in record.decisions)


# ---------------------------------------------------------------------- the parser and the guard
def test_two_edits_that_need_one_path_as_file_and_folder_keep_the_first(tmp_path: Path) -> None:
    answer = "".join(f"```python path={p}\nA = 1\n```\n" for p in ("n.py", "n.py/c.py", "d/e.py", "d"))
    outcome = apply_edits(parse_answer(answer).edits, reader(tmp_path), PathGuard(tmp_path))
    assert list(outcome.files) == ["n.py", "d/e.py"]
    assert [p.path for p in outcome.problems] == ["n.py/c.py", "d"] and all(
        p.refused for p in outcome.problems
    )


def test_split_reasoning_forms() -> None:
    assert split_reasoning("<think>a ```x```</think>\n\nanswer") == ("answer", "<think>a ```x```</think>")
    assert split_reasoning("<think>cut mid-thought") == ("", "<think>cut mid-thought")
    assert split_reasoning("thoughts\n</think>\n\nanswer")[0] == "answer"
    assert split_reasoning("<think>a</think><think>b</think>\nX")[0] == "X"
    code = 'text = s.replace("</think>", "")\n'
    assert split_reasoning(code) == (code, "")  # a tag inside code is not a reasoning block
    assert split_reasoning("plain answer") == ("plain answer", "")


def test_an_answer_may_change_at_most_max_files_files_and_says_so_once(tmp_path: Path) -> None:
    answer = "".join(f"```text path=g/f{i}.txt\n{i}\n```\n" for i in range(MAX_FILES + 900))
    outcome = apply_edits(parse_answer(answer).edits, reader(tmp_path), PathGuard(tmp_path))
    assert len(outcome.files) == MAX_FILES
    assert len(outcome.problems) == 1 and "900 edit(s)" in outcome.problems[0].message


def test_feedback_shows_the_first_problems_only(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("A = 1\n")
    answer = "".join(sr("m.py", f"B = {i}", "B = 0") for i in range(50))
    outcome = apply_edits(parse_answer(answer).edits, reader(tmp_path), PathGuard(tmp_path))
    assert len(outcome.problems) == 50
    assert outcome.feedback().count("did not match") == 20 and "30 more problems" in outcome.feedback()


# ---------------------------------------------------------------------- the endpoint's quirks
@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer([]) as running:
        yield running


def client(server: ScriptedServer, env: dict[str, str] | None = None) -> LLMClient:
    spec = LLMSpec(base_url=server.base_url, model="m", request_timeout=5.0, max_retries=2, price_output=10.0)
    return LLMClient(spec, environ={"OPENAI_API_KEY": KEY} if env is None else env, sleep=lambda s: None)


def text_events(text: str, **final: object) -> list[dict[str, object]]:
    pieces = [
        {"choices": [{"index": 0, "delta": {"content": text[i : i + 4]}}]} for i in range(0, len(text), 4)
    ]
    return [*pieces, {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], **final}]


@pytest.mark.parametrize(
    "final",
    [
        pytest.param({"x_groq": {"usage": {"prompt_tokens": 70, "completion_tokens": 9}}}, id="groq"),
        pytest.param({"usage": {"input_tokens": 70, "output_tokens": 9}}, id="input-output-names"),
    ],
)
def test_usage_in_another_place_is_read_not_estimated(
    server: ScriptedServer, final: dict[str, object]
) -> None:
    server.add(Reply.events(*text_events("hello there", **final)))
    reply = client(server).complete(HELLO)
    assert (reply.cost.prompt_tokens, reply.cost.completion_tokens, reply.cost.estimated) == (70, 9, 0)


def test_reasoning_chunks_are_counted_not_read(server: ScriptedServer) -> None:
    thinking = [{"choices": [{"index": 0, "delta": {"reasoning_content": "hm "}}]}] * 30
    server.add(Reply.events(*thinking, *text_events("ok")))
    reply = client(server).complete(HELLO)
    assert reply.text == "ok" and reply.cost.completion_tokens == 31 and reply.cost.estimated


def test_a_plain_json_answer_to_a_streamed_request_is_read(server: ScriptedServer) -> None:
    """A server (or proxy) that ignores `stream: true`: its one JSON completion is the answer, not 3 retries."""
    body = {
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi \ud800"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3},
    }
    server.add(Reply(body=json.dumps(body).encode()))
    reply = client(server).complete(HELLO)
    assert reply.text == "hi \ufffd" and reply.finish_reason == "stop" and len(server.completions) == 1
    assert (reply.cost.prompt_tokens, reply.cost.completion_tokens, reply.cost.estimated) == (12, 3, 0)


@pytest.mark.parametrize(
    ("status", "message", "said_"),
    [
        (400, "model 'm' not found, try pulling it first", "does not know the model"),
        (400, "Invalid model name passed in model=m.", "does not know the model"),
        (400, "streaming is not supported by this server", "refuses streamed requests"),
        (404, "The model `m` does not exist or you do not have access to it.", "does not exist"),
    ],
)
def test_an_unknown_model_or_a_server_that_will_not_stream_is_one_config_error(
    server: ScriptedServer, status: int, message: str, said_: str
) -> None:
    server.add(Reply.error(status, message), Reply.error(status, message))
    with pytest.raises(LLMConfigError) as caught:
        client(server).complete(HELLO)
    assert said_ in str(caught.value) and len(server.completions) == 1


def test_a_401_with_the_key_variable_unset_says_it_is_unset(server: ScriptedServer) -> None:
    server.add(Reply.error(401, "Incorrect API key provided"))
    with pytest.raises(LLMConfigError, match=r"\$OPENAI_API_KEY is not set"):
        client(server, env={}).complete(HELLO)


def test_an_unknown_model_stops_strop_run_with_one_line_after_one_call(
    tmp_path: Path, workspace: Path, isolated_home: Path
) -> None:
    commit_initial(workspace)
    with ScriptedServer(
        lambda r: Reply.error(400, "model 'scripted' not found, try pulling it first")
    ) as server:
        env = {**os.environ, "STROP_HOME": str(isolated_home), "OPENAI_API_KEY": KEY}
        done = subprocess.run(
            [sys.executable, "-m", "agent.cli", "run", str(task_file(tmp_path, workspace, server, 8)), "--quiet"],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        calls = len(server.completions)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and calls == 1, done.stderr
    assert len(errors) == 1 and "does not know the model" in errors[0] and "Traceback" not in done.stderr
    assert KEY not in done.stderr


def test_the_endpoint_probe_reads_a_reasoning_models_json_after_its_thoughts(server: ScriptedServer) -> None:
    from agent.llm.endpoint import PROBE_VALUE, probe

    server.add(Reply.text(f'<think>\nThe schema wants "probe".\n</think>\n{{"probe": "{PROBE_VALUE}"}}'))
    assert probe(client(server)).dialect == "json_schema"


def test_a_connection_reset_mid_body_is_retried_and_its_half_answer_never_used(
    server: ScriptedServer,
) -> None:
    server.add(Reply.reset("HALF OF AN ANSWER " * 20, after=3), Reply.text("whole answer", 40, 2))
    reply = client(server).complete(HELLO)
    assert reply.text == "whole answer" and reply.attempts == 2
    assert "connection error" in reply.log.failures[0]
    # the reset attempt's 3 chunks are counted too, estimated
    assert reply.cost.completion_tokens >= 2 + 3 and reply.cost.estimated > 0


def test_a_retry_plans_its_answer_from_what_the_attempts_before_it_left(server: ScriptedServer) -> None:
    """Every retry planned `max_tokens` from the call's whole allowance, though the attempt before
    it had streamed tokens already: together they could spend past what the call was given."""
    # paced: a reset discards what the client has not read yet, and a loaded machine read 64 of 300
    server.add(Reply.reset("word " * 400, after=300, chunk_delay=0.002), Reply.text("whole answer", 40, 2))
    llm = client(server)
    left = prompt_tokens_upper(HELLO) + 600
    reply = llm.complete(HELLO, tokens_left=left)
    first, second = (request.body["max_tokens"] for request in server.completions)
    assert reply.attempts == 2 and first == 600
    assert second <= first - 150, (first, second)  # the reset attempt's 300 chunks (~200 tokens) are spent


def test_the_callers_max_tokens_is_the_one_sent(server: ScriptedServer) -> None:
    """`complete(max_tokens=32)` sent the task's 4000: a local variable of the same name shadowed the
    cap, so the endpoint probe and params-mode answers were never capped."""
    server.add(Reply.text("ok", 5, 1), Reply.text("ok", 5, 1))
    llm = client(server)
    llm.complete(HELLO, max_tokens=32)
    llm.complete(HELLO, max_tokens=32, tokens_left=100_000)
    assert [request.body["max_tokens"] for request in server.completions] == [32, 32]
