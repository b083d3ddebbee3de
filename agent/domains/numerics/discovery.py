"""One discovery run, end to end: validate the request, seed and run the engine, verify
the Pareto front, measure the baselines on the same points, write C and NumPy code.

This is the numerics domain's entry point for the CLI and the benchmarks; it returns a
typed report and leaves printing to its callers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from agent.domains.numerics.codegen import c_source, numpy_source
from agent.domains.numerics.domain import NumericsDomain, Z3Tally
from agent.domains.numerics.fitting import analyse, fit_form
from agent.domains.numerics.measure import Errors, Reference
from agent.domains.numerics.points import count_in, verification_points
from agent.domains.numerics.program import Program, horner
from agent.domains.numerics.skeletons import taylor_and_pade
from agent.domains.numerics.targets import FORMATS, TARGETS
from agent.errors import UserError
from agent.evolution import Engine, EngineConfig, EngineEvent, EngineStats
from agent.evolution.domain import Individual
from agent.search_recorder import PointRecord


class NumericsInputError(UserError):
    """A numerics request that cannot be run (unknown function, bad interval, format)."""


@dataclass(frozen=True)
class Request:
    fn: str
    lo: float
    hi: float
    dtype: str = "float32"
    time_budget: float | None = 60.0
    generations: int | None = None
    seed: int = 0
    workers: int = 1
    population: int = 24
    islands: int = 2
    max_cost: int = 10
    eval_timeout: float = 20.0
    out_dir: Path | None = None
    checkpoint: Path | None = None

    def rounded(self) -> Request:
        """The same request with the interval's ends rounded to the format."""
        self.validate()
        fmt = FORMATS[self.dtype]
        return replace(self, lo=float(fmt.dtype(self.lo)), hi=float(fmt.dtype(self.hi)))

    def validate(self) -> None:
        if self.fn not in TARGETS:
            raise NumericsInputError(f"unknown function {self.fn!r}; choose one of {', '.join(TARGETS)}")
        if self.dtype not in FORMATS:
            raise NumericsInputError(f"unsupported dtype {self.dtype!r}; choose float32 or float64")
        if not (math.isfinite(self.lo) and math.isfinite(self.hi)):
            raise NumericsInputError(f"the interval [{self.lo}, {self.hi}] must be finite")
        if self.lo >= self.hi:
            raise NumericsInputError(
                f"the interval [{self.lo}, {self.hi}] is empty or reversed: give lo < hi"
            )
        fmt = FORMATS[self.dtype]
        lo, hi = float(fmt.dtype(self.lo)), float(fmt.dtype(self.hi))
        if lo != self.lo or hi != self.hi:
            raise NumericsInputError(
                f"the ends {self.lo}, {self.hi} are not {self.dtype} numbers; round them first"
            )
        if count_in(lo, hi, fmt) < 16:
            raise NumericsInputError(
                f"the interval [{self.lo}, {self.hi}] holds fewer than 16 {self.dtype} numbers"
            )
        if self.lo <= TARGETS[self.fn].domain_low:
            raise NumericsInputError(f"{self.fn} is not defined on all of [{self.lo}, {self.hi}]")
        if not 1 <= self.max_cost <= 24:
            raise NumericsInputError("max cost must be between 1 and 24")
        if self.time_budget is None and self.generations is None:
            raise NumericsInputError("give a time budget or a number of generations")


@dataclass(frozen=True)
class FrontEntry:
    cost: int
    max_ulp: float  # on the verification set
    max_rel_error: float
    verified: bool  # max_ulp and max_rel_error come from the verification pass
    search_max_ulp: float  # on the search grid
    program: str
    c_code: str
    numpy_code: str
    c_path: str | None = None
    numpy_path: str | None = None


@dataclass(frozen=True)
class BaselineEntry:
    name: str
    cost: int
    max_ulp: float
    max_rel_error: float


@dataclass(frozen=True)
class Report:
    fn: str
    lo: float
    hi: float
    dtype: str
    seed: int
    front: list[FrontEntry]
    baselines: list[BaselineEntry]
    stats: EngineStats
    z3: Z3Tally
    verification_points: int
    out_dir: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def eval_seconds_saved(self) -> float:
        """Evaluation time the Z3 rejections saved (rejections × mean evaluation time)."""
        return self.z3.rejected * self.stats.mean_eval_seconds

    def best_baseline(self, cost: int) -> BaselineEntry | None:
        """The most accurate baseline of exactly this cost."""
        same = [b for b in self.baselines if b.cost == cost]
        return min(same, key=lambda b: b.max_ulp) if same else None

    def to_json(self) -> dict[str, object]:
        stats = self.stats
        return {
            "fn": self.fn,
            "interval": [self.lo, self.hi],
            "dtype": self.dtype,
            "seed": self.seed,
            "front": [
                {k: v for k, v in asdict(entry).items() if k not in ("numpy_code",)} for entry in self.front
            ],
            "baselines": [asdict(b) for b in self.baselines],
            "verification_points": self.verification_points,
            "engine": {
                "evaluated": stats.evaluated,
                "evals_per_second": stats.evals_per_second,
                "generations": stats.generations,
                "wall_time": stats.wall_time,
                "rejected_by_check": stats.rejected_by_check,
                "rejected_by_reason": dict(stats.rejected_by_reason),
                "timed_out": stats.timed_out,
                "novelty_rejected": stats.novelty_rejected,
                "failed": stats.failed,
            },
            "z3": {
                "rejected": self.z3.rejected,
                "proven_safe": self.z3.safe,
                "unknown": self.z3.unknown,
                "seconds": self.z3.seconds,
                "eval_seconds_saved": self.eval_seconds_saved,
                "examples": self.z3.examples,
            },
            "out_dir": self.out_dir,
        }


def minimax_polynomial(domain: NumericsDomain, degree: int) -> Program:
    """The LP minimax polynomial of a degree (weighted in ULPs of the format), by Horner."""
    program = horner([0.0] * (degree + 1))
    form = analyse(program, domain.fit.x)
    return program.with_constants(fit_form(form, domain.fit, program.constants())).rounded(
        domain.format.dtype
    )


def _header(request: Request, cost: int, errors: Errors, program: Program) -> str:
    return (
        f"{request.fn}(x) on [{request.lo!r}, {request.hi!r}] in {request.dtype}: cost {cost}, "
        f"max error {errors.max_ulp:.4g} ULP ({errors.max_rel_error:.3e} relative) on {errors.points} points.\n"
        "Generated by `strop evolve numerics`.\n" + program.text()
    )


def discover(request: Request, observer: Callable[[EngineEvent], None] | None = None) -> Report:
    """Run the search and return the verified front beside the baselines."""
    request = request.rounded()
    fmt = FORMATS[request.dtype]
    domain = NumericsDomain(request.fn, request.lo, request.hi, request.dtype, max_cost=request.max_cost)
    config = EngineConfig(
        seed=request.seed,
        population=request.population,
        islands=request.islands,
        generations=request.generations,
        time_budget=request.time_budget,
        eval_timeout=request.eval_timeout,
        workers=request.workers,
        archive_bins=request.max_cost + 1,
        checkpoint_path=request.checkpoint,
        checkpoint_every=5,
    )
    result = Engine(domain, config, observer=observer).run()

    points = verification_points(request.lo, request.hi, fmt)
    reference = Reference(points, domain.target.truth(points, fmt), fmt)
    out_dir = request.out_dir
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    front: list[FrontEntry] = []
    for individual in result.front:
        program: Program = individual.genome
        cost = program.cost()
        errors = reference.measure(program.evaluate_chunked(points, fmt.dtype))
        header = _header(request, cost, errors, program)
        c_code = c_source(program, request.fn, request.lo, request.hi, request.dtype, header)
        numpy_code = numpy_source(program, request.fn, request.lo, request.hi, request.dtype, header)
        c_path = numpy_path = None
        if out_dir is not None:
            stem = f"{request.fn}_{request.dtype}_cost{cost}"
            c_path, numpy_path = out_dir / f"{stem}.c", out_dir / f"{stem}.py"
            c_path.write_text(c_code)
            numpy_path.write_text(numpy_code)
        front.append(
            FrontEntry(
                cost=cost,
                max_ulp=errors.max_ulp,
                max_rel_error=errors.max_rel_error,
                verified=True,
                search_max_ulp=float(individual.fitness.info.get("max_ulp", math.nan)),
                program=program.text(),
                c_code=c_code,
                numpy_code=numpy_code,
                c_path=str(c_path) if c_path else None,
                numpy_path=str(numpy_path) if numpy_path else None,
            )
        )
    front.sort(key=lambda entry: entry.cost)
    baselines = measure_baselines(domain, reference)
    return Report(
        fn=request.fn,
        lo=request.lo,
        hi=request.hi,
        dtype=request.dtype,
        seed=request.seed,
        front=front,
        baselines=baselines,
        stats=result.stats,
        z3=domain.tally,
        verification_points=len(points),
        out_dir=str(out_dir) if out_dir else None,
    )


def measure_baselines(domain: NumericsDomain, reference: Reference) -> list[BaselineEntry]:
    """Taylor, Padé and minimax polynomials of every cost up to the domain's max, measured alike."""
    dtype = domain.format.dtype
    named = [
        (b.name, b.program.rounded(dtype))
        for b in taylor_and_pade(domain.target.mp, domain.lo, domain.hi, domain.max_cost)
    ]
    named += [(f"minimax-{d}", minimax_polynomial(domain, d)) for d in range(1, domain.max_cost + 1)]
    entries = []
    for name, program in named:
        errors = reference.measure(program.evaluate_chunked(reference.x, dtype))
        entries.append(BaselineEntry(name, program.cost(), errors.max_ulp, errors.max_rel_error))
    return entries


def point_renderer(request: Request) -> Callable[[Individual[Program]], PointRecord]:
    """How a Pareto point of this search is kept in git: its program and its C code."""
    request = request.rounded()

    def render(individual: Individual[Program]) -> PointRecord:
        program = individual.genome
        info = individual.fitness.info
        cost = program.cost()
        ulp, rel = float(info.get("max_ulp", math.nan)), float(info.get("max_rel_error", math.nan))
        header = (
            f"{request.fn}(x) on [{request.lo!r}, {request.hi!r}] in {request.dtype}: cost {cost}, "
            f"{ulp:.4g} ULP on the search grid (not yet verified).\n" + program.text()
        )
        code = c_source(program, request.fn, request.lo, request.hi, request.dtype, header)
        return PointRecord(
            idea=f"cost {cost}: {ulp:.4g} ULP, {rel:.3e} relative (search grid)",
            files={"program.txt": program.text() + "\n", f"{request.fn}_{request.dtype}.c": code},
            metrics={"max_ulp": ulp, "max_rel_error": rel, "cost": float(cost)},
        )

    return render
