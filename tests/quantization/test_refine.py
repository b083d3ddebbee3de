"""Budget-filling refinement: neighbours fit, the allowance holds, the start gets better and fuller."""

from __future__ import annotations

import pytest

from agent.domains.quantization.constraints import build_space
from agent.domains.quantization.datasets import digits_split
from agent.domains.quantization.domain import QuantDomain
from agent.domains.quantization.formats import PER_CHANNEL, LayerGene
from agent.domains.quantization.models import load_model
from agent.domains.quantization.profiles import PROFILES
from agent.domains.quantization.refine import lowered_genes, neighbours, raised_genes, refine


@pytest.fixture(scope="module")
def domain() -> QuantDomain:
    net = load_model("digits-mlp")
    return QuantDomain(
        net, digits_split(), build_space(net.shapes(), PROFILES["generic"], 3.0, (8, 16, 32, 64))
    )


def test_one_step_up_and_down() -> None:
    gene = LayerGene.make("int_sym", 3, PER_CHANNEL)
    assert [g.label() for g in raised_genes(gene, (8, 16, 32))] == ["intsym4/ch", "intsym3/g32"]
    assert [g.label() for g in lowered_genes(LayerGene.make("int_sym", 3, 16), (8, 16, 32))] == [
        "intsym2/g16",
        "intsym3/g32",
    ]
    assert list(raised_genes(LayerGene.make("int_sym", 8, 8), (8, 16))) == []
    assert [g.group for g in lowered_genes(LayerGene.make("int_sym", 2, 32), (8, 16, 32))] == [PER_CHANNEL]


def test_refinement_fills_the_budget_and_keeps_its_allowance(domain: QuantDomain) -> None:
    start = tuple(LayerGene.make("int_sym", 2, PER_CHANNEL) for _ in domain.space.layers)  # 2.1 bits
    found = neighbours(domain, start)
    assert found and all(domain.size(g).avg_bits <= 3.0 for g in found)
    fitness = domain.evaluate(start)
    done = refine(domain, [(start, fitness)], allowance=12)
    assert 0 < done.evaluations <= 12
    assert start not in done.evaluated
    best = min(done.evaluated.items(), key=lambda item: item[1].objectives[0])
    assert best[1].objectives[0] < fitness.objectives[0]
    assert domain.size(start).avg_bits < domain.size(best[0]).avg_bits <= 3.0
    for genome in done.evaluated:
        assert domain.size(genome).avg_bits <= 3.0
