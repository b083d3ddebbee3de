"""The fast baselines seed the engine; greedy over the whole menu within its evaluation allowance.

Real components only: the bundled digits MLP, Z3, the engine and HAWQ's option table.
"""

from __future__ import annotations

import pytest

from agent.domains.quantization import baselines
from agent.domains.quantization.constraints import build_space
from agent.domains.quantization.datasets import digits_split
from agent.domains.quantization.domain import QuantDomain
from agent.domains.quantization.formats import Format
from agent.domains.quantization.models import load_model
from agent.domains.quantization.profiles import PROFILES
from agent.domains.quantization.search import SEEDED, Scored, SearchRequest, origin, run_search
from agent.evolution.domain import Fitness


@pytest.fixture(scope="module")
def domain() -> QuantDomain:
    net = load_model("digits-mlp")
    return QuantDomain(
        net, digits_split(), build_space(net.shapes(), PROFILES["generic"], 2.5, (8, 16, 32, 64))
    )


def test_greedy_descends_the_whole_menu_inside_its_allowance(domain: QuantDomain) -> None:
    few = baselines.greedy(domain, seed=0, evaluations=5)
    many = baselines.greedy(domain, seed=0, evaluations=120)
    for result, allowance in ((few, 5), (many, 120)):
        assert result.genome is not None and not result.cut
        assert (
            1 <= result.evaluations <= allowance
        )  # greedy keeps to its allowance (423 > 5 without its check)
        assert domain.size(result.genome).avg_bits <= 2.5 and baselines.feasible(domain, result.genome)
    assert many.evaluations > few.evaluations
    ladder = baselines._descent(baselines.hawq_options(domain, 0))  # type: ignore[arg-type]
    assert any(gene.format is not Format.INT_SYM for options in ladder for _, _, gene in options)
    for options in ladder:  # most precise first, each rung smaller and (by Ω) worse
        sizes = [size for size, _, _ in options]
        assert sizes == sorted(sizes, reverse=True)


def test_the_chosen_config_is_at_least_every_seeded_baseline_on_validation() -> None:
    request = SearchRequest(
        model="digits-mlp", budget_bits=2.5, seed=2, generations=1, population=6, workers=0, baselines="fast"
    )
    report, domain = run_search(request)
    seeded = [report.baselines[name] for name in SEEDED if name in report.baselines]
    assert len(seeded) == len(SEEDED)
    assert report.chosen.val_acc >= max(s.val_acc for s in seeded)
    assert report.chosen.origin == origin(report.chosen, report.baselines)
    configs = [[g.to_json() for g in genome] for genome in domain.seed_genomes]
    assert configs and all(c in [s.config for s in seeded] for c in configs)  # the engine started from them


def test_a_chosen_config_equal_to_a_baselines_is_said_to_be_that_baseline() -> None:
    config = [{"format": "int_sym", "bits": 3, "group": 0, "exponent": 1.0, "rounding": "rtn"}]
    mine = Scored(0.9, 0.9, 10.0, 3.0, config=config)
    others = {
        "hawq": Scored(0.9, 0.9, 10.0, 3.0, config=config),
        "greedy": Scored(0.8, 0.8, 9.0, 2.0, config=[{**config[0], "bits": 2}]),
    }
    assert origin(mine, others) == "baseline hawq"
    assert origin(mine, {"greedy": others["greedy"]}) == "search"


def test_validation_ties_go_to_the_config_closest_to_fp32_on_training_images(domain: QuantDomain) -> None:
    from agent.domains.quantization.search import chosen_genome
    from agent.evolution.domain import Individual

    fine = baselines.uniform(domain, Format.INT_SYM, 8)
    coarse = baselines.uniform(domain, Format.INT_SYM, 3)
    assert 0.0 <= domain.fp32_divergence(fine) < domain.fp32_divergence(coarse)  # type: ignore[operator]
    assert domain.tie_width() == pytest.approx(1 / 449)  # digits: one validation image
    tied = [  # the coarse config has the better fitness (as a lucky config on validation can)
        Individual(coarse, Fitness((0.01, 1.0), info={"val_acc": 0.99})),
        Individual(fine, Fitness((0.0105, 2.0), info={"val_acc": 0.99})),
        Individual(coarse, Fitness((0.02, 0.5), info={"val_acc": 0.98})),
    ]
    assert chosen_genome(tied) == coarse  # the fitness alone
    assert chosen_genome(tied, domain) == fine  # the tie broken by divergence from fp32
    assert chosen_genome(tied[::2], domain) == coarse


def test_validation_gains_above_fp32_are_read_as_luck_in_the_pick(domain: QuantDomain) -> None:
    """A lucky config two images above fp32 does not shut out one a single image below fp32."""
    from agent.domains.quantization.search import chosen_genome
    from agent.evolution.domain import Individual

    fine = baselines.uniform(domain, Format.INT_SYM, 8)
    coarse = baselines.uniform(domain, Format.INT_SYM, 3)
    fp32, image = domain.fp32_val(), domain.tie_width()
    assert domain.selection_ceiling() == fp32
    lucky = Individual(coarse, Fitness((0.0, 1.0), info={"val_acc": fp32 + 2 * image}))
    close = Individual(fine, Fitness((0.1, 2.0), info={"val_acc": fp32 - image}))
    far = Individual(fine, Fitness((0.1, 2.0), info={"val_acc": fp32 - 2 * image}))
    assert chosen_genome([lucky, close], domain) == fine
    assert chosen_genome([lucky, far], domain) == coarse  # two images below fp32: not a tie


def test_held_out_kl_to_fp32_ranks_configs_that_test_accuracy_cannot(domain: QuantDomain) -> None:
    fine = baselines.uniform(domain, Format.INT_SYM, 8)
    coarse = baselines.uniform(domain, Format.INT_SYM, 4)
    assert domain.test_metrics(None) == {"test_kl": 0.0}
    fine_kl, coarse_kl = domain.test_metrics(fine)["test_kl"], domain.test_metrics(coarse)["test_kl"]
    assert 0.0 < fine_kl < coarse_kl
    assert domain.test_accuracy(coarse) >= domain.test_accuracy(fine)  # 4 bits scores no worse on 450 images
