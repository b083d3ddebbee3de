"""The configurations strop's search is measured against, computed in the same run.

* uniform   one int format and bit width for every layer, per-channel, round to nearest;
* greedy    from 8 bits everywhere, repeatedly lower the layer whose next step down
            loses the least validation accuracy per bit saved, until the budget holds;
* hawq      HAWQ-V2 sensitivity (Hessian trace × quantization perturbation) and the
            HAWQ-V3 integer program: one bit width per layer minimising Σ Ω under the
            size budget (PuLP/CBC);
* random    random genomes through the same Z3 check, best on validation;
* tpe       Optuna's TPE over the same per-layer space, through the same Z3 check.

Random and TPE get exactly the number of distinct evaluations the engine used.
Each returns a genome and how many evaluations it spent; scoring is search.py's.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.domains.quantization.domain import QuantDomain
from agent.domains.quantization.formats import (
    EXPONENTS,
    MAX_BITS,
    MIN_BITS,
    PER_CHANNEL,
    Format,
    Genome,
    LayerGene,
)
from agent.domains.quantization.quantizers import quantize_rtn
from agent.domains.quantization.sensitivity import hessian_traces
from agent.domains.quantization.size import layer_size

HAWQ_BITS = (2, 3, 4, 5, 6, 8)


@dataclass(frozen=True)
class BaselineResult:
    genome: Genome | None  # None: no configuration of this kind fits
    evaluations: int


def uniform(domain: QuantDomain, fmt: Format, bits: int) -> Genome:
    return tuple(LayerGene.make(fmt, bits, PER_CHANNEL) for _ in domain.space.layers)


def best_uniform_int(domain: QuantDomain) -> BaselineResult:
    """The best uniform per-channel RTN int allocation (sym or asym, any bits) inside the budget."""
    best, best_acc, spent = None, -1.0, 0
    for fmt in (Format.INT_SYM, Format.INT_ASYM):
        for bits in range(MIN_BITS, MAX_BITS + 1):
            genome = uniform(domain, fmt, bits)
            if domain.size(genome).avg_bits > domain.space.budget_bits:
                continue
            acc = float(domain.evaluate(genome).info["val_acc"])
            spent += 1
            if acc > best_acc:
                best, best_acc = genome, acc
    return BaselineResult(best, spent)


def greedy(domain: QuantDomain, fmt: Format = Format.INT_SYM) -> BaselineResult:
    bits = [MAX_BITS] * len(domain.space.layers)
    genome = lambda b: tuple(LayerGene.make(fmt, x, PER_CHANNEL) for x in b)  # noqa: E731
    budget, spent = domain.space.budget_bits, 0
    current = float(domain.evaluate(genome(bits)).info["val_acc"])
    spent += 1
    while domain.size(genome(bits)).avg_bits > budget:
        best: tuple[float, int, float] | None = None
        for i, b in enumerate(bits):
            if b <= MIN_BITS:
                continue
            trial = bits.copy()
            trial[i] = b - 1 if b - 1 != 7 else 6  # 8 → 6 → 5 …: 7-bit kernels are rare
            saved = domain.size(genome(bits)).weight_bits - domain.size(genome(trial)).weight_bits
            acc = float(domain.evaluate(genome(trial)).info["val_acc"])
            spent += 1
            score = (current - acc) / saved
            if best is None or score < best[0]:
                best = (score, i, acc)
        if best is None:
            return BaselineResult(None, spent)
        bits[best[1]] = bits[best[1]] - 1 if bits[best[1]] - 1 != 7 else 6
        current = best[2]
    return BaselineResult(genome(bits), spent)


def hawq(domain: QuantDomain, seed: int, fmt: Format = Format.INT_SYM) -> BaselineResult:
    import pulp

    split = domain.split
    traces = hessian_traces(domain.network, split.x_train, split.y_train, seed)
    matrices = domain.network.matrices()
    problem = pulp.LpProblem("hawq_v3", pulp.LpMinimize)
    choice: dict[tuple[int, int], Any] = {}
    omega: dict[tuple[int, int], float] = {}
    size: dict[tuple[int, int], int] = {}
    for i, (w, layer) in enumerate(zip(matrices, domain.space.layers, strict=True)):
        for b in HAWQ_BITS:
            gene = LayerGene.make(fmt, b, PER_CHANNEL)
            perturbation = float(np.sum((quantize_rtn(w, gene) - w) ** 2))
            omega[i, b] = traces[i] / w.size * perturbation
            size[i, b] = layer_size(gene, layer.out, layer.width).total_bits
            choice[i, b] = problem.add_variable(f"x_{i}_{b}", cat="Binary")
        problem += pulp.lpSum(choice[i, b] for b in HAWQ_BITS) == 1
    problem += pulp.lpSum(omega[k] * choice[k] for k in choice)
    problem += pulp.lpSum(size[k] * choice[k] for k in choice) <= domain.space.budget_total
    with warnings.catch_warnings():  # PuLP 3.3 flags its bundled CBC as deprecated; it is what works offline
        warnings.simplefilter("ignore", DeprecationWarning)
        problem.solve(pulp.PULP_CBC_CMD(msg=False))
    if pulp.LpStatus[problem.status] != "Optimal":
        return BaselineResult(None, 0)
    bits = [next(b for b in HAWQ_BITS if (choice[i, b].value() or 0) > 0.5) for i in range(len(matrices))]
    return BaselineResult(tuple(LayerGene.make(fmt, b, PER_CHANNEL) for b in bits), 1)


class _Budgeted:
    """Distinct evaluations through the domain's check, stopping at `limit`."""

    def __init__(self, domain: QuantDomain, limit: int) -> None:
        self.domain, self.limit = domain, limit
        self.seen: dict[Genome, float] = {}
        self.best: tuple[float, float, Genome] | None = None

    @property
    def done(self) -> bool:
        return len(self.seen) >= self.limit

    def score(self, proposal: Genome) -> float | None:
        checked = self.domain.check(proposal)
        if isinstance(checked, str):
            return None
        if checked not in self.seen:
            fitness = self.domain.evaluate(checked)
            self.seen[checked] = 1.0 - fitness.objectives[0]
            key = (-fitness.objectives[0], -fitness.info["bytes"], checked)  # same rule as the engine
            if self.best is None or key[:2] > self.best[:2]:
                self.best = key
        return self.seen[checked]

    def result(self) -> BaselineResult:
        return BaselineResult(self.best[2] if self.best else None, len(self.seen))


def random_search(domain: QuantDomain, evaluations: int, seed: int) -> BaselineResult:
    rng = np.random.default_rng(seed)
    run = _Budgeted(domain, evaluations)
    for _ in range(evaluations * 5):
        if run.done:
            break
        run.score(domain.random_genome(rng))
    return run.result()


def tpe(domain: QuantDomain, evaluations: int, seed: int) -> BaselineResult:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    run = _Budgeted(domain, evaluations)
    roundings = [r.value for r in domain.roundings()]

    def objective(trial: Any) -> float:
        genes = []
        for i, layer in enumerate(domain.space.layers):
            fmt = trial.suggest_categorical(
                f"l{i}_format", [f.value for f in domain.space.formats_for(layer)]
            )
            genes.append(
                LayerGene.make(
                    fmt,
                    trial.suggest_int(f"l{i}_bits", MIN_BITS, MAX_BITS),
                    trial.suggest_categorical(f"l{i}_group", [PER_CHANNEL, *layer.groups]),
                    trial.suggest_categorical(f"l{i}_exponent", list(EXPONENTS)),
                    trial.suggest_categorical(f"l{i}_rounding", roundings),
                )
            )
        value = run.score(tuple(genes))
        if run.done:
            trial.study.stop()
        return 0.0 if value is None else value

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=evaluations * 5)
    return run.result()
