"""The Z3 model of the search space: budget, divisibility, profiles, repair, learned exclusions."""

from __future__ import annotations

from agent.domains.quantization.constraints import ConfigSolver, build_space
from agent.domains.quantization.formats import LayerGene
from agent.domains.quantization.profiles import PROFILES
from agent.domains.quantization.size import model_size

SHAPES = [(32, 64), (16, 32), (10, 16)]


def solver(budget: float, profile: str = "generic") -> ConfigSolver:
    return ConfigSolver(build_space(SHAPES, PROFILES[profile], budget, (8, 16, 48)))


def genome(*genes: tuple) -> tuple[LayerGene, ...]:
    return tuple(LayerGene.make(*g) for g in genes)


def test_feasible_genome_passes() -> None:
    g = genome(("mxfp4",), ("int_asym", 3, 8), ("int_sym", 3))
    assert model_size(g, SHAPES, 0).avg_bits <= 4.5
    assert solver(4.5).check(g).feasible


def test_budget_violation_names_the_budget_and_repair_fits() -> None:
    s = solver(3.0)
    g = genome(("int_sym", 4), ("int_sym", 4), ("int_sym", 4))
    verdict = s.check(g)
    assert not verdict.feasible and any(c.startswith("budget") for c in verdict.core)
    repaired = s.repair(g)
    assert repaired is not None and s.check(repaired).feasible
    assert model_size(repaired, SHAPES, 0).avg_bits <= 3.0
    assert sum(a != b for a, b in zip(g, repaired, strict=True)) >= 1


def test_group_that_does_not_divide_is_rejected_with_core() -> None:
    s = solver(8.0)
    g = genome(("int_sym", 4, 48), ("int_sym", 4), ("int_sym", 4))  # 48 does not divide 64
    verdict = s.check(g)
    assert not verdict.feasible
    assert "layer0.group=48" in verdict.core


def test_profile_forbids_formats() -> None:
    s = solver(8.0, "edge-int16")
    verdict = s.check(genome(("nvfp4",), ("int_sym", 4), ("int_sym", 4)))
    assert not verdict.feasible and any("profile" in c for c in verdict.core)
    repaired = s.repair(genome(("nvfp4",), ("int_sym", 4), ("int_sym", 4)))
    assert repaired is not None and repaired[0].format.value in ("int_sym", "int_asym")


def test_minimum_average_bits_is_the_hand_computed_floor() -> None:
    # cheapest: 2-bit symmetric per channel: (2·(2048+512+160) + 16·(32+16+10)) / 2720
    expected = (2 * 2720 + 16 * 58) / 2720
    assert abs(solver(3.0).minimum_avg_bits() - expected) < 1e-9


def test_forbidden_gene_is_never_proposed_again() -> None:
    s = solver(3.0)
    bad = LayerGene.make("int_sym", 2)
    s.forbid(0, bad)
    g = (bad, LayerGene.make("int_sym", 2), LayerGene.make("int_sym", 2))
    assert not s.check(g).feasible
    repaired = s.repair(g)
    assert repaired is not None and repaired[0] != bad


def test_mx_block_must_divide_the_layer() -> None:
    verdict = solver(8.0).check(genome(("int_sym", 3), ("int_sym", 3), ("mxfp4",)))  # width 16 < 32
    assert not verdict.feasible and "layer2: group divides width 16" in verdict.core


def test_table_repair_is_as_near_as_z3_optimize() -> None:
    from agent.domains.quantization.constraints import _change_cost

    s = solver(3.0)
    for g in (
        genome(("fp8",), ("int_sym", 6, 8), ("power", 5, 0, 0.5)),
        genome(("int_asym", 4, 16), ("nvfp4",), ("int_sym", 8)),
    ):
        table = s._nearest_by_table(g)
        optimize = s._repair_any(g)
        assert table is not None and optimize is not None
        assert s.check(table).feasible and s.check(optimize).feasible
        costs = [sum(_change_cost(a, b) for a, b in zip(g, r, strict=True)) for r in (table, optimize)]
        assert costs[0] == costs[1] > 0
