"""An engine run recorded in git: each Pareto point an experiment, readable by `strop log`."""

from __future__ import annotations

import json
import subprocess
import sys

from agent.evolution import Engine, EngineConfig
from agent.evolution.events import ParetoPointFound
from agent.evolution.toy import ToyDomain
from agent.home import strop_home
from agent.search_recorder import PointRecord, SearchRecorder
from evaluators.metric import Direction


def render(individual) -> PointRecord:
    first, second = individual.fitness.objectives
    return PointRecord(
        idea=f"point {individual.uid}",
        files={"genome.json": json.dumps(list(individual.genome))},
        metrics={"d0": first, "d1": second},
    )


def test_every_pareto_point_found_is_an_experiment_in_git() -> None:
    recorder = SearchRecorder(strop_home(), "toy-search", "d0", Direction.MINIMIZE, render, "a toy search")
    run = recorder.start()
    found: list[ParetoPointFound] = []

    def observe(event: object) -> None:
        if isinstance(event, ParetoPointFound):
            found.append(event)
        recorder(event)

    Engine(
        ToyDomain(), EngineConfig(seed=3, population=8, islands=1, generations=3, workers=0), observe
    ).run()
    recorder.finish()
    assert found, "the toy run finds Pareto points"

    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "log", run.id, "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    log = json.loads(done.stdout)
    assert log["status"] == "done" and log["task"] == "toy-search"
    assert len(log["experiments"]) == len(found)
    for event, exp in zip(found, log["experiments"], strict=True):
        assert exp["metrics"]["d0"] == event.individual.fitness.objectives[0]
        shown = subprocess.run(
            ["git", "show", f"{exp['branch']}:genome.json"],
            cwd=run.repo,
            capture_output=True,
            text=True,
            check=True,
        )
        assert json.loads(shown.stdout) == list(event.individual.genome)
    assert log["best"] == min(log["experiments"], key=lambda e: (e["metrics"]["d0"], e["id"]))["id"]


def test_a_warm_started_search_records_the_front_it_began_with(tmp_path) -> None:
    """A nightly's second night that found no new point recorded no experiment: `strop nightly
    summary` said "nothing scored" and `strop report` drew no front while last night's stood."""
    checkpoint = tmp_path / "search.ckpt"
    config = EngineConfig(
        seed=3, population=8, islands=1, generations=3, workers=0, checkpoint_path=checkpoint
    )
    first = Engine(ToyDomain(), config).run()
    front = sorted(ind.fitness.objectives for ind in first.front)

    recorder = SearchRecorder(strop_home(), "toy-search", "d0", Direction.MINIMIZE, render, "a toy search")
    run = recorder.start()
    again = EngineConfig(
        seed=3, population=8, islands=1, generations=0, workers=0, checkpoint_path=checkpoint
    )
    Engine.continued(ToyDomain(), again, recorder).run()
    recorder.finish()

    records = recorder.index.experiments(run.id)
    assert sorted((r.metrics["d0"], r.metrics["d1"]) for r in records) == front
    assert all(r.decisions[0].startswith("carried from the saved search") for r in records)
    assert recorder.index.find_run(run.id).best is not None
