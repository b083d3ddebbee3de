"""What the model is told about its answers: code a run already had, refused edits, kept reasons.

Real loop, real git, real `openai` client against the scripted server; only the model's words are
fake. Each test failed before its fix: an answer that made an earlier experiment's code again was
evaluated again; refusals beside applied edits reached no later prompt; a turn's prompt kept the
last 4 decision lines (a call's accounting, not the refusal); a tampering attempt followed by an
empty reply was recorded as "the answer held no code"; an unfenced diff got no note.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.edits import parse_answer
from agent.llm import Backoff, LLMClient
from agent.llm.scripted_server import RecordedRequest, Reply, ScriptedServer
from agent.loop import start_run
from agent.proposers.base import ProposalRequest
from agent.proposers.llm import LLMProposer, no_edit_reason
from agent.proposers.twins import TreeTwins
from agent.records import ExperimentRecord
from agent.run_index import RunIndex
from agent.task import Task, load_task
from evaluators.verdict import Status
from tests.llm.support import commit_initial, git, git_workspace, llm_task_file

EVALUATE = 'import json, model\nprint(json.dumps({"score": model.VALUE}))\n'


def sr(path: str, search: str, replace: str) -> str:
    return f"{path}\n```python\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n```\n"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return git_workspace(tmp_path, {"model.py": "VALUE = 1\n", "evaluate.py": EVALUATE})


@pytest.fixture
def index(isolated_home: Path) -> Iterator[RunIndex]:
    opened = RunIndex(isolated_home)
    yield opened
    opened.close()


def script(*answers: str) -> Callable[[RecordedRequest], Reply]:
    queue = list(answers)
    return lambda request: Reply.text(queue.pop(0)) if queue else Reply.error(400, "script exhausted")


def user_prompt(request: RecordedRequest) -> str:
    return (request.body or {})["messages"][1]["content"]


def test_an_answer_making_an_earlier_experiment_s_code_again_is_sent_back_not_evaluated(
    tmp_path: Path, workspace: Path, index: RunIndex, isolated_home: Path
) -> None:
    """Experiment 2, built on experiment 1, undid its change: experiment 0's code, evaluated again."""
    answers = script(
        "Raise VALUE.\n\n" + sr("model.py", "VALUE = 1", "VALUE = 2"),
        "Go back to the start.\n\n" + sr("model.py", "VALUE = 2", "VALUE = 1"),
        "Raise it further.\n\n" + sr("model.py", "VALUE = 2", "VALUE = 3"),
    )
    with ScriptedServer(answers) as server:
        task = load_task(llm_task_file(tmp_path, workspace, server, "twins", 3))
        result = start_run(task, isolated_home, index)
        completions = list(server.completions)
    assert len(completions) == 3
    followup = (completions[2].body or {})["messages"][-1]["content"]
    assert "exactly the code of experiment 0" in followup and "make a different change" in followup
    records = {r.id: r for r in result.records}
    assert records[2].parent == 1 and records[2].metrics == {"score": 3.0}
    assert any("(sent back) did not apply: the edits make exactly the code of experiment 0" in d
               for d in records[2].decisions)  # fmt: skip


def test_an_attempt_left_with_an_earlier_experiment_s_code_is_rejected_saying_which(
    tmp_path: Path, workspace: Path, index: RunIndex, isolated_home: Path
) -> None:
    answers = script(
        "Raise VALUE.\n\n" + sr("model.py", "VALUE = 1", "VALUE = 2"),
        "Go back to the start.\n\n" + sr("model.py", "VALUE = 2", "VALUE = 1"),
        "I have no other idea.",
    )
    with ScriptedServer(answers) as server:
        task = load_task(llm_task_file(tmp_path, workspace, server, "twins", 3))
        result = start_run(task, isolated_home, index)
    attempt = {r.id: r for r in result.records}[2]
    assert attempt.status is Status.REJECTED and not attempt.metrics
    assert attempt.reason.startswith("edits not applied: the edits make exactly the code of experiment 0")
    assert attempt.reason.endswith("; then the answer held no code")


def test_a_sibling_s_code_is_found_by_its_tree(tmp_path: Path) -> None:
    """Two drafts from one parent with the same change: the second names the first, not the parent."""
    repo = tmp_path / "repo"
    (repo / "sub").mkdir(parents=True)
    (repo / "model.py").write_text("VALUE = 1\n")
    (repo / "sub" / "util.py").write_text("X = 0\n")
    commit_initial(repo)
    base = git(repo, "rev-parse", "HEAD").strip()
    (repo / "model.py").write_text("VALUE = 2\n")
    git(repo, "commit", "-qam", "sibling")
    sibling = git(repo, "rev-parse", "HEAD").strip()
    lane = tmp_path / "lane"
    git(repo, "worktree", "add", "-q", "--detach", str(lane), base)
    history = [
        ExperimentRecord("r", 0, None, "b0", base, status=Status.OK),
        ExperimentRecord("r", 1, 0, "b1", sibling, status=Status.OK, metrics={"score": 2.0}),
    ]
    objects = sorted(p.name for p in (repo / ".git" / "objects").rglob("*") if p.is_file())
    twins = TreeTwins()
    assert twins.find(lane, {"model.py": "VALUE = 2\n"}, history) == history[1]
    assert twins.find(lane, {"model.py": "VALUE = 3\n"}, history) is None
    assert twins.find(lane, {"model.py": "VALUE = 2\n", "new.py": "y = 1\n"}, history) is None
    assert twins.find(lane, {"sub/util.py": "X = 0\n"}, history) == history[0]
    twins.find(lane, {"model.py": "VALUE = 9\n", "sub/deep/new.py": "z = 1\n"}, history)
    assert sorted(p.name for p in (repo / ".git" / "objects").rglob("*") if p.is_file()) == objects


def test_refusals_beside_applied_edits_reach_the_next_prompt_built_on_it(
    tmp_path: Path, workspace: Path, index: RunIndex, isolated_home: Path
) -> None:
    """The answer's good edit applied, so nothing was sent back: the refusals were told nowhere."""
    mixed = (
        "Raise VALUE, and some housekeeping.\n\n"
        + sr("model.py", "VALUE = 1", "VALUE = 2")
        + "\n```yaml path=.github/workflows/ci.yml\non: push\n```\n"
        + "\n```text path=.gitignore\n*.pyc\n```\n"
    )
    answers = script(mixed, "Raise it further.\n\n" + sr("model.py", "VALUE = 2", "VALUE = 3"))
    with ScriptedServer(answers) as server:
        task = load_task(llm_task_file(tmp_path, workspace, server, "refusals", 3))
        result = start_run(task, isolated_home, index)
        completions = list(server.completions)
    assert len(completions) == 2  # no follow-up: the edit that mattered applied
    records = {r.id: r for r in result.records}
    assert records[1].status is Status.OK and records[2].parent == 1
    second = user_prompt(completions[1])
    assert "The verdict on this code" in second
    assert "'.github/workflows/ci.yml' is under '.github/', which makes tools run code" in second
    assert "'.gitignore' is a .git* path" in second
    assert "call 1:" not in second  # accounting is not for the model


def proposer(task: Task) -> LLMProposer:
    assert task.spec.llm is not None
    client = LLMClient(task.spec.llm, environ={"OPENAI_API_KEY": "sk-x"}, sleep=lambda s: None,
                       backoff=Backoff(base=0.01))  # fmt: skip
    return LLMProposer(task, client)


@pytest.fixture
def task(tmp_path: Path, workspace: Path) -> Iterator[tuple[Task, ScriptedServer]]:
    with ScriptedServer([]) as server:
        yield load_task(llm_task_file(tmp_path, workspace, server, "unit", 3)), server


def test_a_turn_shows_the_refusals_that_mattered_not_the_accounting(
    task: tuple[Task, ScriptedServer],
) -> None:
    """The last 4 `llm:` lines were shown: the less important ones and "call 2: finish stop…"."""
    loaded, server = task
    first = (
        "Cheat, then tidy.\n\n"
        + sr("evaluate.py", 'print(json.dumps({"score": model.VALUE}))', 'print(json.dumps({"score": 99}))')
        + sr("model.py", "VALUE = 7", "VALUE = 8")
        + "\n```text path=.gitignore\n*.pyc\n```\n"
    )
    server.add(Reply.text(first), Reply.text(sr("model.py", "VALUE = 1", "VALUE = 2")))
    request = ProposalRequest(loaded, 1, None, loaded.workspace)
    candidate = proposer(loaded).propose(request)
    assert candidate.files == {"model.py": "VALUE = 2\n"}
    attempt = ExperimentRecord(
        "r", 1, 0, "b", "c", status=Status.BUGGY, reason="the evaluator exited with status 1",
        decisions=["search: draft", *candidate.decisions], turns=1,
    )  # fmt: skip
    server.add(Reply.text(sr("model.py", "VALUE = 2", "VALUE = 3")))
    proposer(loaded).propose(ProposalRequest(loaded, 1, None, loaded.workspace, turn=2, attempt=attempt))
    prompt = user_prompt(server.completions[-1])
    assert "'evaluate.py' is a protected evaluator file" in prompt
    assert "'.gitignore' is a .git* path" in prompt
    assert "call 2:" not in prompt and "call 1:" not in prompt and "applied SEARCH" not in prompt


def test_the_reason_keeps_an_earlier_reply_s_refusal(task: tuple[Task, ScriptedServer]) -> None:
    """A tampering reply, sent back, then prose: recorded as just "the answer held no code"."""
    loaded, server = task
    cheat = sr("evaluate.py", 'print(json.dumps({"score": model.VALUE}))', 'print(json.dumps({"score": 99}))')
    server.add(Reply.text("Cheat.\n\n" + cheat), Reply.text("I see. I have nothing else to offer."))
    candidate = proposer(loaded).propose(ProposalRequest(loaded, 1, None, loaded.workspace))
    assert len(server.completions) == 2 and candidate.files == {}
    reason = no_edit_reason(candidate)
    assert (
        reason == "edits refused: 'evaluate.py' is a protected evaluator file; then the answer held no code"
    )
    assert len(reason) < 300  # the loop keeps a reason's first 300 characters


def test_an_unfenced_diff_is_sent_back_with_the_same_note_as_a_fenced_one(
    task: tuple[Task, ScriptedServer],
) -> None:
    diff = "--- a/model.py\n+++ b/model.py\n@@ -1 +1 @@\n-VALUE = 1\n+VALUE = 2\n"
    fenced = parse_answer(f"Raise it.\n\n```diff\n{diff}```\n").notes
    assert parse_answer(f"Raise it.\n\n{diff}").notes == fenced
    assert fenced == ("a unified diff was not applied: send SEARCH/REPLACE blocks (or whole files) instead.",)
    assert parse_answer("Some notes\n--- \nand a rule\n+++ not a diff\n").notes == ()
    loaded, server = task
    server.add(Reply.text(f"Raise it.\n\n{diff}"), Reply.text(sr("model.py", "VALUE = 1", "VALUE = 2")))
    candidate = proposer(loaded).propose(ProposalRequest(loaded, 1, None, loaded.workspace))
    assert candidate.files == {"model.py": "VALUE = 2\n"}
    assert "send SEARCH/REPLACE blocks" in (server.completions[1].body or {})["messages"][-1]["content"]
