"""Budget-filling refinement: spend the last evaluations raising precision where it pays.

The engine minimises (validation error, bytes) together, so the most accurate
points on its front usually sit a few tenths of a bit under the budget: the
trade-off keeps rewarding smaller models. A user with a budget wants the most
accurate model inside it. This step takes the engine's most accurate front
points and hill-climbs each one upward: every neighbour raises one layer's
precision by one step (one more bit, or the next finer group of scales), and
where that alone overflows the budget, pays with one step down in another
layer; a neighbour that the cheap size count puts over the budget is skipped
(pure raises and those nearest the budget are tried first), the rest
go through the domain's Z3 check (so profile, divisibility and accumulator
rules still hold) and are evaluated on the validation split; the first
improving neighbour is taken, until none improves or the evaluation allowance
is spent. Every evaluation is counted, so the baselines get the same total.

Written here rather than with a library: it is a first-improvement hill climb over the
domain's own genes, check and fitness (a few dozen lines), which no optimiser
package models with the Z3 check in the loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from agent.deadline import Deadline
from agent.domains.quantization.domain import QuantDomain
from agent.domains.quantization.formats import (
    MAX_BITS,
    MIN_BITS,
    PER_CHANNEL,
    VARIABLE_BITS,
    Genome,
    LayerGene,
)
from agent.evolution.domain import Fitness

REFINE_SHARE = 0.25  # of the engine's evaluations, spent on refinement (counted in the total)
REFINE_STARTS = 3  # most accurate front points refined


@dataclass
class Refinement:
    """What the refinement evaluated: every (genome, fitness) in order, and the count."""

    evaluated: dict[Genome, Fitness] = field(default_factory=dict)

    @property
    def evaluations(self) -> int:
        return len(self.evaluated)


def raised_genes(gene: LayerGene, groups: tuple[int, ...]) -> Iterator[LayerGene]:
    """One step more precision for one layer: one more bit, or the next finer scale group."""
    if gene.format in VARIABLE_BITS and gene.bits < MAX_BITS:
        yield LayerGene.make(gene.format, gene.bits + 1, gene.group, gene.exponent, gene.rounding)
    finer = sorted((g for g in groups if gene.group == PER_CHANNEL or g < gene.group), reverse=True)
    if finer:
        yield LayerGene.make(gene.format, gene.bits, finer[0], gene.exponent, gene.rounding)


def lowered_genes(gene: LayerGene, groups: tuple[int, ...]) -> Iterator[LayerGene]:
    """One step less precision for one layer: one bit fewer, or the next coarser scale group."""
    if gene.format in VARIABLE_BITS and gene.bits > MIN_BITS:
        yield LayerGene.make(gene.format, gene.bits - 1, gene.group, gene.exponent, gene.rounding)
    if gene.group != PER_CHANNEL:
        coarser = sorted(g for g in groups if g > gene.group)
        group = coarser[0] if coarser else PER_CHANNEL
        yield LayerGene.make(gene.format, gene.bits, group, gene.exponent, gene.rounding)


def neighbours(domain: QuantDomain, genome: Genome) -> list[Genome]:
    """Genomes that raise one layer a step (paying with one step down elsewhere where needed).

    Only those the size count puts inside the budget; pure raises first, then trades, each
    group largest first (closest to the budget).
    """
    budget = domain.space.budget_bits
    layers = domain.space.layers

    def fits(candidate: Genome) -> bool:
        return candidate != genome and domain.size(candidate).avg_bits <= budget

    raises: list[Genome] = []
    trades: list[Genome] = []
    for i, (gene, layer) in enumerate(zip(genome, layers, strict=True)):
        for raised in raised_genes(gene, layer.groups):
            up = (*genome[:i], raised, *genome[i + 1 :])
            if fits(up):
                raises.append(up)
                continue
            for j, other in enumerate(up):
                if j == i:
                    continue
                for lowered in lowered_genes(other, layers[j].groups):
                    trade = (*up[:j], lowered, *up[j + 1 :])
                    if fits(trade):
                        trades.append(trade)

    def by_size(group: list[Genome]) -> list[Genome]:
        return sorted(group, key=lambda g: -domain.size(g).weight_bits)

    return by_size(raises) + by_size(trades)


def refine(
    domain: QuantDomain,
    starts: list[tuple[Genome, Fitness]],
    allowance: int,
    known: set[Genome] | None = None,
    deadline: Deadline | None = None,
) -> Refinement:
    """First-improvement ascent on the validation objective from each start, at most `allowance` evaluations.

    Each start gets an even share of what is left, so a long climb from the first
    cannot starve the others. `starts` are (genome, fitness) pairs, most accurate first; `known` genomes (the engine's
    evaluated ones) are not evaluated again. It stops early when `deadline` passes.
    """
    deadline = deadline or Deadline.none()
    done = Refinement()
    seen = set(known or ()) | {g for g, _ in starts}
    for k, (genome, fitness) in enumerate(starts):
        cap = done.evaluations + (allowance - done.evaluations) // (len(starts) - k)
        current, best = genome, fitness.objectives[0]
        while done.evaluations < cap:
            step: tuple[float, Genome] | None = None
            for candidate in neighbours(domain, current):
                if done.evaluations >= cap or deadline.expired():
                    break
                checked = domain.check(candidate)
                if isinstance(checked, str) or checked in seen:
                    continue
                seen.add(checked)
                result = domain.evaluate(checked)
                done.evaluated[checked] = result
                if result.objectives[0] < best:
                    step = (result.objectives[0], checked)
                    break  # first improvement: the neighbourhood is large, the allowance small
            if step is None:
                break
            best, current = step
    return done
