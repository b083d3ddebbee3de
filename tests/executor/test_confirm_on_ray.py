"""Confirmation on a real Ray cluster: a `--parallel 2` run's re-evaluations go to the cluster's
lanes, as its experiments did, and come back as named confirmation logs the audit accepts."""

from __future__ import annotations

from pathlib import Path

from agent.executors import ExecutorSpec
from agent.executors.cluster import LocalCluster
from agent.home import strop_home
from agent.loop import Overrides, start_run
from agent.loop.audit import audit_provenance, audit_run
from agent.run_index import RunIndex
from agent.task import load_task
from tests.loop.conftest import make_task


def test_a_two_lane_run_on_ray_confirms_its_contenders_there(tmp_path: Path, cluster: LocalCluster) -> None:
    task = make_task(tmp_path / "t", experiments=4, seed=3, sleep=0.5)
    index = RunIndex(strop_home())
    events: list = []
    spec = ExecutorSpec("ray", cluster.address, 2).to_dict()
    result = start_run(
        load_task(task),
        strop_home(),
        index,
        Overrides(parallel=2, executor=spec, confirm=1),
        sink=events.append,
    )
    confirmed = [r for r in result.records if r.confirmations]
    assert len(confirmed) >= 2 and all(len(r.confirmations) == 1 for r in confirmed)
    assert all(c.status == "ok" and Path(c.log_path).is_file() for r in confirmed for c in r.confirmations)
    logs = strop_home() / "runs" / result.run_id / "logs"
    assert sorted(p.name for p in logs.glob("*-c*")) == sorted(f"{r.id}-c1-validate.log" for r in confirmed)
    notes = [e.text for e in events if e.kind == "Note" and "re-evaluations ran" in e.text]
    assert notes and "on 2 lanes" in notes[0], notes
    assert audit_run(result.run_id, strop_home(), index, evaluated=4) == []
    assert audit_provenance(result.run_id, strop_home(), index) == []
