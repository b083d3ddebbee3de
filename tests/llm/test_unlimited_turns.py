"""`turns = "unlimited"` is bounded by the run's time, tokens or cost, and a policy's real limit
sizes the loop's step guard.

Before, a task with `turns = "unlimited"` and an experiments budget alone ran one attempt for as
long as its turns failed: a model whose edits never applied made 1,775 paid calls ($2.61) in a
3-experiment run, which then ended on `internal error: GraphRecursionError` (the step guard was
sized for `turn_limit` turns per attempt, as it was for a `p75` limit that history had raised).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.errors import UserError
from agent.llm.scripted_server import Reply, ScriptedServer
from agent.loop import Overrides, start_run
from agent.loop.graph import UNLIMITED_TURN_STEPS, _turn_steps
from agent.run_index import RunIndex
from agent.task import BudgetSpec, load_task
from agent.turns import TurnPolicy
from tests.llm.support import git_workspace, llm_task_file

NEVER_APPLIES = "Raise it.\n\nmodel.py\n<<<<<<< SEARCH\nVALUE = 7\n=======\nVALUE = 8\n>>>>>>> REPLACE\n"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    evaluate = 'import json, model\nprint(json.dumps({"score": model.VALUE}))\n'
    return git_workspace(tmp_path, {"model.py": "VALUE = 1\n", "evaluate.py": evaluate})


def test_unlimited_turns_with_an_experiments_budget_alone_is_refused_before_a_run(
    tmp_path: Path, workspace: Path, isolated_home: Path
) -> None:
    with ScriptedServer(lambda request: Reply.text(NEVER_APPLIES)) as server:
        task = load_task(
            llm_task_file(tmp_path, workspace, server, "unbounded", 3, turns='turns = "unlimited"')
        )
        index = RunIndex(isolated_home)
        try:
            with pytest.raises(UserError, match=r'turns = "unlimited" needs a time, tokens or cost budget'):
                start_run(task, isolated_home, index)
            assert index.runs() == []  # refused before a run exists
        finally:
            index.close()
        assert server.completions == []


def test_a_time_budget_bounds_unlimited_turns(tmp_path: Path, workspace: Path, isolated_home: Path) -> None:
    with ScriptedServer(lambda request: Reply.text(NEVER_APPLIES)) as server:
        task = load_task(
            llm_task_file(tmp_path, workspace, server, "bounded", 3, turns='turns = "unlimited"')
        )
        index = RunIndex(isolated_home)
        try:
            result = start_run(task, isolated_home, index, Overrides(time=6.0))
            assert "time" in (result.stop_reason or ""), result.stop_reason
            assert len(server.completions) > 3  # one attempt took many turns, as the policy says
        finally:
            index.close()


def test_the_step_guard_holds_the_policys_real_limit() -> None:
    budget = BudgetSpec(turns="p75", turn_limit=3, extension=2, max_extensions=2)
    raised = TurnPolicy.from_budget(budget, successes=[9, 10, 12])  # history above turn_limit
    assert raised.start_limit == 11
    assert _turn_steps(raised, budget) >= 6 * (11 + 2 * 2)
    unlimited = TurnPolicy.from_budget(BudgetSpec(turns="unlimited", time="1h"))
    assert _turn_steps(unlimited, budget) == UNLIMITED_TURN_STEPS
