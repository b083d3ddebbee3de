"""The LLM proposer against the scripted server: prompts, edits, feedback, failures, cost."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.llm import Backoff, LLMClient, LLMConfigError
from agent.llm.scripted_server import Reply, ScriptedServer
from agent.prompts import Prompts
from agent.proposers.base import ProposalRequest, Proposer
from agent.proposers.llm import (
    NO_EDIT,
    LLMProposer,
    extend_request,
    make_llm_proposer,
    no_edit_reason,
    workspace_files,
)
from agent.records import ExperimentRecord
from agent.task import Task, load_task
from evaluators.verdict import Status

KEY = "sk-proposer-secret-42"
MODEL = 'DEPTH = 3\n\n\ndef build():\n    return {"depth": DEPTH}\n'
EVALUATOR = "import json, model\nprint(json.dumps({'score': model.build()['depth']}))\n"


def sr(path: str, search: str, replace: str) -> str:
    return f"{path}\n```python\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n```\n"


GOOD = "Deeper is better here.\n\n" + sr("model.py", "DEPTH = 3", "DEPTH = 4")


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer([]) as running:
        yield running


@pytest.fixture
def task(tmp_path: Path, server: ScriptedServer) -> Task:
    work = tmp_path / "work"
    work.mkdir()
    (work / "model.py").write_text(MODEL)
    (work / "evaluate.py").write_text(EVALUATOR)
    (work / "task.toml").write_text(
        textwrap.dedent(
            f"""
            [task]
            name = "toy"
            goal = "Make the score as high as possible by changing model.py."
            [evaluator]
            command = "python evaluate.py"
            metric = "score"
            direction = "maximize"
            files = ["evaluate.py"]
            [budget]
            turns = "dynamic"
            [llm]
            base_url = "{server.base_url}"
            model = "tiny"
            max_retries = 2
            price_input = 1.0
            price_output = 4.0
            """
        )
    )
    return load_task(work / "task.toml")


def proposer(task: Task, **kwargs: object) -> LLMProposer:
    assert task.spec.llm is not None
    client = LLMClient(
        task.spec.llm, environ={"OPENAI_API_KEY": KEY}, sleep=lambda s: None, backoff=Backoff(base=0.01)
    )
    return LLMProposer(task, client, **kwargs)  # type: ignore[arg-type]


def request(task: Task, turn: int = 1, **kwargs: object) -> ProposalRequest:
    values: dict[str, object] = {"task": task, "exp_id": 1, "parent": None, "parent_checkout": task.workspace}
    values.update(kwargs)
    return ProposalRequest(turn=turn, **values)  # type: ignore[arg-type]


def test_it_is_a_proposer(task: Task) -> None:
    assert isinstance(proposer(task), Proposer)


def test_good_edit_becomes_files_plan_and_cost(task: Task, server: ScriptedServer) -> None:
    server.add(Reply.text(GOOD, prompt_tokens=900, completion_tokens=80))
    candidate = proposer(task).propose(request(task))
    assert candidate.files == {"model.py": MODEL.replace("DEPTH = 3", "DEPTH = 4")}
    assert candidate.idea == "Deeper is better here."
    assert (candidate.cost.prompt_tokens, candidate.cost.completion_tokens, candidate.cost.calls) == (
        900,
        80,
        1,
    )
    assert candidate.cost.usd == pytest.approx(900e-6 + 320e-6)
    calls = [d for d in candidate.decisions if d.startswith("llm: call ")]
    assert calls == [calls[0]] and calls[0].startswith(
        "llm: call 1: finish stop, 900+80 tokens, max_tokens 4096"
    )
    assert [d for d in candidate.decisions if d not in calls] == ["llm: applied SEARCH block 1 for model.py"]
    assert candidate.proposer == "llm" and candidate.turns == 1
    assert no_edit_reason(candidate) is None
    assert (task.workspace / "model.py").read_text() == MODEL  # the proposer never writes


def test_the_prompt_carries_goal_code_verdict_context_and_budget(task: Task, server: ScriptedServer) -> None:
    server.add(Reply.text(GOOD))
    parent = ExperimentRecord(
        "r", 2, 0, "b", "c", status=Status.OK, metrics={"score": 3.0}, feedback="fit took 1.2s\n{'score': 3}"
    )
    note = "experiments left: 5 of 8; this is turn 1 of 3; turns left in this attempt after this one: 2"
    proposer(task).propose(
        request(
            task, parent=parent, context="LESSON: depth above 10 overfits", budget_note=note, history=[parent]
        )
    )
    system, user = (m["content"] for m in (server.completions[0].body or {})["messages"])
    assert "SEARCH/REPLACE" in system and "EXTEND: <why>" in system  # dynamic policy: the model may ask
    assert "Make the score as high as possible" in user
    assert "turns left in this attempt after this one: 2" in user
    assert "The verdict on this code (r/2)" in user and "score = 3" in user and "fit took 1.2s" in user
    assert "LESSON: depth above 10 overfits" in user
    assert "## model.py\n\n```python\nDEPTH = 3" in user
    assert "## evaluate.py (read-only: evaluator)" in user
    assert user.index("## model.py") < user.index("## evaluate.py")
    assert "experiment 2 from 0: ok, score = 3" in user
    assert "improve the metric" in user


def test_turn_two_shows_the_previous_turns_error(task: Task, server: ScriptedServer) -> None:
    server.add(Reply.text(GOOD))
    attempt = ExperimentRecord(
        "r",
        1,
        None,
        "b",
        "c",
        status=Status.BUGGY,
        reason="the evaluator exited with status 1: NameError: name 'DEPT' is not defined",
        feedback="Traceback ...\nNameError: name 'DEPT' is not defined",
        decisions=["llm: applied SEARCH block 1 for model.py"],
        turns=1,
    )
    proposer(task).propose(request(task, turn=2, attempt=attempt))
    user = (server.completions[0].body or {})["messages"][1]["content"]
    assert "Your previous turn (r/1, turn 1)" in user
    assert "NameError: name 'DEPT' is not defined" in user
    assert "Find the cause and fix it" in user
    # its files are the attempt's so far (edits apply on top of them), not the parent's as it was
    assert (
        "# The workspace (the code of r/1, your attempt so far, with the edits of your earlier turns)" in user
    )


def test_an_edit_that_does_not_apply_is_sent_back_with_the_closest_lines(
    task: Task, server: ScriptedServer
) -> None:
    # prompt counts a real prompt can have: a count below a token per 16 characters is not believed
    server.add(Reply.text(sr("model.py", "DEPTH = 30", "DEPTH = 4"), 1000, 10), Reply.text(GOOD, 2000, 20))
    candidate = proposer(task).propose(request(task))
    assert candidate.files == {"model.py": MODEL.replace("DEPTH = 3", "DEPTH = 4")}
    followup = (server.completions[1].body or {})["messages"]
    assert [m["role"] for m in followup] == ["system", "user", "assistant", "user"]
    assert "SEARCH block 1 for model.py did not match" in followup[3]["content"]
    assert "1 | DEPTH = 3" in followup[3]["content"]
    assert candidate.cost.prompt_tokens == 3000 and candidate.cost.calls == 2
    assert any(d.startswith("llm: (sent back) did not apply: SEARCH block 1") for d in candidate.decisions)


def test_edits_that_never_apply_give_no_files_and_the_reason(task: Task, server: ScriptedServer) -> None:
    bad = sr("model.py", "WIDTH = 9", "WIDTH = 10")
    server.add(Reply.text(bad, 1000, 30), Reply.text(bad, 1000, 30))
    candidate = proposer(task).propose(request(task))
    assert candidate.files == {}
    reason = no_edit_reason(candidate)
    assert reason is not None and reason.startswith(
        "no edit applied (SEARCH block 1 for model.py did not match"
    )
    assert candidate.decisions[-1].startswith(NO_EDIT)
    assert candidate.cost.calls == 2 and candidate.cost.tokens == 2060


def test_no_code_at_all(task: Task, server: ScriptedServer) -> None:
    server.add(Reply.text("I think the model is fine as it is."))
    candidate = proposer(task).propose(request(task))
    assert candidate.files == {} and no_edit_reason(candidate) == "the answer held no code"
    assert candidate.idea == "I think the model is fine as it is."
    assert len(server.completions) == 1  # nothing to correct: no follow-up call


def test_unnamed_code_block_is_sent_back_once(task: Task, server: ScriptedServer) -> None:
    server.add(Reply.text("```python\nDEPTH = 4\n```"), Reply.text(GOOD))
    candidate = proposer(task).propose(request(task))
    assert "model.py" in candidate.files
    assert "named no file" in (server.completions[1].body or {})["messages"][3]["content"]


@pytest.mark.parametrize(
    ("path", "words"), [("../outside.py", "outside the workspace"), ("/tmp/x.py", "outside the workspace")]
)
def test_paths_outside_the_workspace_are_refused(
    task: Task, server: ScriptedServer, path: str, words: str
) -> None:
    server.add(Reply.text(f"Plan.\n```python path={path}\nprint('escape')\n```\n"))
    candidate = proposer(task, edit_retries=0).propose(request(task))
    assert candidate.files == {}
    reason = no_edit_reason(candidate) or ""
    assert reason.startswith("every edit was refused") and words in reason
    assert not (task.workspace.parent / "outside.py").exists()


def test_an_edit_to_the_evaluator_is_refused_and_the_rest_kept(task: Task, server: ScriptedServer) -> None:
    answer = GOOD + sr("evaluate.py", "import json, model", "import json, model  # print 100")
    server.add(Reply.text(answer))
    candidate = proposer(task).propose(request(task))
    assert list(candidate.files) == ["model.py"]
    assert any("evaluate.py' is a protected evaluator file" in d for d in candidate.decisions)
    assert len(server.completions) == 1  # refusals are final: no follow-up


def test_a_huge_reply_is_cut_and_gives_no_edit(task: Task, server: ScriptedServer) -> None:
    server.add(Reply.huge(3_000_000))
    candidate = proposer(task).propose(request(task))
    assert candidate.files == {} and len(candidate.idea) <= 2000
    assert any("the reply was cut at" in d for d in candidate.decisions)


def test_a_failing_endpoint_gives_no_edit_and_no_exception(task: Task, server: ScriptedServer) -> None:
    server.add(Reply.error(500), Reply.error(429, retry_after=0), Reply.error(503))
    candidate = proposer(task).propose(request(task))
    assert candidate.files == {}
    assert (no_edit_reason(candidate) or "").startswith("the model call failed")
    assert "HTTP 503" in (no_edit_reason(candidate) or "")


def test_a_refused_key_stops_with_a_config_error(task: Task, server: ScriptedServer) -> None:
    server.add(Reply.error(401))
    with pytest.raises(LLMConfigError):
        proposer(task).propose(request(task))


def test_extend_request_is_visible_to_the_turn_policy(task: Task, server: ScriptedServer) -> None:
    server.add(Reply.text(GOOD + "\nEXTEND: the error moved from import to fit\n"))
    candidate = proposer(task).propose(request(task))
    assert extend_request(candidate) == "the error moved from import to fit"


def test_transcript_is_written_without_the_key(task: Task, server: ScriptedServer, tmp_path: Path) -> None:
    (task.workspace / "notes.txt").write_text(f"do not share {KEY}\n")
    server.add(Reply.text(GOOD))
    proposer(task, transcript_dir=tmp_path / "llm").propose(request(task))
    text = (tmp_path / "llm" / "1-turn1.md").read_text()
    assert "## reply 1" in text and "DEPTH = 4" in text
    assert KEY not in text
    assert KEY not in server.completions[0].raw.decode()


def test_make_llm_proposer_reads_the_key_from_the_environment(
    task: Task, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    server.add(Reply.text(GOOD))
    candidate = make_llm_proposer(task).propose(request(task))
    assert candidate.files
    assert server.completions[0].headers["authorization"] == f"Bearer {KEY}"


def test_workspace_files_are_bounded(tmp_path: Path) -> None:
    (tmp_path / "big.py").write_text("x = 1\n" * 10_000)
    (tmp_path / "blob.bin").write_bytes(b"\0\1\2" * 100)
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "secret.py").write_text("no")
    (tmp_path / "small.py").write_text("y = 2\n")
    (tmp_path / "a-latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    shown, omitted = workspace_files(tmp_path, (), max_chars=5_000, per_file=4_000)
    big = next(f for f in shown if f.path == "big.py")
    assert big.truncated and big.shown == 4_000 and big.size == 60_000
    assert "blob.bin (binary)" in omitted and "a-latin1.txt (not UTF-8)" in omitted
    assert all(".hidden" not in f.path for f in shown)
    assert sum(f.shown for f in shown) <= 5_000
    for i in range(50):
        (tmp_path / f"f{i:02}.py").write_text("z = 0\n" * 100)
    shown, omitted = workspace_files(tmp_path, (), max_chars=5_000, per_file=4_000)
    assert len(omitted) == 31 and omitted[-1].startswith("and ") and omitted[-1].endswith(" more")


def test_prompts_are_strict(tmp_path: Path) -> None:
    (tmp_path / "x.md").write_text("Hello {{ name }} and {{ missing }}")
    import jinja2

    with pytest.raises(jinja2.UndefinedError):
        Prompts(tmp_path).render("x.md", name="a")


def test_a_huge_answer_is_sent_back_clipped(task: Task, server: ScriptedServer) -> None:
    """A refused 400,000-character answer was echoed whole in the follow-up (~134,000 prompt tokens)."""
    from agent.proposers.llm import ECHO_CHARS

    huge = sr("model.py", "DEPTH = 30", "DEPTH = 4") + "\n" + "filler line of a rambling answer\n" * 6000
    server.add(Reply.text(huge, 100, 10), Reply.text(GOOD, 200, 20))
    proposer(task).propose(request(task))
    followup = (server.completions[1].body or {})["messages"]
    echoed = followup[2]["content"]
    assert followup[2]["role"] == "assistant" and len(huge) > 10 * ECHO_CHARS
    assert len(echoed) < ECHO_CHARS + 100 and "characters of this answer left out" in echoed
    assert echoed.startswith(huge.strip()[:200])


def test_an_answer_that_changes_nothing_is_sent_back(task: Task, server: ScriptedServer) -> None:
    """Its edits were dropped only after the follow-ups were decided, so the parent was evaluated
    again as if it were a new candidate: a wasted evaluation and no word to the model."""
    same = "No change needed.\n\n" + sr("model.py", "DEPTH = 3", "DEPTH = 3")
    server.add(Reply.text(same, 100, 10), Reply.text(GOOD, 200, 20))
    candidate = proposer(task).propose(request(task))
    assert len(server.completions) == 2
    followup = (server.completions[1].body or {})["messages"]
    assert "exactly as it was" in followup[3]["content"]
    assert candidate.files == {"model.py": MODEL.replace("DEPTH = 3", "DEPTH = 4")}
