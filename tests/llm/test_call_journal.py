"""The journal of model calls in flight (`agent.llm.journal`) and the client's reservations in it.

Each attempt is reserved on disk (its prompt, estimated) before it is sent and its reservation
rewritten with what it was counted once it ended; the loop settles an experiment's reservations
once its candidate is saved, and a run counts what is left (`RunRecord.unrecorded`).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from agent.deadline import Deadline
from agent.llm.backoff import Backoff
from agent.llm.chat import ChatMessage
from agent.llm.client import LLMClient
from agent.llm.errors import LLMBudgetSpent
from agent.llm.journal import CallJournal, slot_tag
from agent.llm.scripted_server import Reply, ScriptedServer
from agent.llm.tokens import estimate_prompt_tokens, price
from agent.loop import start_run
from agent.records import Cost, RunRecord, run_cost
from agent.run_index import RunIndex
from agent.task import LLMSpec, load_task
from tests.llm.support import git_workspace, llm_task_file

MESSAGES = [ChatMessage("system", "You improve code."), ChatMessage("user", "Make it faster. " * 40)]


def _spec(server: ScriptedServer, **more: object) -> LLMSpec:
    return LLMSpec(
        base_url=server.base_url, model="m", request_timeout=5, max_retries=2, price_input=3.0, **more
    )


def test_reservations_are_tagged_summed_settled_and_swept(tmp_path: Path) -> None:
    journal = CallJournal(tmp_path / "inflight")
    with journal.tagged(slot_tag(1, 1)):
        journal.reserve(Cost(100, 0, 0.1, calls=1, estimated=100))
        journal.reserve(Cost(50, 0, 0.05, calls=1, estimated=50))
    for exp, turn in ((11, 1), (1, 10)):  # names that begin like experiment 1's, turn 1
        with journal.tagged(slot_tag(exp, turn)):
            journal.reserve(Cost(7, 0, 0.0, calls=1, estimated=7))
    journal.reserve(Cost(3, 0, 0.0, calls=1, estimated=3))  # outside any experiment
    assert journal.pending("1-1") == Cost(150, 0, 0.15, calls=2, estimated=150)
    journal.settle("1-1")
    assert journal.pending("1-1") == Cost()
    total, files = journal.sweep()
    assert total == Cost(17, 0, 0.0, calls=3, estimated=17) and len(files) == 3
    journal.forget(files)
    assert journal.sweep() == (Cost(), [])


def test_tags_are_per_thread_and_a_damaged_reservation_still_counts_a_call(tmp_path: Path) -> None:
    journal = CallJournal(tmp_path / "inflight")

    def lane(exp: int) -> None:
        with journal.tagged(slot_tag(exp, 1)):
            for _ in range(20):
                journal.reserve(Cost(1, 0, 0.0, calls=1, estimated=1))

    threads = [threading.Thread(target=lane, args=(exp,)) for exp in (1, 2, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [journal.pending(slot_tag(exp, 1)).calls for exp in (1, 2, 3)] == [20, 20, 20]
    (tmp_path / "inflight" / "9-1-1-1.json").write_text('{"prompt_tokens": "lots"')
    (tmp_path / "inflight" / "9-1-1-2.json").write_text('{"prompt_tokens": -5, "calls": 1}')
    assert journal.pending("9-1") == Cost(calls=2)


def test_a_reservation_that_cannot_be_written_does_not_stop_the_call(tmp_path: Path) -> None:
    (tmp_path / "inflight").write_text("a file where the folder goes")
    journal = CallJournal(tmp_path / "inflight")
    assert journal.reserve(Cost(1, calls=1)) is None
    journal.update(None, Cost(2, calls=1))  # nothing to update: no error


def test_the_client_reserves_each_attempt_before_sending_and_writes_its_count_after(tmp_path: Path) -> None:
    journal = CallJournal(tmp_path / "inflight")
    seen: list[Cost] = []

    def answer(request: object) -> Reply:
        seen.append(journal.pending())  # what was on disk when the request came
        return Reply.error(500, "busy") if len(seen) == 1 else Reply.text("done", 123, 4)

    with ScriptedServer(answer) as server, LLMClient(_spec(server), backoff=Backoff(0.01, 0.01)) as client:
        client.journal = journal
        with journal.tagged(slot_tag(2, 1)):
            reply = client.complete(MESSAGES, deadline=Deadline.after(30))
    prompt = estimate_prompt_tokens(MESSAGES)
    reserved = Cost(prompt, 0, price(prompt, 0, client.spec), calls=1, estimated=prompt)
    assert seen[0] == reserved  # the first attempt, reserved before it reached the server
    assert seen[1] == Cost(calls=1) + reserved  # the 500 counted no tokens; the retry reserved
    settled = journal.pending("2-1")
    assert settled == Cost(calls=1) + Cost(123, 4, price(123, 4, client.spec), calls=1)
    assert reply.cost.tokens == settled.tokens and reply.cost.calls == settled.calls


def test_a_call_not_sent_reserves_nothing(tmp_path: Path) -> None:
    journal = CallJournal(tmp_path / "inflight")
    with ScriptedServer([]) as server, LLMClient(_spec(server)) as client:
        client.journal = journal
        with pytest.raises(LLMBudgetSpent, match="not sent"):
            client.complete(MESSAGES, tokens_left=10)
        assert not server.completions
    assert journal.sweep() == (Cost(), [])


def test_a_run_settles_its_reservations_and_counts_no_call_twice(tmp_path: Path, isolated_home: Path) -> None:
    evaluate = "import json, model\nprint(json.dumps({'score': model.VALUE}))\n"
    workspace = git_workspace(tmp_path, {"model.py": "VALUE = 1\n", "evaluate.py": evaluate})
    edit = (
        "More.\n\nmodel.py\n```python\n<<<<<<< SEARCH\nVALUE = 1\n=======\nVALUE = 2\n>>>>>>> REPLACE\n```\n"
    )
    index = RunIndex(isolated_home)
    try:
        with ScriptedServer(lambda request: Reply.text(edit, 500, 20)) as server:
            result = start_run(
                load_task(llm_task_file(tmp_path, workspace, server, "settled", 3)), isolated_home, index
            )
        run = index.find_run(result.run_id)
    finally:
        index.close()
    assert run.unrecorded == Cost()
    assert not list((isolated_home / "runs" / result.run_id / "inflight").glob("*.json"))
    assert run_cost(result.records, run).tokens == sum(r.cost.tokens for r in result.records) > 0


def test_a_run_record_of_older_strop_reads_with_nothing_unrecorded() -> None:
    old = {
        "id": "abc", "task": "t", "task_path": "/t", "repo": "/r", "workspace": "/w", "base_branch": "main",
        "base_commit": "0" * 40, "metric": "score", "direction": "maximize", "schema": 2,
    }  # fmt: skip
    assert RunRecord.from_stored(json.dumps(old)).unrecorded == Cost()
    record = RunRecord.from_dict(old)
    record.unrecorded = Cost(10, 0, 0.5, calls=1, estimated=10)
    again = RunRecord.from_stored(json.dumps(record.to_dict()))
    assert again == record and run_cost([], again) == record.unrecorded


def test_what_reserve_never_writes_counts_one_call_and_never_stops_a_sweep(tmp_path: Path) -> None:
    """A folder named like a reservation made every resume fail (IsADirectoryError) and count its
    calls again; floats and infinities were summed into run.json, which then failed its own audit."""
    journal = CallJournal(tmp_path / "inflight")
    journal.reserve(Cost(100, 0, 0.001, calls=1, estimated=100))
    (tmp_path / "inflight" / "9-1-1-1.json").mkdir()
    for name, data in {
        "a": {"usd": float("inf"), "prompt_tokens": 10},
        "b": {"prompt_tokens": 1e308, "calls": 1.5},
        "c": {"prompt_tokens": 10**12},
        "d": {"usd": float("nan")},
    }.items():
        (tmp_path / "inflight" / f"{name}.json").write_text(json.dumps(data))
    cost, files = journal.sweep()
    assert cost == Cost(100, 0, 0.001, calls=5, estimated=100)  # four damaged: a call each, no tokens
    assert len(files) == 5
    journal.forget([*files, tmp_path / "inflight" / "9-1-1-1.json"])  # a folder is left, quietly
    assert journal.sweep() == (Cost(), [])
