"""The quantization Domain with the real engine, Z3 and baselines, on the bundled MLP."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from agent.domains.quantization import baselines
from agent.domains.quantization.constraints import build_space
from agent.domains.quantization.datasets import digits_split
from agent.domains.quantization.domain import QuantDomain
from agent.domains.quantization.formats import LayerGene
from agent.domains.quantization.models import load_model
from agent.domains.quantization.profiles import PROFILES
from agent.evolution import Engine, EngineConfig


@pytest.fixture(scope="module")
def net():
    return load_model("digits-mlp")


@pytest.fixture(scope="module")
def split():
    return digits_split()


def make(net, split, budget=3.0, profile="generic") -> QuantDomain:
    return QuantDomain(net, split, build_space(net.shapes(), PROFILES[profile], budget, (8, 16, 32, 64)))


def test_check_repairs_to_budget_and_counts(net, split) -> None:
    domain = make(net, split, 2.5)
    rng = np.random.default_rng(0)
    for _ in range(20):
        checked = domain.check(domain.random_genome(rng))
        assert not isinstance(checked, str)
        assert domain.size(checked).avg_bits <= 2.5
    c = domain.counters
    assert c.checked == 20 and c.feasible + c.repaired == 20 and c.repaired > 0
    assert c.evaluations_saved == c.repaired + c.rejected


def test_without_repair_infeasible_is_rejected_with_reason(net, split) -> None:
    domain = make(net, split, 2.5)
    domain.repair = False
    verdict = domain.check(tuple(LayerGene.make("int_sym", 8) for _ in net.shapes()))
    assert isinstance(verdict, str) and verdict.startswith("infeasible:") and "budget" in verdict


def test_evaluate_is_deterministic_and_pickles(net, split) -> None:
    domain = make(net, split)
    genome = tuple(LayerGene.make("int_asym", 3, 0, rounding="gptq") for _ in net.shapes())
    first = domain.evaluate(genome)
    clone = pickle.loads(pickle.dumps(domain))
    second = clone.evaluate(genome)
    assert first == second
    assert 0.9 < first.info["val_acc"] <= 1.0 and first.objectives[1] == domain.size(genome).bytes


def test_accumulator_overflow_is_excluded_before_evaluation(net, split) -> None:
    domain = make(net, split, 4.5, "edge-int16")
    wide = tuple(LayerGene.make("int_sym", 4) for _ in net.shapes())  # 128-wide rows of 4-bit weights
    checked = domain.check(wide)
    assert not isinstance(checked, str)
    assert domain.counters.accumulator_overflows >= 1
    for index, gene in enumerate(checked):
        verdict = domain.accumulator_verdict(index, gene)
        assert verdict is None or verdict.safe


def test_engine_run_stays_in_budget_and_beats_uniform_2bit(net, split) -> None:
    domain = make(net, split, 2.5)
    result = Engine(domain, EngineConfig(seed=1, population=8, islands=1, generations=3, workers=0)).run()
    assert result.front and result.stats.evaluated > 10
    for ind in result.front:
        assert ind.fitness.info["avg_bits"] <= 2.5
    best = max(ind.fitness.info["val_acc"] for ind in result.front)
    uniform2 = domain.evaluate(baselines.uniform(domain, LayerGene.make("int_sym", 2).format, 2)).info[
        "val_acc"
    ]
    assert best > uniform2 + 0.2


def test_hawq_and_tpe_baselines_fit_the_budget(net, split) -> None:
    domain = make(net, split, 3.0)
    hawq = baselines.hawq(domain, seed=0)
    assert hawq.genome is not None and domain.size(hawq.genome).avg_bits <= 3.0
    assert len({g.bits for g in hawq.genome}) > 1  # mixed precision, not uniform
    tpe = baselines.tpe(domain, evaluations=12, seed=0)
    assert tpe.evaluations == 12 and domain.size(tpe.genome).avg_bits <= 3.0
