"""Issue 17: small local models still make progress; endpoint quirks handled.

Real loop, real git, real `openai` client against the scripted server on 127.0.0.1; only
the model's words (and, for constrained decoding, its obedience to a schema) are fake.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.deadline import Deadline
from agent.llm import ChatMessage, LLMClient
from agent.llm.endpoint import PROBE_VALUE, probe
from agent.llm.scripted_server import RecordedRequest, Reply, ScriptedServer
from agent.loop import start_run
from agent.proposers.modes import choose_mode, fallback_reason
from agent.proposers.prompt_fit import Cuts, fit
from agent.proposers.structured import parse_params, settle_point
from agent.records import ExperimentRecord
from agent.run_index import RunIndex
from agent.space import Space
from agent.task import LLMSpec, ParamSpec, load_task
from evaluators.verdict import Status
from tests.llm.support import git, git_workspace, llm_task_file

EVALUATE = """
import json
p = json.load(open("params.json"))
print(json.dumps({"score": -((p["x"] - 7) ** 2) - (p["y"] - 3.0) ** 2}))
"""

SECTIONS = """
[space]
x = { type = "int", low = 0, high = 20 }
y = { type = "float", low = 0.0, high = 10.0 }

[constraints]
rules = ["x + y <= 12"]
on_violation = "reject"
"""


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return git_workspace(
        tmp_path, {"params.json": '{"x": 1, "y": 1.0}\n', "evaluate.py": textwrap.dedent(EVALUATE)}
    )


@pytest.fixture
def index(isolated_home: Path) -> Iterator[RunIndex]:
    opened = RunIndex(isolated_home)
    yield opened
    opened.close()


def task_file(
    tmp_path: Path, workspace: Path, server: ScriptedServer, experiments: int, llm: str = ""
) -> Path:
    """The shared LLM task on params.json, with its [space] and a constraint."""
    return llm_task_file(
        tmp_path,
        workspace,
        server,
        "local",
        experiments,
        llm=llm,
        goal="Make the score of params.json as high as possible.",
        sections=SECTIONS,
    )


def schema_of(request: RecordedRequest) -> dict | None:
    """The JSON schema a request asked for (either dialect), or None."""
    fmt = (request.body or {}).get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return fmt["json_schema"]["schema"]
    if fmt.get("type") == "json_object":
        return fmt.get("schema")
    return None


def constrained(answer: dict) -> object:
    """A responder playing an endpoint with constrained decoding: the probe gets its value, others `answer`."""

    def respond(request: RecordedRequest) -> Reply:
        schema = schema_of(request)
        if schema is not None and "probe" in schema.get("properties", {}):
            return Reply.text(json.dumps({"probe": PROBE_VALUE}))
        return Reply.text(json.dumps(answer))

    return respond


# ------------------------------------------------------------------------------ pure parts
def space() -> Space:
    return Space(
        {
            "x": ParamSpec(type="int", low=0, high=20),
            "y": ParamSpec(type="float", low=0.0, high=10.0),
            "kind": ParamSpec(type="choice", choices=["a", "b"]),
        }
    )


def test_params_are_read_from_json_cut_json_and_lines() -> None:
    assert parse_params('{"params": {"x": 3, "y": 2.5}, "reason": "closer"}', space()).values == {
        "x": 3,
        "y": 2.5,
    }
    cut = parse_params('```json\n{"params": {"x": 4, "y": 1.5, "kind": "b"}, "reason": "because the', space())
    assert cut.values == {"x": 4, "y": 1.5, "kind": "b"}
    assert parse_params("I would set x = 9 and y: 0.5", space()).values == {"x": 9, "y": 0.5}
    assert parse_params("no numbers here", space()).values == {}


def test_values_are_clipped_repaired_by_z3_and_never_repeat() -> None:
    import random

    from agent.constraints import Constraints

    rules = Constraints(space(), ["x + y <= 12"])
    settled = settle_point(
        {"x": 50, "y": 9.0, "kind": "B"},
        space(),
        rules,
        {"x": 1, "y": 1.0, "kind": "a"},
        set(),
        random.Random(0),
    )
    assert settled.point is not None and rules.check(settled.point).passed
    assert settled.point["kind"] == "b" and any("into its bounds" in n for n in settled.notes)
    assert any("repaired to the nearest feasible point" in n for n in settled.notes)
    tried = {space().key({"x": 2, "y": 1.0, "kind": "a"})}
    again = settle_point(
        {"x": 2, "y": 1.0}, space(), rules, {"x": 1, "y": 1.0, "kind": "a"}, tried, random.Random(0)
    )
    assert again.point is not None and space().key(again.point) not in tried
    assert any("tried before" in n for n in again.notes)


def test_hostile_values_are_settled_or_refused_not_raised() -> None:
    import random

    deep = '{"params": {"x": 1, "z": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    assert parse_params(deep, space()).values in ({}, {"x": 1})  # no RecursionError
    huge = parse_params('{"params": {"x": 1e400, "y": -1e400}}', space())
    settled = settle_point(
        huge.values, space(), None, {"x": 1, "y": 1.0, "kind": "a"}, set(), random.Random(0)
    )
    assert settled.point is not None and (settled.point["x"], settled.point["y"]) == (20, 0.0)  # clipped


def record(i: int, status: Status, proposer: str = "llm", mode: str = "text") -> ExperimentRecord:
    return ExperimentRecord(
        run="r", id=i, parent=0, branch="", commit="", status=status, proposer=proposer, mode=mode
    )


def test_auto_mode_switches_to_params_after_two_code_failures_and_tries_code_again() -> None:
    base = [record(0, Status.OK, "baseline", "")]
    failing = [*base, record(1, Status.REJECTED), record(2, Status.REJECTED)]
    assert choose_mode("auto", base, True, None).mode == "text"
    assert choose_mode("auto", failing, True, None).mode == "params"
    assert choose_mode("auto", failing, False, True).mode == "structured"  # no [space]: JSON edits
    params = [record(3 + i, Status.OK, mode="params") for i in range(4)]
    assert choose_mode("auto", [*failing, *params], True, True).mode == "structured"  # code again
    assert choose_mode("structured", base, True, False).mode == "text"  # not supported: text


def test_fallback_after_two_llm_experiments_without_an_evaluable_candidate() -> None:
    history = [record(0, Status.OK, "baseline", ""), record(1, Status.REJECTED), record(2, Status.BUGGY)]
    assert fallback_reason(history, 2) == ""  # a buggy candidate was evaluable
    history.append(record(3, Status.REJECTED))
    assert fallback_reason(history, 2) == ""
    history.append(record(4, Status.REJECTED))
    assert fallback_reason(history, 2).startswith("fallback: 2 LLM experiments in a row")
    assert fallback_reason(history, 0) == ""
    history.append(record(5, Status.OK, "evolve", "offline"))
    assert fallback_reason(history, 2) == ""  # the LLM is asked again after the offline one


def test_the_prompt_is_cut_in_the_stated_order_until_it_fits() -> None:
    def render(cuts: Cuts) -> list[ChatMessage]:
        context = "k" * (3000 if cuts.context_chars is None else cuts.context_chars)
        files = "f" * min(cuts.files_chars, 24_000)
        return [ChatMessage("user", context + "h" * 200 * cuts.history + files)]

    fitted = fit(render, Cuts(files_chars=24_000), budget=3000, context_len=3000)
    assert fitted.fits and fitted.tokens <= 3000
    assert fitted.cut[:2] == ("knowledge and lessons halved", "knowledge and lessons dropped")
    assert "history cut to the last 2 experiments" in fitted.cut
    assert fitted.cut[-1].startswith("workspace view cut to")
    assert "prompt cut to fit the 4096-token context" in fitted.line(3000, 4096)


# ------------------------------------------------------------------------------ client quirks
def client_for(server: ScriptedServer, **spec: object) -> LLMClient:
    values = {"request_timeout": 5.0, **spec}
    return LLMClient(LLMSpec(base_url=server.base_url, model="m", **values), environ={})


def test_usage_missing_is_counted_locally_and_marked_estimated_at_no_cost() -> None:
    with (
        ScriptedServer([Reply.no_usage("a reply of some forty characters......")]) as server,
        client_for(server) as client,
    ):
        reply = client.complete([ChatMessage("user", "x" * 400)])
    assert not reply.usage_reported
    assert reply.cost.prompt_tokens == 100 + 5 + 3 and reply.cost.completion_tokens > 0  # text, framing
    assert reply.cost.estimated == reply.cost.tokens and reply.cost.usd == 0.0  # a local model costs nothing


def test_an_endpoint_refusing_seed_is_asked_again_without_it_and_never_gets_n() -> None:
    def respond(request: RecordedRequest) -> Reply:
        body = request.body or {}
        if "n" in body:
            return Reply.error(400, "Unsupported parameter: 'n'")
        if "seed" in body:
            return Reply.error(400, "Unsupported parameter: 'seed' is not supported with this model.")
        return Reply.text("fine")

    with ScriptedServer(respond) as server, client_for(server) as client:
        first = client.complete([ChatMessage("user", "hi")], seed=7)
        second = client.complete([ChatMessage("user", "hi again")], seed=8)
        bodies = [r.body or {} for r in server.completions]
    assert first.text == second.text == "fine"
    assert first.attempts == 2 and first.cost.calls == 2 and "refuses `seed`" in first.log.line()
    assert second.attempts == 1  # remembered: not sent again
    assert ["seed" in b for b in bodies] == [True, False, False]
    assert not any("n" in b for b in bodies)


def test_a_chat_template_without_a_system_role_gets_it_in_the_user_message() -> None:
    def respond(request: RecordedRequest) -> Reply:
        roles = [m["role"] for m in (request.body or {})["messages"]]
        if "system" in roles:
            return Reply.error(500, "Jinja template error: System role not supported")
        return Reply.text("ok")

    messages = [ChatMessage("system", "RULES"), ChatMessage("user", "QUESTION")]
    with ScriptedServer(respond) as server, client_for(server) as client:
        client.complete(messages)
        client.complete(messages)
        sent = [(r.body or {})["messages"] for r in server.completions]
    assert len(sent) == 3 and sent[0][0]["role"] == "system"
    assert sent[1] == sent[2] == [{"role": "user", "content": "RULES\n\nQUESTION"}]


def test_a_slow_first_token_is_waited_for_and_recorded() -> None:
    with (
        ScriptedServer([Reply.text("late but fine", delay=1.2)]) as server,
        client_for(server, request_timeout=3.0) as client,
    ):
        reply = client.complete([ChatMessage("user", "hi")], deadline=Deadline.after(10))
    assert reply.text == "late but fine" and reply.attempts == 1 and reply.log.timeouts == 0
    assert reply.log.first_token is not None and reply.log.first_token >= 1.1
    assert "first token 1." in reply.log.line()


def test_the_probe_finds_each_dialect_or_none_and_the_reported_window() -> None:
    def only_json_object(request: RecordedRequest) -> Reply:
        fmt = (request.body or {}).get("response_format") or {}
        if fmt.get("type") == "json_schema":  # llama-cpp-python answers a validation error with a 500
            return Reply.error(500, "1 validation error: Input should be 'text' or 'json_object'")
        return Reply.text(json.dumps({"probe": PROBE_VALUE}))

    with (
        ScriptedServer(constrained({}), model_info={"max_model_len": 4096}) as server,
        client_for(server) as client,
    ):
        caps = probe(client)
    assert caps.dialect == "json_schema" and caps.context == 4096 and caps.cost.calls == 1
    with ScriptedServer(only_json_object) as server, client_for(server) as client:
        caps = probe(client)
    assert caps.dialect == "json_object" and caps.context is None and caps.cost.calls == 2
    with ScriptedServer(lambda r: Reply.text('{"probe": "yes"}')) as server, client_for(server) as client:
        caps = probe(client)
    assert caps.dialect is None and "ignored" in caps.line()


# ------------------------------------------------------------------------------ through the loop
def test_params_mode_with_constrained_decoding_is_repaired_and_evaluated(
    tmp_path: Path, workspace: Path, index: RunIndex, isolated_home: Path
) -> None:
    answer = {"params": {"x": 11, "y": 4.0}, "reason": "move toward the optimum"}  # x + y = 15 > 12
    with ScriptedServer(constrained(answer)) as server:
        task = load_task(task_file(tmp_path, workspace, server, 3, 'answers = "params"'))
        result = start_run(task, isolated_home, index)
        schemas = [schema_of(r) for r in server.completions]
    records = {r.id: r for r in result.records}
    first = records[1]
    assert first.status is Status.OK and first.mode == "params" and first.proposer == "llm"
    assert first.params is not None and first.params["x"] + first.params["y"] <= 12
    assert first.metrics["score"] > records[0].metrics["score"]
    decisions = "\n".join(first.decisions)
    assert "endpoint probe: structured answers (json_schema)" in decisions
    assert "repaired to the nearest feasible point" in decisions
    assert schemas[0]["properties"]["probe"] and set(schemas[1]["properties"]["params"]["properties"]) == {
        "x",
        "y",
    }
    assert records[2].status is Status.OK and "tried before" in "\n".join(records[2].decisions)


def test_structured_edits_mode_applies_json_edits(
    tmp_path: Path, workspace: Path, index: RunIndex, isolated_home: Path
) -> None:
    edit = {"path": "params.json", "search": '{"x": 1, "y": 1.0}', "replace": '{"x": 6, "y": 1.0}'}
    answer = {"idea": "x to 6", "edits": [edit]}
    with ScriptedServer(constrained(answer)) as server:
        task = load_task(task_file(tmp_path, workspace, server, 2, 'answers = "structured"'))
        result = start_run(task, isolated_home, index)
        schemas = [schema_of(r) for r in server.completions]
    attempt = {r.id: r for r in result.records}[1]
    assert attempt.status is Status.OK and attempt.mode == "structured" and attempt.idea == "x to 6"
    assert attempt.metrics["score"] == -(1**2) - (1.0 - 3.0) ** 2
    assert schemas[1]["properties"]["edits"]["items"]["properties"]["path"]["enum"] == ["params.json"]


def test_a_model_without_code_falls_back_to_the_offline_proposer_and_is_asked_again(
    tmp_path: Path, workspace: Path, index: RunIndex, isolated_home: Path
) -> None:
    with ScriptedServer(lambda r: Reply.text("I think the values are fine.")) as server:
        task = load_task(task_file(tmp_path, workspace, server, 5, 'answers = "text"'))
        result = start_run(task, isolated_home, index)
    made = [(r.proposer, r.mode, r.status) for r in result.records]
    assert made == [
        ("baseline", "", Status.OK),
        ("llm", "text", Status.REJECTED),
        ("llm", "text", Status.REJECTED),
        ("evolve", "offline", Status.OK),
        ("llm", "text", Status.REJECTED),
    ]
    assert any(d.startswith("fallback: 2 LLM experiments in a row") for d in result.records[3].decisions)
    run_log = next(isolated_home.rglob("run.log")).read_text()
    assert "experiment 3: fallback:" in run_log
    env = {"STROP_HOME": str(isolated_home), "PATH": "/usr/bin:/bin", "COLUMNS": "200"}
    shown = subprocess.run(
        [sys.executable, "-m", "agent.cli", "log"], capture_output=True, text=True, env=env, check=True
    ).stdout
    assert "[evolve/offline]" in shown and "[llm/text]" in shown


def test_auto_switches_a_codeless_model_to_params(
    tmp_path: Path, workspace: Path, index: RunIndex, isolated_home: Path
) -> None:
    def respond(request: RecordedRequest) -> Reply:
        if schema_of(request) is not None:  # this endpoint enforces no schema: it ignores the probe
            return Reply.text("Sure! Here is some JSON.")
        if "Tried so far" in request.prompt or "# Parameters" in request.prompt:
            return Reply.text('Try {"params": {"x": 6, "y": 3.5}, "reason": "closer to the peak"}')
        return Reply.text("The values look fine to me.")

    with ScriptedServer(respond) as server:
        task = load_task(task_file(tmp_path, workspace, server, 5, "fallback_after = 0"))
        result = start_run(task, isolated_home, index)
    modes = [(r.mode, r.status) for r in result.records[1:]]
    assert modes[:2] == [("text", Status.REJECTED), ("text", Status.REJECTED)]
    assert modes[2] == ("params", Status.OK) and result.records[3].params == {"x": 6, "y": 3.5}
    assert "plain-text answers" in "\n".join(result.records[3].decisions)


def test_the_prompt_fits_the_reported_window_and_an_overflow_is_not_a_failed_candidate(
    tmp_path: Path, workspace: Path, index: RunIndex, isolated_home: Path
) -> None:
    (workspace / "notes.md").write_text("filler line for the workspace view\n" * 600)  # ~21k characters
    git(workspace, "add", "-A")
    git(workspace, "commit", "-qm", "notes")
    prompts: list[int] = []

    def respond(request: RecordedRequest) -> Reply:
        prompts.append(len(request.prompt))
        if len(prompts) == 1:  # the server's real window is smaller than the one it reported
            return Reply.error(400, "the prompt is too long for the context window")
        return Reply.text(
            'Raise x.\n\nparams.json\n```\n<<<<<<< SEARCH\n{"x": 1, "y": 1.0}\n=======\n{"x": 5, "y": 1.0}\n>>>>>>> REPLACE\n```\n'
        )

    with ScriptedServer(respond, model_info={"context_length": 4096}) as server:
        task = load_task(task_file(tmp_path, workspace, server, 2, 'answers = "text"'))
        result = start_run(task, isolated_home, index)
    attempt = result.records[1]
    assert attempt.status is Status.OK and attempt.metrics["score"] == -(2**2) - 4.0
    decisions = "\n".join(attempt.decisions)
    assert "prompt cut to fit the 4096-token context" in decisions and "workspace view cut to" in decisions
    assert prompts[0] < 4096 * 3 and prompts[1] < prompts[0]  # fitted first, then smaller again
    assert "context overflow: prompt cut from" in decisions


def test_tokens_no_server_reported_are_estimated_from_pieces_not_characters() -> None:
    from agent.llm.client import estimate_prompt_tokens, estimate_tokens

    numbers = json.dumps({"params": {"learning_rate": 0.1234, "max_iter": 120}})  # 54 chars
    assert estimate_tokens(numbers) > len(numbers) // 4 + 5  # digits are tokens of their own
    assert estimate_tokens("x = [1, 2, 3]") == 11  # x, " =", " [", 1, ",", " ", 2, ",", " ", 3, "]"
    assert estimate_tokens("z" * 400) == 100  # chars/4 stays the floor
    framed = estimate_prompt_tokens([ChatMessage("system", "be brief"), ChatMessage("user", "hello")])
    assert framed == 2 + 2 + 2 * 5 + 3
