"""A run prefix that matches several runs names them: `strop rm 2` said "2 runs match" and no more."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.errors import NotFoundError
from agent.records import RunRecord
from agent.run_index import RunIndex
from evaluators.metric import Direction


def test_an_ambiguous_prefix_names_the_runs_it_matches(tmp_path: Path) -> None:
    index = RunIndex(tmp_path)
    for run_id in ("2a0b1c", "2f9e8d", "7c6b5a"):
        index.put_run(
            RunRecord(
                id=run_id, task="t", task_path="", repo=str(tmp_path / "repo"), workspace="", base_branch="main",
                base_commit="0" * 40, metric="m", direction=Direction.MAXIMIZE,
            )
        )  # fmt: skip
    with pytest.raises(NotFoundError) as said:
        index.find_run("2")
    assert "2 runs match (2a0b1c, 2f9e8d)" in str(said.value)
    assert index.find_run("2f").id == "2f9e8d"
