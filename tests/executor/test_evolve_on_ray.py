"""The evolution engine's candidate evaluations on a real Ray cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from agent.evolution import Engine, EngineConfig
from agent.evolution.toy import ToyDomain
from agent.executors.cluster import LocalCluster


def _front(result) -> list:  # type: ignore[no-untyped-def]
    return [(i.genome, i.fitness.objectives) for i in result.front]


def test_a_seeded_search_is_the_same_search_on_ray(cluster: LocalCluster) -> None:
    config = dict(seed=5, population=6, islands=2, generations=3, workers=2, eval_timeout=30.0)
    local = Engine(ToyDomain(), EngineConfig(**config)).run()
    remote = Engine(ToyDomain(), EngineConfig(**config, executor="ray", address=cluster.address)).run()
    assert _front(remote) == _front(local)
    assert remote.stats.evaluated == local.stats.evaluated > 0


def test_a_genome_past_its_time_limit_or_crashing_its_worker_gets_no_fitness_on_ray(
    cluster: LocalCluster,
) -> None:
    from agent.executors.ray_pool import RayPool

    domain = ToyDomain(hang_above=1.5, crash_above=2.5)
    with RayPool(domain, workers=2, timeout=25.0, address=cluster.address, retries=1) as pool:
        outcomes = pool.evaluate_all([(0.0, 0.0, 0.0), (2.0, 0.0, 0.0), (2.9, 0.0, 0.0), (0.5, 0.5, 0.5)])
    assert [o.status for o in outcomes] == ["ok", "timeout", "crashed", "ok"]
    assert outcomes[2].error.startswith("lost after 2 attempt(s)")


def _numerics(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "agent.cli", "evolve", "numerics", "--fn", "exp", "--interval", "0.5,1"]
    command += ["--dtype", "float64", "--generations", "1", "--population", "6", "--islands", "1"]
    command += ["--max-cost", "3", "--cost-model", "ops", "--json", "--out", str(home / "out"), *args]
    env = {**os.environ, "STROP_HOME": str(home), "PYTHONWARNINGS": "ignore"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


def test_evolve_numerics_evaluates_its_candidates_on_ray(tmp_path: Path, cluster: LocalCluster) -> None:
    remote = _numerics(tmp_path / "r", "--workers", "2", "--executor", "ray", "--address", cluster.address)
    assert remote.returncode == 0, remote.stderr[-2000:]
    local = _numerics(tmp_path / "l", "--workers", "2")
    assert local.returncode == 0, local.stderr[-2000:]
    fronts = [
        [(e["cost"], e["ops"], e["max_ulp"]) for e in json.loads(run.stdout)["front"]]
        for run in (remote, local)
    ]
    assert fronts[0] and fronts[0] == fronts[1]


def test_evolve_numerics_with_an_unreachable_cluster_is_one_line(tmp_path: Path) -> None:
    from agent.executors.cluster import free_port

    gone = f"127.0.0.1:{free_port()}"
    failed = _numerics(tmp_path, "--executor", "ray", "--address", gone)
    assert failed.returncode == 2 and f"cannot reach the Ray cluster at {gone}" in failed.stderr
    assert "Traceback" not in failed.stderr
