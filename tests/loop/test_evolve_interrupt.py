"""A Ctrl-C or SIGTERM inside the offline proposer's TPE move leaves no half-told study behind.

The proposer keeps its Optuna study between `model` moves and tells it only the new trials
(`_study_told`). An interrupt (an exception raised wherever the signal lands) between
Optuna's `add_trial` and the note of what was told left one trial in the study that the
next move told again: TPE counted that point twice, and the proposer was no longer the
pure function of (seed, index, history) it promises. The study is dropped when a move is
cut, so the next one rebuilds it and proposes what a fresh proposer would.
"""

from __future__ import annotations

import random

import pytest

from agent.proposers.evolve import EvolveOptimizer, Trial
from agent.space import Space
from agent.task import ParamSpec
from evaluators.metric import Direction


def _space() -> Space:
    return Space(
        {
            "x": ParamSpec(type="float", low=-5, high=5),
            "n": ParamSpec(type="int", low=1, high=21),
            "mode": ParamSpec(type="choice", choices=["a", "b"]),
        }
    )


def test_a_tpe_move_cut_mid_tell_proposes_as_a_fresh_study_next(monkeypatch: pytest.MonkeyPatch) -> None:
    import optuna

    rng = random.Random(4)
    history = [Trial(_space().sample(rng), i / 10 + rng.random() / 20) for i in range(30)]
    kept = EvolveOptimizer(_space(), Direction.MAXIMIZE, seed=5, budget=40)
    kept.suggest(history[:20], 20, "model")  # the study is kept, told 20 trials

    add_trial = optuna.study.Study.add_trial
    calls = []

    def interrupted_after_third(self: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        add_trial(self, trial)
        calls.append(trial)
        if len(calls) == 3:
            raise KeyboardInterrupt  # where a Ctrl-C may land: after Optuna took the trial

    monkeypatch.setattr(optuna.study.Study, "add_trial", interrupted_after_third)
    with pytest.raises(KeyboardInterrupt):
        kept.suggest(history[:25], 25, "model")
    monkeypatch.setattr(optuna.study.Study, "add_trial", add_trial)

    fresh = EvolveOptimizer(_space(), Direction.MAXIMIZE, seed=5, budget=40)
    assert kept.suggest(history[:25], 25, "model").point == fresh.suggest(history[:25], 25, "model").point
    completed = [t for t in kept._study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(completed) == 25  # each trial told once
