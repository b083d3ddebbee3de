"""The numerics domain for the engine: programs that approximate f on [lo, hi] in a format.

Objectives (minimised): log10 of the max error on the scoring grid, measured in the
format's own arithmetic (in ULPs of the format for float32; relative error for float64,
"over the reals"), and the cost under the cost model (measured operation weights by
default, see `costmodel`; plain operation count as an option).
Evaluation fits the constants first (LP where exact, CMA-ES elsewhere; see `fitting`)
and returns the fitted program (`Refined`): children inherit fitted constants. An output
that squares (a·a) or roots (√a) an inner program is fitted through it: the inner program
is fitted to √f (or f²) with the weights the linearised error gives (|a² − f| ≈ 2√f·|a − √f|,
|√a − f| ≈ |a − f²|/(2f)), so e^x = p(x)² gets p ≈ e^(x/2) by the same exact LP as p alone.
`check` refuses programs that are constant, too costly or too large, those whose fit
would repeat one already made (the structure cache: same canonical DAG, commutative
arguments sorted, and the same values of the constants the LP does not refit), and, with
Z3, those that divide by zero or take a negative square root somewhere on the interval
(see `denominators`; a search passes a `BoundedProver` so no check outlives its time).
Without seeds (`seeds=False`) the first population is random.
Where f has a zero the format cannot hold (cos at π/2), the grids crowd inputs around the
format's number nearest it (`near_root`): relative error peaks there.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy

from agent.domains.numerics.costmodel import CostModel, cost_model
from agent.domains.numerics.denominators import DenominatorVerdict, check_program
from agent.domains.numerics.fitting import FitGrid, analyse, cma_polish, fit_form, structure_seed
from agent.domains.numerics.measure import measure, ulp_of
from agent.domains.numerics.operators import crossover, mutate, random_program
from agent.domains.numerics.points import from_ordinal, search_grid, to_ordinal
from agent.domains.numerics.program import Node, Program
from agent.domains.numerics.skeletons import Shape, seed_programs
from agent.domains.numerics.targets import FORMATS, LD, TARGETS, Format, Target
from agent.evolution import Fitness, Refined

MAX_NODES = 48


@dataclass
class Z3Tally:
    """What the denominator check decided (counted in the engine's process)."""

    safe: int = 0
    rejected: int = 0
    unknown: int = 0  # not proven, timed-out checks included
    timed_out: int = 0  # checks cut by the prover's time limit or the search's deadline
    seconds: float = 0.0
    examples: list[str] = field(default_factory=list)


@dataclass
class CacheTally:
    """The structure cache's decisions (counted in the engine's process)."""

    hits: int = 0
    misses: int = 0

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


def shape_of(fn: str, lo: float, hi: float, fmt: Format) -> Shape:
    """The target's zero in [lo, hi] (0 or 1, where f vanishes exactly) and its symmetries."""
    target = TARGETS[fn]
    zero = None
    for candidate in (0.0, 1.0):
        if lo <= candidate <= hi and target.truth(numpy.array([candidate]), fmt)[0] == 0:
            zero = candidate
    root = _inexact_root(target, lo, hi, fmt) if zero is None else None
    centre_value = None
    if target.exp_like:
        centre = numpy.array([float(numpy.float32((lo + hi) / 2))])  # as `families` centres them
        centre_value = float(fmt.arithmetic.dtype(target.truth(centre, fmt)[0]))
    return Shape(
        zero=zero,
        odd=target.odd,
        even=target.even,
        exp_like=target.exp_like,
        centre_value=centre_value,
        root=root,
    )


ROOT_POINTS = 257  # where a sign change of f is looked for


def near_root(root: float, lo: float, hi: float, fmt: Format) -> numpy.ndarray:
    """The root and the inputs 1, 2, 4, … ordinals away on each side, within [lo, hi].

    Relative error peaks next to a zero the format cannot hold, where f is smallest: a grid
    of evenly spread points never comes within a few ULPs of it (cos on [1, 2] in float32 was
    12 ULP on the grid and 64 ULP two hundred ordinals from the root).
    """
    centre = int(to_ordinal(numpy.array([root]), fmt)[0])
    steps = numpy.int64(1) << numpy.arange(fmt.precision, dtype=numpy.int64)
    ordinals = numpy.concatenate([[centre], centre - steps, centre + steps])
    x = from_ordinal(ordinals, fmt)
    return numpy.unique(x[(x >= lo) & (x <= hi)])


MAX_ZEROS = 16  # zeros of f whose neighbourhoods are measured densely (sin on a wide interval has many)


def zeros_of(target: Target, lo: float, hi: float, fmt: Format) -> list[float]:
    """The format's numbers at, or nearest, each zero of f inside [lo, hi] (at most `MAX_ZEROS`).

    Relative error peaks next to a zero, where f is smallest, and evenly spread inputs never come
    within a few ULPs of one inside the interval: a log program on [0.5, 2] that returns 0 at
    1 ± 1 ulp (√x − 1 there rounds to 0) read 3.4e-8 on the verification set and was counted
    as a discovery over a baseline exact at 1. The measuring sets add the inputs around each
    (`near_root`, `points.edge_points`). A zero is a grid point where f is 0, or a sign change
    of f between two of `ROOT_POINTS` points, located to 40 digits and rounded to the format.
    """
    import mpmath

    x = numpy.unique(numpy.linspace(lo, hi, ROOT_POINTS).astype(fmt.dtype)).astype(numpy.float64)
    candidates = numpy.array([c for c in (0.0, 1.0) if lo <= c <= hi])
    x = numpy.union1d(x, candidates)
    values = numpy.asarray(target.truth(x, fmt), dtype=numpy.float64)
    zeros = [float(v) for v in x[values == 0]]
    changes = numpy.flatnonzero(numpy.sign(values[:-1]) * numpy.sign(values[1:]) < 0)
    with mpmath.workdps(40):
        for k in changes[: MAX_ZEROS - len(zeros)]:
            try:
                found = mpmath.findroot(target.mp, (float(x[k]), float(x[k + 1])), solver="anderson")
            except (ArithmeticError, ValueError):
                continue
            nearest = float(fmt.arithmetic.dtype(float(found)))
            if x[k] <= nearest <= x[k + 1]:
                zeros.append(nearest)
    return sorted(set(zeros))[:MAX_ZEROS]


def _inexact_root(target: Target, lo: float, hi: float, fmt: Format) -> float | None:
    """The format's number nearest a zero of f in [lo, hi] (or just past an end) that the format
    cannot hold exactly: cos at π/2, sin at π. None when f keeps away from zero.

    f has such a zero where it changes sign between two of `ROOT_POINTS` points, or where it is
    smaller at an end than half the format's precision of its largest value (cos at the double
    nearest π/2 is 6e-17: the zero lies past the end, closer than any double).
    """
    import mpmath

    x = numpy.unique(numpy.linspace(lo, hi, ROOT_POINTS).astype(fmt.dtype)).astype(numpy.float64)
    values = numpy.asarray(target.truth(x, fmt), dtype=numpy.float64)
    largest = float(numpy.max(numpy.abs(values)))
    changes = numpy.flatnonzero(numpy.sign(values[:-1]) * numpy.sign(values[1:]) < 0)
    tiny = largest * 2.0 ** (-fmt.precision // 2)
    if changes.size:
        start = (float(x[changes[0]]), float(x[changes[0] + 1]))
    elif abs(values[0]) < tiny:
        start = (float(x[0]),)
    elif abs(values[-1]) < tiny:
        start = (float(x[-1]),)
    else:
        return None
    with mpmath.workdps(40):
        try:
            bracketed = len(start) == 2
            found = mpmath.findroot(
                target.mp, start if bracketed else start[0], solver="anderson" if bracketed else "secant"
            )
        except (ArithmeticError, ValueError):
            return None
        if not abs(target.mp(found)) <= largest * 1e-30:  # a decaying f (exp far left) is no zero
            return None
        nearest = float(fmt.arithmetic.dtype(float(found)))
    return nearest if lo <= nearest <= hi else None


def _wraps(node: Node) -> bool:
    """Whether an output node squares (a·a) or roots (√a) the node before it."""
    return (node.op == "mul" and node.args[0] == node.args[1]) or node.op == "sqrt"


def _through_output(node: Node, grid: FitGrid) -> FitGrid | None:
    """For an output a·a or √a: the grid its inner a is fitted on (√f or f², reweighted); else None.

    Both need f ≥ 0 on the grid; points where f = 0 keep weight 0.
    """
    if not _wraps(node) or numpy.any(grid.truth < 0):
        return None
    truth = grid.truth
    if node.op == "mul":
        root = numpy.sqrt(truth)
        return FitGrid(grid.x, root, grid.weight * 2 * root)
    with numpy.errstate(divide="ignore", invalid="ignore"):
        weight = numpy.where(truth > 0, grid.weight / (2 * numpy.where(truth > 0, truth, LD(1))), LD(0))
    return FitGrid(grid.x, truth * truth, weight)


def canonical_key(program: Program, frozen: frozenset[int]) -> bytes:
    """A hash of the DAG up to commutativity, with the values of the frozen constants only."""
    import hashlib

    positions = {node_index: k for k, node_index in enumerate(program.const_indices())}
    hashes: list[bytes] = []
    for index, node in enumerate(program.nodes):
        if node.op == "x":
            text = b"x"
        elif node.op == "const":
            k = positions[index]
            text = b"c" if k not in frozen else b"c" + numpy.float64(node.value).tobytes()
        else:
            args = [hashes[a] for a in node.args]
            if node.op in ("add", "mul"):
                args.sort()
            elif node.op == "fma":
                args = sorted(args[:2]) + args[2:]
            text = node.op.encode() + b"(" + b",".join(args) + b")"
        hashes.append(hashlib.blake2b(text, digest_size=16).digest())
    return hashes[-1]


@dataclass
class NumericsDomain:
    fn: str
    lo: float
    hi: float
    format_name: str = "float32"
    max_cost: int = 10
    arithmetic: str | None = None  # a wider format to compute in (float32 in and out, float64 inside)
    fit_points: int = 400
    score_points: int = 4096
    polish_evaluations: int = 40
    polish_below_ulp: float = 4.0  # float32 rounding-aware polish only for promising programs
    z3_rlimit: int = 400_000
    cost_model_name: str = "measured"
    seeds: bool = True
    structure_cache: bool = True
    tally: Z3Tally = field(default_factory=Z3Tally)
    # how `check` proves denominators safe: `check_program` in this process, or a `BoundedProver`
    prover: Callable[[Program, float, float, int], DenominatorVerdict] = check_program
    cache: CacheTally = field(default_factory=CacheTally)

    def __post_init__(self) -> None:
        self.target: Target = TARGETS[self.fn]
        self.format: Format = FORMATS[self.format_name].computed_in(self.arithmetic)
        self.metric = "max_ulp" if self.format.precision <= 24 else "max_rel_error"
        self.model: CostModel = cost_model(self.cost_model_name, self.format.arithmetic.name)
        self.shape = shape_of(self.fn, self.lo, self.hi, self.format)
        self.zeros = zeros_of(self.target, self.lo, self.hi, self.format)  # measured densely around
        self.fit = self._grid(self.fit_points)
        self.score = self._grid(self.score_points)
        step = max(1, len(self.score.x) // 32)
        self._signature_points = self.score.x[::step]
        self._key_points = self.fit.x[:: max(1, len(self.fit.x) // 9)]
        self._seen: set[bytes] = set()
        self._prefitted: dict[bytes, Program] = {}  # fits made before the search (the baselines)

    def _grid(self, count: int) -> FitGrid:
        """Points, truth and fit weights: 1/ULP (float32) or 1/|f| (float64); 0 where f = 0.

        Where f vanishes exactly only a factored form (t·q(t)) is exact; any other form is
        infinitely wrong there whatever its constants, so that point cannot steer the fit.
        """
        x = search_grid(self.lo, self.hi, self.format, count)
        roots = [r for r in (self.shape.root, *self.zeros) if r is not None]
        for root in roots:
            x = numpy.union1d(x, near_root(root, self.lo, self.hi, self.format))
        truth = self.target.truth(x, self.format)
        floor = LD(self.format.smallest_normal)  # relative error's floor (`measure`)
        scale = (
            ulp_of(truth, self.format) if self.metric == "max_ulp" else numpy.maximum(numpy.abs(truth), floor)
        )
        with numpy.errstate(divide="ignore"):
            weight = numpy.where(truth == 0, LD(0), LD(1) / numpy.where(truth == 0, LD(1), scale))
        return FitGrid(x, truth, weight)

    def cost(self, program: Program) -> float:
        """The program's cost under this domain's cost model."""
        return self.model.cost(program)

    # ---- the engine's Domain protocol --------------------------------------------------

    def initial_genomes(self, rng: numpy.random.Generator) -> list[Program]:
        if not self.seeds:
            return []
        return seed_programs(self.shape, self.lo, self.hi, lambda p: 0 < self.cost(p) <= self.max_cost)

    def random_genome(self, rng: numpy.random.Generator) -> Program:
        return random_program(rng)

    def mutate(self, genome: Program, rng: numpy.random.Generator) -> Program:
        return mutate(genome, rng)

    def crossover(self, a: Program, b: Program, rng: numpy.random.Generator) -> Program:
        return crossover(a, b, rng)

    def check(self, genome: Program) -> Program | str:
        program = genome.prune().merged()
        if program.cost() == 0:
            return "constant: the output does not depend on x"
        cost = self.cost(program)
        if cost > self.max_cost:
            return f"too costly: cost {cost:g} > {self.max_cost}"
        if len(program.nodes) > MAX_NODES:
            return f"too large: {len(program.nodes)} nodes"
        if self.structure_cache:
            key = canonical_key(program, self._frozen(program))
            if key in self._seen:
                self.cache.hits += 1
                return "duplicate: the same structure and unfitted constants were evaluated before"
            self.cache.misses += 1
            self._seen.add(key)
        verdict = self.prover(program.rounded(self.format.arithmetic.dtype), self.lo, self.hi, self.z3_rlimit)
        self.tally.seconds += verdict.seconds
        if verdict.status in ("vanishes", "negative_sqrt"):
            self.tally.rejected += 1
            what = "denominator vanishes" if verdict.status == "vanishes" else "negative square root"
            reason = f"{what}: node {verdict.node} at x = {verdict.x!r}"
            if len(self.tally.examples) < 5:
                self.tally.examples.append(reason)
            return reason
        if verdict.status in ("unknown", "timeout"):
            self.tally.unknown += 1
            self.tally.timed_out += verdict.status == "timeout"
        elif verdict.status == "safe":
            self.tally.safe += 1
        return program

    def evaluate(self, genome: Program) -> Refined[Program]:
        with numpy.errstate(all="ignore"):  # a wild candidate overflows its fit: it scores as invalid
            program = self.fitted(genome)
            return Refined(program, self.fitness(program))

    # ---- fitting and scoring -----------------------------------------------------------

    def remember_fits(self, programs: list[tuple[Program, Program]]) -> None:
        """Keep (skeleton, fitted) pairs: the seeds share the baselines' shapes, and workers get a
        copy of this domain when the search starts, so a seed is never fitted twice."""
        for skeleton, fitted in programs:
            pruned = skeleton.prune()
            self._prefitted[canonical_key(pruned, self._frozen(pruned))] = fitted

    def _frozen(self, program: Program) -> frozenset[int]:
        """The constants the fit holds (those of the inner program for a squared or rooted output)."""
        if _wraps(program.nodes[-1]) and program.nodes[-1].args[0] == len(program.nodes) - 2:
            return self._frozen(Program(program.nodes[:-1]))
        return analyse(program, self._key_points).frozen

    def fitted(self, genome: Program) -> Program:
        """The program with its constants fitted, rounded to the format."""
        program = genome.prune()
        if self._prefitted:
            key = canonical_key(program, self._frozen(program))
            if key in self._prefitted:
                return self._prefitted[key]
        seed = structure_seed(program)
        program = self._fit_reals(program, self.fit, seed)
        arithmetic = self.format.arithmetic.dtype
        program = program.rounded(arithmetic)
        if arithmetic is numpy.float32 and self.polish_evaluations:
            approx = program.run(self.fit.x, self.format)
            if measure(self.fit.x, approx, self.fit.truth, self.format).max_ulp < self.polish_below_ulp:
                polished = cma_polish(
                    program, self.score, numpy.float32, 2.0**-21, self.polish_evaluations, seed + 1
                )
                program = polished.rounded(arithmetic)
        return program

    def _fit_reals(self, program: Program, grid: FitGrid, seed: int) -> Program:
        """Constants fitted over the reals (float64): LP where exact, CMA-ES where not.

        A pruned program whose output is a·a or √a has every other node inside a (node
        `output − 1`), so the inner program is the prefix; it is fitted to the transformed truth.
        """
        inner_grid = _through_output(program.nodes[-1], grid)
        if (
            inner_grid is not None
            and len(program.nodes) >= 2
            and program.nodes[-1].args[0] == len(program.nodes) - 2
        ):
            inner = self._fit_reals(Program(program.nodes[:-1]), inner_grid, seed)
            return Program((*inner.nodes, program.nodes[-1]))
        form = analyse(program, grid.x)
        if form.kind in ("linear", "rational"):
            program = program.with_constants(fit_form(form, grid, program.constants()))
        if form.frozen or form.kind == "nonlinear":
            width = max(1, len(program.constants()))
            sigma, budget = (
                (0.3, min(300, 30 * width)) if form.kind == "nonlinear" else (0.02, min(120, 12 * width))
            )
            program = cma_polish(program, grid, numpy.float64, sigma, budget, seed)
        return program

    def fitness(self, program: Program) -> Fitness:
        ops, cost = program.cost(), self.cost(program)
        approx = program.run(self.score.x, self.format)
        errors = measure(self.score.x, approx, self.score.truth, self.format)
        error = errors.max_ulp if self.metric == "max_ulp" else errors.max_rel_error
        kind = (1 if program.count("div") else 0) + (2 if program.count("sqrt") else 0)
        if not math.isfinite(error):
            return Fitness((math.inf, cost), valid=False, descriptor=(ops, kind))
        signature_values = program.run(self._signature_points, self.format)
        signature = repr(cost).encode() + numpy.ascontiguousarray(signature_values).tobytes()
        return Fitness(
            objectives=(math.log10(max(error, 1e-300)), cost),
            descriptor=(ops, kind),
            signature=signature,
            info={
                "max_ulp": errors.max_ulp,
                "max_rel_error": errors.max_rel_error,
                "cost": cost,
                "ops": float(ops),
            },
        )
