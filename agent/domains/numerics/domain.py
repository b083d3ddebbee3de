"""The numerics domain for the engine: programs that approximate f on [lo, hi] in a format.

Objectives (minimised): log10 of the max error in ULPs of the format on the scoring
grid, measured in the format's own arithmetic, and the cost (ops that depend on x).
Evaluation fits the constants first (LP where exact, CMA-ES elsewhere; see `fitting`)
and returns the fitted program (`Refined`): children inherit fitted constants.
`check` refuses programs that are constant, too costly or too large, and, with Z3, those
that divide by zero or take a negative square root somewhere on the interval
(see `denominators`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy

from agent.domains.numerics.denominators import check_program
from agent.domains.numerics.fitting import FitGrid, analyse, cma_polish, fit_form, structure_seed
from agent.domains.numerics.measure import measure, ulp_of
from agent.domains.numerics.operators import crossover, mutate, random_program
from agent.domains.numerics.points import search_grid
from agent.domains.numerics.program import Program
from agent.domains.numerics.skeletons import seed_programs
from agent.domains.numerics.targets import FORMATS, LD, TARGETS, Format, Target
from agent.evolution import Fitness, Refined

MAX_NODES = 48


@dataclass
class Z3Tally:
    """What the denominator check decided (counted in the engine's process)."""

    safe: int = 0
    rejected: int = 0
    unknown: int = 0
    seconds: float = 0.0
    examples: list[str] = field(default_factory=list)


@dataclass
class NumericsDomain:
    fn: str
    lo: float
    hi: float
    format_name: str = "float32"
    max_cost: int = 10
    fit_points: int = 400
    score_points: int = 4096
    polish_evaluations: int = 40
    polish_below_ulp: float = 4.0  # float32 rounding-aware polish only for promising programs
    z3_rlimit: int = 400_000
    tally: Z3Tally = field(default_factory=Z3Tally)

    def __post_init__(self) -> None:
        self.target: Target = TARGETS[self.fn]
        self.format: Format = FORMATS[self.format_name]
        self.fit = self._grid(self.fit_points)
        self.score = self._grid(self.score_points)
        step = max(1, len(self.score.x) // 32)
        self._signature_points = self.score.x[::step]

    def _grid(self, count: int) -> FitGrid:
        x = search_grid(self.lo, self.hi, self.format, count)
        truth = self.target.truth(x, self.format)
        return FitGrid(x, truth, LD(1) / ulp_of(truth, self.format))

    # ---- the engine's Domain protocol --------------------------------------------------

    def initial_genomes(self, rng: numpy.random.Generator) -> list[Program]:
        return seed_programs(self.max_cost, self.lo, self.hi)

    def random_genome(self, rng: numpy.random.Generator) -> Program:
        return random_program(rng)

    def mutate(self, genome: Program, rng: numpy.random.Generator) -> Program:
        return mutate(genome, rng)

    def crossover(self, a: Program, b: Program, rng: numpy.random.Generator) -> Program:
        return crossover(a, b, rng)

    def check(self, genome: Program) -> Program | str:
        program = genome.prune()
        cost = program.cost()
        if cost == 0:
            return "constant: the output does not depend on x"
        if cost > self.max_cost:
            return f"too costly: cost {cost} > {self.max_cost}"
        if len(program.nodes) > MAX_NODES:
            return f"too large: {len(program.nodes)} nodes"
        verdict = check_program(program.rounded(self.format.dtype), self.lo, self.hi, self.z3_rlimit)
        self.tally.seconds += verdict.seconds
        if verdict.status in ("vanishes", "negative_sqrt"):
            self.tally.rejected += 1
            what = "denominator vanishes" if verdict.status == "vanishes" else "negative square root"
            reason = f"{what}: node {verdict.node} at x = {verdict.x!r}"
            if len(self.tally.examples) < 5:
                self.tally.examples.append(reason)
            return reason
        if verdict.status == "unknown":
            self.tally.unknown += 1
        elif verdict.status == "safe":
            self.tally.safe += 1
        return program

    def evaluate(self, genome: Program) -> Refined[Program]:
        program = self.fitted(genome)
        return Refined(program, self.fitness(program))

    # ---- fitting and scoring -----------------------------------------------------------

    def fitted(self, genome: Program) -> Program:
        """The program with its constants fitted, rounded to the format."""
        program = genome.prune()
        seed = structure_seed(program)
        form = analyse(program, self.fit.x)
        if form.kind in ("linear", "rational"):
            program = program.with_constants(fit_form(form, self.fit, program.constants()))
        if form.frozen or form.kind == "nonlinear":
            width = max(1, len(program.constants()))
            sigma, budget = (
                (0.3, min(300, 30 * width)) if form.kind == "nonlinear" else (0.02, min(120, 12 * width))
            )
            program = cma_polish(program, self.fit, numpy.float64, sigma, budget, seed)
        program = program.rounded(self.format.dtype)
        if self.format.dtype is numpy.float32 and self.polish_evaluations:
            approx = program.evaluate(self.fit.x, self.format.dtype)
            if measure(self.fit.x, approx, self.fit.truth, self.format).max_ulp < self.polish_below_ulp:
                polished = cma_polish(
                    program, self.score, numpy.float32, 2.0**-21, self.polish_evaluations, seed + 1
                )
                program = polished.rounded(self.format.dtype)
        return program

    def fitness(self, program: Program) -> Fitness:
        cost = program.cost()
        approx = program.evaluate(self.score.x, self.format.dtype)
        errors = measure(self.score.x, approx, self.score.truth, self.format)
        kind = (1 if program.count("div") else 0) + (2 if program.count("sqrt") else 0)
        if not math.isfinite(errors.max_ulp):
            return Fitness((math.inf, float(cost)), valid=False, descriptor=(cost, kind))
        signature_values = program.evaluate(self._signature_points, self.format.dtype)
        signature = cost.to_bytes(2, "little") + numpy.ascontiguousarray(signature_values).tobytes()
        return Fitness(
            objectives=(math.log10(max(errors.max_ulp, 1e-300)), float(cost)),
            descriptor=(cost, kind),
            signature=signature,
            info={"max_ulp": errors.max_ulp, "max_rel_error": errors.max_rel_error, "cost": float(cost)},
        )
