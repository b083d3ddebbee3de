"""An LLM candidate's `[space]` values are checked against the rules as its files write them.

The check used to run on the point read into the space: values clipped to its bounds and
missing ones at the space's defaults. A workspace holding `a = 7` (the space stops at 5) whose
candidate raised `b` to 3 was checked as a=5, b=3 (allowed) while the code read a=7, b=3 and
broke `a + b <= 8`; a candidate deleting `a` was checked on the space's midpoint while the code
used its own default.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.llm.scripted_server import Reply, ScriptedServer
from agent.loop import start_run
from agent.run_index import RunIndex
from agent.task import load_task
from evaluators.verdict import Status
from tests.llm.support import git_workspace, llm_task_file

SECTIONS = """
[space]
a = { type = "int", low = 0, high = 5 }
b = { type = "int", low = 0, high = 5 }

[constraints]
rules = ["a + b <= 8"]
"""
EVALUATE = (
    'import json\np = json.load(open("params.json"))\nprint(json.dumps({"score": p.get("a", 0) + p["b"]}))\n'
)


def _edit(search: str, replace: str) -> str:
    return f"Change b.\n\nparams.json\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (_edit(' "b": 1', ' "b": 3'), "violates a + b <= 8 as the files write it (a=7, b=3)"),
        (_edit(' "a": 7,\n "b": 1', ' "b": 1'), "the files no longer write a, which 'a + b <= 8' reads"),
    ],
    ids=["clipped", "removed"],
)
def test_the_rules_judge_the_values_the_code_reads(
    tmp_path: Path, isolated_home: Path, reply: str, words: str
) -> None:
    workspace = git_workspace(
        tmp_path, {"params.json": json.dumps({"a": 7, "b": 1}, indent=1) + "\n", "evaluate.py": EVALUATE}
    )
    with ScriptedServer(lambda request: Reply.text(reply)) as server:
        path = llm_task_file(tmp_path, workspace, server, "written", 2, sections=SECTIONS)
        index = RunIndex(isolated_home)
        try:
            result = start_run(load_task(path), isolated_home, index)
        finally:
            index.close()
    first = result.records[1]
    assert first.status is Status.REJECTED, (first.status, first.reason)
    assert words in first.reason, first.reason


def test_a_value_written_as_a_string_is_judged_as_read_not_a_crash() -> None:
    """`{"a": "4"}` (a string the space coerces) reached the rule as a string: TypeError, and the
    run's check node died with a traceback."""
    from agent.constraints import Constraints
    from agent.space import Space
    from agent.task import ParamSpec

    space = Space({"a": ParamSpec(type="int", low=0, high=5), "b": ParamSpec(type="int", low=0, high=5)})
    rules = Constraints(space, ["a + b <= 8"])
    assert rules.broken_as_written({"a": "7", "b": 3}, {"a": 5, "b": 3}, {"a": "7", "b": 1}) == []
    assert rules.broken_as_written({"a": 7, "b": 3}, {"a": 5, "b": 3}, {"a": 7, "b": 1}) == [
        "violates a + b <= 8 as the files write it (a=7, b=3)"
    ]
