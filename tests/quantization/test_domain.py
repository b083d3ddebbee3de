"""The quantization Domain with the real engine, Z3 and baselines, on the bundled MLP."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from agent.domains.quantization import baselines
from agent.domains.quantization.constraints import build_space
from agent.domains.quantization.datasets import digits_split
from agent.domains.quantization.domain import QuantDomain
from agent.domains.quantization.formats import Format, LayerGene, Rounding
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


def test_hawq_chooses_from_the_whole_menu(net, split) -> None:
    """HAWQ-V3's program sees every format, group and rounding, sized like the search sizes them."""
    domain = make(net, split, 3.0)
    table = baselines.hawq_options(domain, seed=0)
    assert table is not None
    seen = {(gene.format, gene.rounding, gene.group) for points in table for _, _, gene in points}
    assert {f for f, _, _ in seen} == set(Format) and {r for _, r, _ in seen} == set(Rounding)
    assert len({g for _, _, g in seen}) > 2  # per-channel and groups
    full = baselines._solve_ilp(table, domain.space.budget_total)
    narrow = [[p for p in points if p[2].format is Format.INT_SYM and p[2].rounding is Rounding.RTN
               and p[2].group == 0] for points in table]  # fmt: skip
    old = baselines._solve_ilp(narrow, domain.space.budget_total)  # HAWQ as the issue found it
    assert full is not None and old is not None

    def objective(genome) -> float:
        return sum(
            next(o for _, o, g in points if g == gene) for points, gene in zip(table, genome, strict=True)
        )

    assert objective(full) <= objective(old) + 1e-15  # a superset of options can only lower Σ Ω
    assert domain.size(full).avg_bits <= 3.0 and baselines.feasible(domain, full)
    assert len({g.label() for g in full}) > 1  # mixed precision, not uniform


def test_best_uniform_uses_asym_groups_and_gptq(net, split) -> None:
    domain = make(net, split, 3.0)
    menu = baselines.uniform_menu(domain)
    assert {g[0].format for g in menu} == {Format.INT_SYM, Format.INT_ASYM}
    assert {g[0].rounding for g in menu} == set(Rounding) and {g[0].group for g in menu} > {0}
    best = baselines.best_uniform_int(domain)
    assert best.genome is not None and domain.size(best.genome).avg_bits <= 3.0
    inside = [g for g in menu if domain.size(g).avg_bits <= 3.0]
    assert best.evaluations == len(inside)
    val = {g: domain.evaluate(g).info["val_acc"] for g in inside}
    assert val[best.genome] == max(val.values())


def test_tpe_fits_the_budget_and_stops_at_its_deadline(net, split) -> None:
    from agent.deadline import Deadline

    domain = make(net, split, 3.0)
    tpe = baselines.tpe(domain, evaluations=12, seed=0)
    assert tpe.evaluations == 12 and domain.size(tpe.genome).avg_bits <= 3.0 and not tpe.cut
    cut = baselines.random_search(domain, 10_000, seed=0, deadline=Deadline.after(1.0))
    assert cut.cut and 0 < cut.evaluations < 10_000


def test_shipped_digits_split_is_scikit_learns() -> None:
    from agent.domains.quantization.datasets import sklearn_digits_split

    shipped, rebuilt = digits_split(), sklearn_digits_split()
    for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        a, b = getattr(shipped, name), getattr(rebuilt, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name


def test_hawq_program_skips_options_whose_sensitivity_is_not_a_number() -> None:
    """A NaN or inf Ω (dequantized weights that are not numbers) is no option; CBC refused the whole
    program ("Cannot multiply variables with NaN/inf values") and the run ended in an internal error."""
    cheap, wide = LayerGene.make("int_sym", 2), LayerGene.make("int_sym", 4)
    table = [
        [(2 * 64, float("nan"), cheap), (4 * 64, 1.0, wide)],
        [(2 * 64, 0.5, cheap), (4 * 64, float("inf"), wide)],
    ]
    assert baselines._solve_ilp(table, 6 * 64) == (wide, cheap)
    assert baselines._solve_ilp([[(2 * 64, float("nan"), cheap)]], 6 * 64) is None
