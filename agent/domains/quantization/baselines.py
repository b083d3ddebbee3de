"""The configurations strop's search is measured against, computed in the same run, with the same menu.

* uniform    one int format and bit width for every layer, per-channel, round to nearest
             (the reference rows uniform_int8/4/3/2);
* best uniform  the best single gene for every layer over the search's own menu for int:
             symmetric and asymmetric, 2–8 bits, per-channel or any group size every layer
             takes, round-to-nearest or GPTQ, inside the budget, chosen on validation;
* greedy     from the most precise option everywhere, repeatedly lower the layer whose
             next step down (its next (size, Ω) Pareto option of HAWQ's table, so every
             format, group and rounding) loses the least validation score per bit saved,
             until the budget holds; each step measures only the layers Ω ranks first, as
             many as its evaluation allowance pays for (see `greedy`);
* hawq       HAWQ-V2 sensitivity and the HAWQ-V3 integer program, over every gene the
             search may use (every format, bit width, group and rounding, GPTQ included),
             sized exactly as the search sizes them: minimise Σ_l Ω_l(gene_l) under the
             budget (PuLP/CBC). Ω_l = Tr(H_l)/n_l · ‖ΔW_l‖²_Σ, where the perturbation is
             weighted by the layer's input second moment Σ_l (normalised by its mean
             diagonal), so it equals HAWQ-V2's ‖ΔW‖² for white inputs and lets the ILP see
             what GPTQ buys (GPTQ lowers the output error, not the weight error). Genes the
             accumulator proof rejects are excluded and the program solved again;
* random     random genomes through the same Z3 check, best on validation;
* tpe        Optuna's TPE over the same per-layer space, through the same Z3 check.

Random and TPE get at most the number of distinct evaluations the engine used, and,
under a time budget, their share of it (a `Deadline`, see timeplan.py). Every baseline stops at its
deadline; a cut one returns what it has (or nothing) and says how many evaluations it
spent. Each returns a genome and that count; scoring is search.py's.
"""

from __future__ import annotations

import hashlib
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.deadline import Deadline
from agent.domains.quantization.domain import QuantDomain
from agent.domains.quantization.formats import (
    EXPONENTS,
    INT_FORMATS,
    MAX_BITS,
    MIN_BITS,
    PER_CHANNEL,
    Format,
    Genome,
    LayerGene,
    Rounding,
)
from agent.domains.quantization.rounding import inverse_hessian_factor, quantize_gptq_many
from agent.domains.quantization.size import layer_size

NO_DEADLINE = Deadline.none()
ILP_ROUNDS = 8  # re-solves after excluding genes whose accumulator can overflow
HAWQ_MIN_SECONDS = 6.0  # torch import + Hessian traces + scoring the menu, on a busy 2-core machine
GREEDY_EVALUATIONS = 200  # greedy's validation evaluations at most (digits: every layer measured each step)


@dataclass(frozen=True)
class BaselineResult:
    genome: Genome | None  # None: no configuration of this kind fits (or time ran out first)
    evaluations: int
    cut: bool = False  # stopped by its deadline before it was done


def uniform(domain: QuantDomain, fmt: Format, bits: int) -> Genome:
    return tuple(LayerGene.make(fmt, bits, PER_CHANNEL) for _ in domain.space.layers)


def feasible(domain: QuantDomain, genome: Genome) -> bool:
    """The search's check without repair: Z3 (budget, profile, groups) and the accumulator proofs."""
    if not domain.solver.check(genome).feasible:
        return False
    for index, gene in enumerate(genome):
        verdict = domain.accumulator_verdict(index, gene)
        if verdict is not None and not verdict.safe:
            return False
    return True


def uniform_menu(domain: QuantDomain) -> list[Genome]:
    """Every uniform int genome of the search's menu (groups every layer takes), smallest first."""
    layers = domain.space.layers
    shared = set(layers[0].groups).intersection(*(set(layer.groups) for layer in layers))
    genomes = [
        tuple(LayerGene.make(fmt, bits, group, rounding=rounding) for _ in layers)
        for fmt in INT_FORMATS
        for bits in range(MIN_BITS, MAX_BITS + 1)
        for group in (PER_CHANNEL, *sorted(shared))
        for rounding in domain.roundings()
    ]
    return sorted(genomes, key=lambda g: (domain.size(g).weight_bits, g))


def best_uniform_int(domain: QuantDomain, deadline: Deadline = NO_DEADLINE) -> BaselineResult:
    """The best uniform int genome of `uniform_menu` that passes the check, on validation."""
    best, best_key, spent = None, None, 0
    for genome in uniform_menu(domain):
        if deadline.expired():
            return BaselineResult(best, spent, cut=True)
        if domain.size(genome).avg_bits > domain.space.budget_bits or not feasible(domain, genome):
            continue
        fitness = domain.evaluate(genome)
        spent += 1
        key = (-fitness.objectives[0], -fitness.objectives[1])
        if best_key is None or key > best_key:
            best, best_key = genome, key
    return BaselineResult(best, spent)


def _descent(table: list[list[tuple[int, float, LayerGene]]]) -> list[list[tuple[int, float, LayerGene]]]:
    """Per layer, the (size, Ω) Pareto options from most to least precise: greedy's ladder of steps down."""
    return [list(reversed(_pareto_options(points))) for points in table]


def _proxy_steps(ladder: list[list[tuple[int, float, LayerGene]]], at: list[int]) -> list[tuple[float, int]]:
    """Every layer's next step down as (ΔΩ per bit saved, layer), cheapest first."""
    steps = []
    for i, (options, k) in enumerate(zip(ladder, at, strict=True)):
        if k + 1 < len(options):
            (size, omega, _), (lower, worse, _) = options[k], options[k + 1]
            steps.append(((worse - omega) / max(size - lower, 1), i))
    return sorted(steps)


def greedy(
    domain: QuantDomain,
    seed: int = 0,
    deadline: Deadline = NO_DEADLINE,
    evaluations: int = GREEDY_EVALUATIONS,
    measure: Deadline | None = None,
) -> BaselineResult:
    """Greedy bit allocation over the search's whole menu, at most `evaluations` validation evaluations.

    Each layer's ladder is its (size, Ω) Pareto options from HAWQ-V3's table (every format,
    group and rounding), most precise first. From the top of every ladder, each step lowers
    the one layer whose next rung loses the least validation score per bit saved, until
    the budget holds. Measuring every layer at every step costs layers × steps evaluations
    (MiniLM: 37 × hundreds, hours), so each step measures only the `probe` (≥ 2) layers that
    Ω says lose least per bit, `probe` sized so the descent fits `evaluations` (capped by
    the time left before `measure`, default the deadline, at the cost of the first
    evaluation: the table may borrow time the measurements may not); once it is spent, Ω alone
    picks the remaining steps. If the deadline (or `measure`) passes mid-way, or the time left
    skips measurements the allowance would have made, it finishes on Ω alone and says it was
    cut (`cut`: "a baseline stopped by time says so").
    """
    table = hawq_options(domain, seed, deadline)
    if table is None:
        return BaselineResult(None, 0, cut=True)
    ladder = _descent(table)
    budget = domain.space.budget_total
    at = [0] * len(ladder)
    rungs = 0
    while sum(options[k][0] for options, k in zip(ladder, at, strict=True)) > budget:  # proxy-only dry run
        steps = _proxy_steps(ladder, at)
        if not steps:
            return BaselineResult(None, 0)
        at[steps[0][1]] += 1
        rungs += 1
    genome = lambda: tuple(options[k][2] for options, k in zip(ladder, at, strict=True))  # noqa: E731
    at = [0] * len(ladder)
    started = time.time()
    current, spent = domain.evaluate(genome()).objectives[0], 1
    measure = measure or deadline
    allowed = evaluations
    if measure.at is not None:
        allowed = min(evaluations, int(measure.left() / max(time.time() - started, 1e-3)))
    probe = int(np.clip(allowed // max(rungs, 1), 2, len(ladder)))
    cut = False
    while sum(options[k][0] for options, k in zip(ladder, at, strict=True)) > budget:
        steps = _proxy_steps(ladder, at)
        if not steps:
            return BaselineResult(None, spent, cut)
        cut = cut or deadline.expired() or measure.expired()
        spent_all = spent + min(probe, len(steps)) > allowed
        if len(steps) > 1 and spent_all and spent + min(probe, len(steps)) <= evaluations:
            cut = True  # the time left, not the allowance, skipped this step's measurements
        if cut or len(steps) == 1 or spent_all:
            at[steps[0][1]] += 1  # allowance spent (or one choice): the proxy decides
            continue
        best: tuple[float, int, float] | None = None
        for _, i in steps[:probe]:
            saved = ladder[i][at[i]][0] - ladder[i][at[i] + 1][0]
            at[i] += 1
            loss = domain.evaluate(genome()).objectives[0]
            at[i] -= 1
            spent += 1
            if best is None or (loss - current) / max(saved, 1) < best[0]:
                best = ((loss - current) / max(saved, 1), i, loss)
        assert best is not None
        at[best[1]] += 1
        current = best[2]
    found = genome()
    return BaselineResult(found if feasible(domain, found) else domain_checked(domain, found), spent, cut)


def domain_checked(domain: QuantDomain, genome: Genome) -> Genome | None:
    """`genome` through the search's check (repair to the nearest feasible config), None if it has none."""
    checked = domain.check(genome)
    return None if isinstance(checked, str) else checked


def input_moment(x: np.ndarray) -> np.ndarray:
    """A layer's input second moment Σ = XᵀX/N, scaled to mean diagonal 1 (white inputs: Σ = I)."""
    x = np.asarray(x, dtype=np.float64)
    sigma = x.T @ x / max(len(x), 1)
    scale = float(np.mean(np.diag(sigma)))
    return sigma / scale if scale > 0 else np.eye(len(sigma))


def _pareto_options(points: list[tuple[int, float, LayerGene]]) -> list[tuple[int, float, LayerGene]]:
    """Options no other option beats on both size and Ω (the only ones an optimal ILP needs)."""
    kept: list[tuple[int, float, LayerGene]] = []
    for size, omega, gene in sorted(points, key=lambda p: (p[0], p[1])):
        if not kept or omega < kept[-1][1]:
            kept.append((size, omega, gene))
    return kept


def hawq_options(
    domain: QuantDomain, seed: int, deadline: Deadline = NO_DEADLINE
) -> list[list[tuple[int, float, LayerGene]]] | None:
    """Per layer, the (size bits, Ω, gene) options HAWQ-V3's program chooses from; None if time ran out.

    Every option of the search's menu is scored: round-to-nearest ones one by one (about
    1 ms each), GPTQ ones a layer at a time with the batched GPTQ of rounding.py (one
    call per gene would take 10–40 ms each, ~1,000 per layer). BLAS runs on one thread:
    these are thousands of small products, and threads only contend on a shared machine.
    """
    from threadpoolctl import threadpool_limits

    known = domain._local.setdefault("hawq_options", {})  # greedy and HAWQ share it within a run
    if seed not in known:
        with threadpool_limits(1):
            table = _hawq_options(domain, seed, deadline)
        if table is None:
            return None
        known[seed] = table
    return list(known[seed])


def _hawq_options(
    domain: QuantDomain, seed: int, deadline: Deadline
) -> list[list[tuple[int, float, LayerGene]]] | None:
    if deadline.expired():  # the traces import torch and cannot stop half-way: seconds past a spent share
        return None
    traces = domain.layer_traces(seed)
    seen = domain.calibration_inputs()
    matrices = domain.network.matrices()
    table = []
    for i, (w, layer, x) in enumerate(zip(matrices, domain.space.layers, seen, strict=True)):
        if deadline.expired():
            return None
        options = domain.solver._options(i)
        distortion = _distortions(domain, i, w, x, options, deadline)
        if distortion is None:
            return None
        table.append(
            [
                (layer_size(g, layer.out, layer.width).total_bits, traces[i] / w.size * distortion[g], g)
                for g in options
            ]
        )
    return table


_DISTORTIONS: dict[str, dict[LayerGene, float]] = {}  # per (weights, calibration inputs) fingerprint
GPTQ_CHUNK = 48  # GPTQ options scored per batched call: a 2048-wide layer's ~1,000 take seconds in all


def _distortions(
    domain: QuantDomain,
    i: int,
    w: np.ndarray,
    x: np.ndarray,
    options: list[LayerGene],
    deadline: Deadline = NO_DEADLINE,
) -> dict[LayerGene, float] | None:
    """‖ΔW‖²_Σ of every option of layer `i`, kept for the process: it depends on neither seed nor budget.

    Only the trace factor of Ω changes between seeds, so runs of one model at several
    budgets and seeds (the benchmark) score each option once (MiniLM: minutes, not seconds).
    A wide layer's menu takes seconds (one 2048-input layer: ~5 s), so the deadline is
    checked between options and GPTQ batches; None when it passed (what was scored is kept).
    """
    key = hashlib.sha1(np.ascontiguousarray(w).tobytes() + np.ascontiguousarray(x).tobytes()).hexdigest()
    known = _DISTORTIONS.setdefault(key, {})
    missing = [g for g in options if g not in known]
    if not missing:
        return known
    norm = _weighted_norm(x)
    for gene in (g for g in missing if g.rounding is Rounding.RTN):
        if deadline.expired():
            return None
        known[gene] = norm(np.asarray(domain.quantized(i, gene), dtype=np.float64) - w)
    learned = sorted((g for g in missing if g.rounding is Rounding.GPTQ), key=lambda g: g.format.value)
    if learned:
        factor = inverse_hessian_factor(x)
        for start in range(0, len(learned), GPTQ_CHUNK):
            if deadline.expired():
                return None
            chunk = learned[start : start + GPTQ_CHUNK]
            for gene, w_hat in zip(chunk, quantize_gptq_many(w, chunk, factor), strict=True):
                known[gene] = norm(np.asarray(w_hat, dtype=np.float64) - w)
    return known


def _weighted_norm(x: np.ndarray) -> Callable[[np.ndarray], float]:
    """ΔW ↦ ‖ΔW‖²_Σ = Σ ΔWΣΔWᵀ's trace, Σ = `input_moment(x)`, by the cheaper of two equal formulas.

    With fewer calibration rows N than inputs (a 2048-wide dense layer sees 256 rows), the
    norm is ‖XΔWᵀ‖²/(N·s) (s: Σ's scale), N·in·out operations instead of in²·out: ten times
    fewer there, and the same number up to float rounding.
    """
    x = np.asarray(x, dtype=np.float64)
    rows, width = x.shape
    if rows >= width:
        sigma = input_moment(x)
        return lambda delta: float(np.sum((delta @ sigma) * delta))
    scale = float(np.mean(np.einsum("ij,ij->j", x, x))) / max(rows, 1)
    if scale <= 0:  # all-zero inputs: input_moment's identity
        return lambda delta: float(np.sum(delta * delta))
    return lambda delta: float(np.sum(np.square(x @ delta.T))) / (rows * scale)


def _solve_ilp(table: list[list[tuple[int, float, LayerGene]]], budget: int) -> Genome | None:
    import pulp

    # an option whose Ω is not a number (a layer its scales cannot hold) is no option: CBC refuses NaN/inf
    table = [_pareto_options([p for p in points if math.isfinite(p[1])]) for points in table]
    if not all(table):
        return None
    problem = pulp.LpProblem("hawq_v3", pulp.LpMinimize)
    choice = {
        (i, k): problem.add_variable(f"x_{i}_{k}", cat="Binary")
        for i, options in enumerate(table)
        for k in range(len(options))
    }
    for i, options in enumerate(table):
        problem += pulp.lpSum(choice[i, k] for k in range(len(options))) == 1
    problem += pulp.lpSum(table[i][k][1] * var for (i, k), var in choice.items())
    problem += pulp.lpSum(table[i][k][0] * var for (i, k), var in choice.items()) <= budget
    with warnings.catch_warnings():  # PuLP 3.3 flags its bundled CBC as deprecated; it is what works offline
        warnings.simplefilter("ignore", DeprecationWarning)
        problem.solve(pulp.PULP_CBC_CMD(msg=False))
    if pulp.LpStatus[problem.status] != "Optimal":
        return None
    return tuple(
        next(options[k][2] for k in range(len(options)) if (choice[i, k].value() or 0) > 0.5)
        for i, options in enumerate(table)
    )


def hawq(domain: QuantDomain, seed: int, deadline: Deadline = NO_DEADLINE) -> BaselineResult:
    """HAWQ-V3 over the full menu (see the module docstring); one evaluation: its answer is not searched.

    Its first steps (torch, Hessian traces) cannot stop half-way, so with under
    `HAWQ_MIN_SECONDS` left it does not start: it would overrun the run's time.
    """
    if deadline.left() < HAWQ_MIN_SECONDS and seed not in domain._local.get("hawq_options", {}):
        return BaselineResult(None, 0, cut=True)  # with greedy's table in hand only the program is left
    table = hawq_options(domain, seed, deadline)
    if table is None:
        return BaselineResult(None, 0, cut=True)
    for _ in range(ILP_ROUNDS):
        genome = _solve_ilp(table, domain.space.budget_total)
        if genome is None:
            return BaselineResult(None, 0)
        unsafe = [
            (i, gene)
            for i, gene in enumerate(genome)
            if (v := domain.accumulator_verdict(i, gene)) is not None and not v.safe
        ]
        if not unsafe:
            return BaselineResult(genome, 1)
        for i, gene in unsafe:
            table[i] = [option for option in table[i] if option[2] != gene]
    return BaselineResult(None, 0)


class _Budgeted:
    """Distinct evaluations through the domain's check, stopping at `limit` or at the deadline."""

    def __init__(self, domain: QuantDomain, limit: int, deadline: Deadline = NO_DEADLINE) -> None:
        self.domain, self.limit, self.deadline = domain, limit, deadline
        self.seen: dict[Genome, float] = {}
        self.best: tuple[float, float, Genome] | None = None

    @property
    def done(self) -> bool:
        return len(self.seen) >= self.limit or self.deadline.expired()

    def score(self, proposal: Genome) -> float | None:
        from agent.loop.interrupts import raise_if_interrupted  # here: agent.loop is heavy to import

        raise_if_interrupted()  # a stop signal Python dropped (in a finaliser) still stops the baseline
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
        """Cut only when the deadline stopped it short: a small space can run out of new configs first."""
        cut = len(self.seen) < self.limit and self.deadline.expired()
        return BaselineResult(self.best[2] if self.best else None, len(self.seen), cut=cut)


def random_search(
    domain: QuantDomain, evaluations: int, seed: int, deadline: Deadline = NO_DEADLINE
) -> BaselineResult:
    rng = np.random.default_rng(seed)
    run = _Budgeted(domain, evaluations, deadline)
    for _ in range(evaluations * 5):
        if run.done:
            break
        run.score(domain.random_genome(rng))
    return run.result()


def tpe(domain: QuantDomain, evaluations: int, seed: int, deadline: Deadline = NO_DEADLINE) -> BaselineResult:
    """Optuna's TPE over the per-layer space, asked and told here rather than through `optimize`.

    `study.optimize` logs a trial whose objective raised as a warning with its traceback,
    and Ctrl-C or SIGTERM arrive as exceptions inside the objective (interrupts.py): an
    interrupted `strop evolve quant` printed Optuna's traceback before its own one line.
    Asked and told here, an interrupt leaves the study untold and reaches the CLI alone.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    run = _Budgeted(domain, evaluations, deadline)
    roundings = [r.value for r in domain.roundings()]

    def genome(trial: Any) -> Genome:
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
        return tuple(genes)

    if run.done:
        return run.result()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    for _ in range(evaluations * 5):
        trial = study.ask()
        value = run.score(genome(trial))
        study.tell(trial, 0.0 if value is None else value)
        if run.done:
            break
    return run.result()
