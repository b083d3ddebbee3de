"""What a long run costs the driver per experiment must not grow with the experiments before it."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.home import strop_home
from agent.loop import start_run
from agent.records import ExperimentRecord
from agent.run_index import RunIndex
from agent.task import load_task

from .conftest import make_task


def test_the_loop_copies_each_record_version_once_not_every_record_at_every_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each node read a copy of every record: ~9 copies of the whole run per experiment, so
    0.26 s of the driver's time an experiment at 2,000 experiments and an O(n²) run."""
    copies = []
    copy = ExperimentRecord.copy
    monkeypatch.setattr(ExperimentRecord, "copy", lambda self: (copies.append(self.id), copy(self))[1])
    experiments = 16
    result = start_run(
        load_task(make_task(tmp_path / "t", experiments=experiments)), strop_home(), RunIndex(strop_home())
    )
    assert [r.id for r in result.records] == list(range(experiments))
    # a few versions per experiment (committed, evaluated, ...), plus the records the run hands back
    assert len(copies) <= 5 * experiments, len(copies)


def test_the_checkpoint_store_keeps_the_newest_checkpoints_and_the_run_resumes_from_them(
    tmp_path: Path,
) -> None:
    """LangGraph kept every checkpoint (~16 an experiment, ~47 KB): 100 MB at 2,000 experiments."""
    import sqlite3

    from agent.loop import resume_run
    from agent.loop.audit import audit_run
    from agent.loop.checkpoints import KEEP, PRUNE_EVERY
    from agent.loop.graph import CHECKPOINTS

    home, index = strop_home(), RunIndex(strop_home())
    result = start_run(load_task(make_task(tmp_path / "t", experiments=12)), home, index)
    database = home / "runs" / result.run_id / CHECKPOINTS
    with sqlite3.connect(database) as connection:
        kept = connection.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0]
        orphans = connection.execute(
            "SELECT COUNT(*) FROM writes WHERE checkpoint_id NOT IN (SELECT checkpoint_id FROM checkpoints)"
        ).fetchone()[0]
    assert KEEP <= kept < KEEP + PRUNE_EVERY, kept  # 12 experiments wrote ~190
    assert orphans == 0
    more = resume_run(result.run_id, home, index, experiments=15)
    assert [r.id for r in more.records] == list(range(15))
    assert audit_run(result.run_id, home, index, evaluated=15) == []
