"""Acceptance 3: a whole run with the LLM proposer, the real `openai` client and the scripted server.

The run meets, in order: good edits, edits that do not apply, no code at all, a path
outside the workspace, an edit to the evaluator, a huge reply, 429 and 500 statuses
and a hanging response. It must survive each, record each, and count exactly the
tokens the server reported. The API key must appear nowhere strop writes: git
(notes, commits), logs, the run index, checkpoints, and the sandbox's environment.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agent.llm.scripted_server import RecordedRequest, Reply, ScriptedServer
from agent.proposers.base import ProposalRequest
from agent.proposers.llm import NO_EDIT, make_llm_proposer, no_edit_reason
from agent.records import Cost, ExperimentRecord, best_experiment
from agent.run import Candidate, Run
from agent.run_index import RunIndex
from agent.task import Task, load_task
from evaluators.verdict import Status
from tests.llm.support import FIXED_TURNS, git, git_workspace, llm_task_file

KEY = "sk-e2e-SECRET-7f3a9c41d2"
Driver = Callable[[Task, Path, RunIndex], tuple[str, list[ExperimentRecord]]]

# The evaluator prints its whole environment (to prove the key is not in it), then the score.
EVALUATOR = """
import json, os
import model
print("ENV", json.dumps(dict(os.environ)))
print(json.dumps({"score": model.VALUE}))
"""

# every reply kind here is a text answer (no endpoint probe, no switch to JSON)
LLM = 'price_input = 2.0\nprice_output = 6.0\nanswers = "text"\n'


def task_file(
    tmp_path: Path, workspace: Path, server: ScriptedServer, experiments: int, turns: str = FIXED_TURNS
) -> Path:
    """The e2e task: lessons on (strop's default), a 1 s request timeout, 3 retries, priced tokens."""
    return llm_task_file(
        tmp_path,
        workspace,
        server,
        "llm-e2e",
        experiments,
        llm=LLM,
        turns=turns,
        memory=True,
        request_timeout="1s",
        max_retries=3,
    )


def sr(path: str, search: str, replace: str) -> str:
    return f"{path}\n```python\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n```\n"


@dataclass
class Scenario:
    """Answers chat requests from a script of kinds; good edits read VALUE from the prompt."""

    kinds: list[str]
    reported: list[tuple[int, int]] = field(default_factory=list)  # usage the server sent
    answered: list[str] = field(default_factory=list)  # the kind of each answer in `reported`

    def __call__(self, request: RecordedRequest) -> Reply:
        if not self.kinds:
            return Reply.error(400, "scripted server: script exhausted")
        kind = self.kinds.pop(0)
        n = len(self.reported) + 1
        usage = (1000 + 7 * n, 50 + n)
        if kind == "429":
            return Reply.error(429, retry_after=0.05)
        if kind == "500":
            return Reply.error(500, "upstream overloaded")
        if kind == "hang":
            return Reply.hang(30)
        if kind == "good":
            value = int(re.findall(r"^VALUE = (\d+)$", request.prompt, re.MULTILINE)[0])
            text = f"Raise VALUE to {value + 1}.\n\n" + sr(
                "model.py", f"VALUE = {value}", f"VALUE = {value + 1}"
            )
        elif kind == "nomatch":
            text = "Change WIDTH.\n\n" + sr("model.py", "WIDTH = 12", "WIDTH = 13")
        elif kind == "nocode":
            text = "I believe the current value is already optimal; no change needed."
        elif kind == "outside":
            text = "Write a helper next to the repo.\n\n```python path=../escape.py\nprint('out')\n```\n"
        elif kind == "evaluator":
            text = "Make the evaluator generous.\n\n" + sr(
                "evaluate.py",
                'print(json.dumps({"score": model.VALUE}))',
                'print(json.dumps({"score": 1e9}))',
            )
        elif kind == "huge":
            text = "z" * 2_000_000
        else:
            raise AssertionError(kind)
        self.reported.append(usage)
        self.answered.append(kind)
        return Reply.text(text, prompt_tokens=usage[0], completion_tokens=usage[1])


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return git_workspace(tmp_path, {"model.py": "VALUE = 1\n", "evaluate.py": textwrap.dedent(EVALUATOR)})


@pytest.fixture
def scenario() -> Scenario:
    # one entry per chat request, in the order the run makes them; an answer whose
    # edits all fail is sent back once (edit_retries=1), so those kinds come twice
    return Scenario(
        [
            "good",  # exp 1: applies -> ok, VALUE 2
            "nomatch",  # exp 2: does not apply ...
            "nomatch",  # ... nor does the corrected answer -> rejected
            "nocode",  # exp 3: no code -> rejected (nothing to send back)
            "outside",  # exp 4: ../escape.py -> refused, sent back ...
            "outside",  # ... refused again -> rejected
            "evaluator",  # exp 5: evaluate.py -> refused, sent back ...
            "evaluator",  # ... refused again -> rejected
            "huge",  # exp 6: 2 MB of text, cut -> rejected
            "429",  # exp 7: rate limited, ...
            "500",  # ... then a server error, ...
            "good",  # ... then a good edit -> ok, VALUE 3
            "hang",  # exp 8: no answer within the deadline, ...
            "good",  # ... retried -> ok, VALUE 4
        ]
    )


@pytest.fixture
def server(scenario: Scenario) -> Iterator[ScriptedServer]:
    with ScriptedServer(scenario) as running:
        yield running


def drive_with_run_api(task: Task, home: Path, index: RunIndex) -> tuple[str, list[ExperimentRecord]]:
    """The proposer driven by hand over the Run API: greedy, one turn per experiment.

    Like the loop, every attempt counts toward the budget, evaluated or rejected.
    """
    run = Run.start(task, home, index)
    proposer = make_llm_proposer(task)
    lane = run.repo.lane(run.record.id, 0)
    base = run.commit_candidate(0, None, Candidate(idea="baseline", proposer="baseline"))
    run.evaluate(base)
    attempts, exp = 1, 0
    while attempts < (task.spec.budget.experiments or 1):
        exp += 1
        parent = run.best()
        assert parent is not None
        git(lane, "checkout", "-q", "-f", "--detach", parent.commit)
        history = run.records()
        request = ProposalRequest(task, exp, parent, lane, history=history, budget_note="experiments left")
        candidate = proposer.propose(request)
        record = run.commit_candidate(exp, parent, candidate)
        reason = no_edit_reason(candidate)
        if reason is not None:
            run.reject(record, reason)
        else:
            run.evaluate(record)
        attempts += 1
    run.finish()
    return run.record.id, run.records()


def drive_with_the_loop(task: Task, home: Path, index: RunIndex) -> tuple[str, list[ExperimentRecord]]:
    """The real run loop (`strop run`'s engine)."""
    from agent.loop import start_run

    result = start_run(task, home, index)
    return result.run_id, result.records


@pytest.mark.parametrize(
    "driver",
    [
        pytest.param(drive_with_run_api, id="run-api"),
        pytest.param(
            drive_with_the_loop,
            id="loop",
        ),
    ],
)
def test_a_run_survives_every_kind_of_reply_and_counts_tokens_exactly(
    driver: Driver,
    tmp_path: Path,
    workspace: Path,
    server: ScriptedServer,
    scenario: Scenario,
    isolated_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    # 9 experiments: 0, three good edits and five rejected attempts (every attempt counts)
    task = load_task(task_file(tmp_path, workspace, server, 9))
    index = RunIndex(isolated_home)
    run_id, all_records = driver(task, isolated_home, index)

    records = {r.id: r for r in all_records}
    assert sorted(records) == list(range(9)), "every experiment is recorded once"
    assert not scenario.kinds, f"unused script: {scenario.kinds}"

    status = {i: records[i].status for i in records}
    assert status == {
        0: Status.OK,
        1: Status.OK,
        2: Status.REJECTED,
        3: Status.REJECTED,
        4: Status.REJECTED,
        5: Status.REJECTED,
        6: Status.REJECTED,
        7: Status.OK,
        8: Status.OK,
    }
    assert [records[i].metrics["score"] for i in (0, 1, 7, 8)] == [1, 2, 3, 4]
    assert best_experiment(all_records, "score", task.evaluator.direction) == records[8]

    def said(i: int) -> str:
        return "\n".join([records[i].reason, *records[i].decisions])

    assert "SEARCH block 1 for model.py did not match" in said(2)
    assert "the answer held no code" in said(3)
    assert "'../escape.py' is outside the workspace" in said(4)
    assert "'evaluate.py' is a protected evaluator file" in said(5)
    assert "the reply was cut at" in said(6)
    for i in (2, 3, 4, 5, 6):
        assert any(d.startswith(NO_EDIT) for d in records[i].decisions), said(i)
    assert not (workspace.parent / "escape.py").exists()
    assert (workspace / "evaluate.py").read_text() == textwrap.dedent(EVALUATOR)

    # tokens: what the run recorded equals what the server reported, call for call; the huge
    # reply's stream was closed at the cut and the hang was abandoned, so theirs are estimated
    total = sum((r.cost for r in records.values()), Cost())
    exact = [u for kind, u in zip(scenario.answered, scenario.reported, strict=True) if kind != "huge"]
    assert total.tokens - total.estimated == sum(p + c for p, c in exact)
    huge_estimate = records[6].cost.estimated
    sent = [int(m) for d in records[6].decisions for m in re.findall(r"max_tokens (\d+)", d)]
    # 400,000 characters estimated past 100,000 tokens, counted at the max_tokens the call was sent
    assert (
        records[6].cost.completion_tokens == sent[0] and records[6].cost.estimated == records[6].cost.tokens
    )
    hang_estimate = records[8].cost.estimated
    assert 0 < hang_estimate < 5000 and records[8].cost.timeouts == 1 and records[8].cost.cancelled == 1
    assert total.estimated == huge_estimate + hang_estimate
    assert records[7].cost.retries == 2 and records[8].cost.retries == 1
    assert total.calls == len(server.completions) == 14  # 11 answers + 429 + 500 + the hang
    expected_usd = sum(p * 2.0 / 1e6 + c * 6.0 / 1e6 for p, c in exact)
    assert total.usd > expected_usd  # the estimated tokens are priced too
    assert any("finish stop" in d and "3 attempts" in d for d in records[7].decisions)

    # the key went to the endpoint in the header, and nowhere else
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in server.completions)
    assert all(KEY not in r.raw.decode() for r in server.completions)
    repo = Path(index.find_run(run_id).repo)
    history = git(repo, "log", "--all", "-p", "--format=%H %B") + git(
        repo, "log", "-p", "refs/notes/strop", "--format=%H %B"
    )
    assert "VALUE = 4" in history  # the history really holds the run
    assert KEY not in history
    leaked = [str(p) for p in isolated_home.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
    assert leaked == []
    logs = [p for p in isolated_home.rglob("*.log") if p.is_file()]
    sandbox_env = [p for p in logs if '"PATH"' in p.read_text(errors="replace")]
    assert sandbox_env, "the evaluator's environment dump is in its logs"
    assert all("OPENAI_API_KEY" not in p.read_text(errors="replace") for p in sandbox_env)
    index.close()


DYNAMIC_TURNS = 'turns = "dynamic"\nturn_limit = 2\nextension = 1\nmax_extensions = 1'


def current_model(prompt: str) -> str:
    """The text of model.py as the prompt shows it."""
    return re.search(r"^## model\.py\n\n```python\n(.*?)\n```", prompt, re.MULTILINE | re.DOTALL).group(1)  # type: ignore[union-attr]


def test_dynamic_turns_through_the_loop_extend_on_progress(
    tmp_path: Path, workspace: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Turn 1 breaks the code, turn 2 hits a different error and asks for more, turn 3 fixes it."""
    plan = [
        ("VALUE = undefined_name", ""),
        ('VALUE = int("not a number")', "EXTEND: the NameError is gone; one more turn for the parse\n"),
        ("VALUE = 5", ""),
    ]
    prompts: list[str] = []

    def answer(request: RecordedRequest) -> Reply:
        prompts.append(request.prompt)
        if not plan:
            return Reply.error(400, "scripted server: script exhausted")
        line, extend = plan.pop(0)
        old = current_model(request.prompt).splitlines()[0]
        return Reply.text(f"Set VALUE.\n\n{sr('model.py', old, line)}{extend}", 500, 40)

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with ScriptedServer(answer) as server:
        task = load_task(task_file(tmp_path, workspace, server, 2, turns=DYNAMIC_TURNS))
        index = RunIndex(isolated_home)
        run_id, records = drive_with_the_loop(task, isolated_home, index)
        index.close()

    attempt = {r.id: r for r in records}[1]
    assert attempt.status is Status.OK and attempt.metrics["score"] == 5 and attempt.turns == 3
    assert attempt.cost.calls == 3 and attempt.cost.prompt_tokens == 1500
    decisions = "\n".join(attempt.decisions)
    assert "turn 1: dynamic: turn 1 of 2 failed" in decisions and "NameError" in decisions
    assert (
        "turn 2: dynamic: granted 1 more turn(s) (extension 1 of 1, limit now 3): the model asked for more "
        "turns ('the NameError is gone; one more turn for the parse') and the error changed" in decisions
    )
    assert "turn 3: dynamic: turn 3 succeeded (score 5)" in decisions
    assert "this is turn 2 of 2" in prompts[1] and "NameError" in prompts[1]
    assert "this is turn 3 of 3" in prompts[2] and "ValueError" in prompts[2]
