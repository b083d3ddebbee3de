import signal
import subprocess
import sys

import pytest

from agent.errors import UserError
from agent.evolution import (
    BudgetTooShort,
    Engine,
    EngineConfig,
    GenerationDone,
    ParetoPointFound,
)
from agent.evolution.pareto import dominates
from agent.evolution.toy import ToyDomain


def _fingerprint(result):
    front = [(ind.uid, ind.genome, ind.fitness.objectives) for ind in result.front]
    islands = [[ind.uid for ind in members] for members in result.islands]
    stats = result.stats
    counters = (stats.evaluated, stats.rejected_by_check, stats.novelty_rejected, stats.generations)
    return front, islands, counters, sorted(result.archive.cells)


def _config(**overrides):
    settings = dict(seed=7, population=12, islands=3, migration_interval=2, generations=6, workers=0)
    settings.update(overrides)
    return EngineConfig(**settings)


def test_engine_converges_to_the_pareto_set_and_emits_events():
    events = []
    result = Engine(ToyDomain(), _config(generations=15), observer=events.append).run()
    assert result.stats.generations == 15
    assert result.stats.evaluated > 150
    for ind in result.front:  # a front: nobody dominates anybody
        assert not any(dominates(o.fitness.objectives, ind.fitness.objectives) for o in result.front)
    assert min(sum(ind.fitness.objectives) for ind in result.front) < 1.6  # optimum is 1.5
    assert any(isinstance(e, ParetoPointFound) for e in events)
    assert [e.generation for e in events if isinstance(e, GenerationDone)] == list(range(16))
    assert len(result.archive) >= 3


def test_same_seed_same_run_with_worker_processes():
    first = Engine(ToyDomain(), _config(workers=2)).run()
    second = Engine(ToyDomain(), _config(workers=2)).run()
    inline = Engine(ToyDomain(), _config(workers=0)).run()
    assert _fingerprint(first) == _fingerprint(second) == _fingerprint(inline)
    assert _fingerprint(Engine(ToyDomain(), _config(seed=8)).run()) != _fingerprint(first)


def test_check_rejections_are_counted_and_never_evaluated():
    result = Engine(ToyDomain(reject_above=1.0, raise_below=-10), _config()).run()
    assert result.stats.rejected_by_check > 0
    assert dict(result.stats.rejected_by_reason)["out of range"] == result.stats.rejected_by_check
    for members in result.islands:
        assert all(ind.genome[0] <= 1.0 for ind in members)


def test_novelty_rejects_behavioural_duplicates():
    coarse = ToyDomain(signature_digits=0)  # signatures collide often
    result = Engine(coarse, _config()).run()
    assert result.stats.novelty_rejected > 0
    by_uid = {ind.uid: ind.fitness.signature for members in result.islands for ind in members}
    assert len(by_uid) == len(set(by_uid.values()))  # migrants are copies, never new duplicates
    off = Engine(coarse, _config(novelty=False)).run()
    assert off.stats.novelty_rejected == 0


def test_timed_out_candidates_get_no_fitness():
    domain = ToyDomain(hang_above=2.5)
    result = Engine(domain, _config(workers=2, eval_timeout=0.5, generations=2, population=6)).run()
    assert result.stats.timed_out > 0
    everyone = [ind for members in result.islands for ind in members] + result.front
    assert all(ind.genome[0] <= 2.5 for ind in everyone)


def test_budget_too_short_for_one_generation_is_a_user_error():
    slow = ToyDomain(eval_seconds=0.2)
    with pytest.raises(BudgetTooShort) as caught:
        Engine(slow, _config(generations=None, time_budget=0.3)).run()
    assert isinstance(caught.value, UserError)


def test_time_budget_stops_the_run():
    result = Engine(ToyDomain(eval_seconds=0.002), _config(generations=None, time_budget=1.5)).run()
    assert result.stats.generations >= 1
    assert result.stats.wall_time < 5


_DIE_AFTER_CHECKPOINT = """
import os, signal, sys
from pathlib import Path
from agent.evolution import CheckpointWritten, Engine, EngineConfig
from agent.evolution.toy import ToyDomain

def observer(event):
    if isinstance(event, CheckpointWritten) and event.generation == 4:
        os.kill(os.getpid(), signal.SIGKILL)

config = EngineConfig(seed=7, population=12, islands=3, migration_interval=2, generations=6, workers=2,
                      checkpoint_path=Path(sys.argv[1]), checkpoint_every=2)
Engine(ToyDomain(), config, observer=observer).run()
"""


def test_killed_run_resumes_to_the_same_result(tmp_path):
    uninterrupted = Engine(ToyDomain(), _config(workers=2)).run()
    checkpoint = tmp_path / "engine.ckpt"
    child = subprocess.run([sys.executable, "-c", _DIE_AFTER_CHECKPOINT, str(checkpoint)], timeout=120)
    assert child.returncode == -signal.SIGKILL
    resumed_engine = Engine.resume(ToyDomain(), checkpoint)
    assert resumed_engine.state.generation == 4
    resumed = resumed_engine.run()
    assert _fingerprint(resumed) == _fingerprint(uninterrupted)


def test_a_stop_between_checkpoints_keeps_the_last_whole_generation(tmp_path):
    """A stop signal (KeyboardInterrupt) lands while generation 5 is under way, 5 generations after
    the last periodic checkpoint (every 10): generations 1-4 were lost. The checkpoint now holds
    generation 4, and the resumed search is the one that was never stopped."""
    from agent.evolution import CheckpointWritten

    uninterrupted = Engine(ToyDomain(), _config(workers=2, generations=8)).run()
    checkpoint = tmp_path / "engine.ckpt"
    written = []

    def stop_in_generation_5(event):
        if isinstance(event, CheckpointWritten):
            written.append(event.generation)
        if isinstance(event, GenerationDone) and event.generation == 5:
            raise KeyboardInterrupt  # where the signal handler raises it: mid-run, state half-moved

    engine = Engine(
        ToyDomain(),
        _config(workers=2, generations=8, checkpoint_path=checkpoint, checkpoint_every=10),
        observer=stop_in_generation_5,
    )
    with pytest.raises(KeyboardInterrupt):
        engine.run()
    assert written == [0, 4]
    resumed = Engine.resume(ToyDomain(), checkpoint)
    assert resumed.state.generation == 4
    assert _fingerprint(resumed.run()) == _fingerprint(uninterrupted)


def test_config_without_budget_is_refused():
    with pytest.raises(UserError):
        EngineConfig(population=4)


def test_warm_start_continues_the_saved_search(tmp_path):
    """Two nights of 3 then 2 generations are the same search as one of 5 (nothing restarts)."""
    straight = Engine(ToyDomain(), _config(generations=5)).run()
    checkpoint = tmp_path / "nightly" / "toy.ckpt"
    first = Engine.continued(
        ToyDomain(), _config(generations=3, checkpoint_path=checkpoint), identity={"f": 1}
    )
    assert first.state.generation == -1
    first.run()
    second = Engine.continued(
        ToyDomain(), _config(generations=2, checkpoint_path=checkpoint), identity={"f": 1}
    )
    assert second.state.generation == 3
    assert _fingerprint(second.run()) == _fingerprint(straight)


def test_a_checkpoint_of_another_search_is_not_continued(tmp_path):
    checkpoint = tmp_path / "toy.ckpt"
    Engine.continued(ToyDomain(), _config(generations=1, checkpoint_path=checkpoint), identity={"f": 1}).run()
    with pytest.raises(UserError, match="different search"):
        Engine.continued(ToyDomain(), _config(generations=1, checkpoint_path=checkpoint), identity={"f": 2})


def test_an_older_checkpoint_missing_a_newer_check_says_so(tmp_path):
    """A checkpoint from before a key joined the identity (the seed, a file's sha256) read "seed
    differs: give the same arguments" to a user who gave the same ones."""
    checkpoint = tmp_path / "toy.ckpt"
    Engine.continued(ToyDomain(), _config(generations=1, checkpoint_path=checkpoint), identity={"f": 1}).run()
    with pytest.raises(UserError, match="predates this strop's checks of seed"):
        Engine.continued(
            ToyDomain(), _config(generations=1, checkpoint_path=checkpoint), identity={"f": 1, "seed": 3}
        )


def test_a_checkpoint_not_sealed_by_this_home_is_never_unpickled(tmp_path, monkeypatch):
    import pickle

    marker = tmp_path / "PWNED"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))  # what a planted file could run when unpickled

    checkpoint = tmp_path / "toy.ckpt"
    Engine.continued(ToyDomain(), _config(generations=1, checkpoint_path=checkpoint)).run()
    assert Engine.resume(ToyDomain(), checkpoint).state.generation >= 0  # its own: loads
    planted = tmp_path / "planted.ckpt"
    planted.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(UserError, match="not a checkpoint sealed by this strop home"):
        Engine.resume(ToyDomain(), planted)
    forged = tmp_path / "forged.ckpt"
    forged.write_bytes(checkpoint.read_bytes()[:8] + bytes(32) + pickle.dumps(Payload()))
    with pytest.raises(UserError, match="sealed by another strop home or changed"):
        Engine.resume(ToyDomain(), forged)
    monkeypatch.setenv("STROP_HOME", str(tmp_path / "other-home"))  # another home's key
    with pytest.raises(UserError, match="sealed by another strop home"):
        Engine.resume(ToyDomain(), checkpoint)
    assert not marker.exists()
