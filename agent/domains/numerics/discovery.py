"""One discovery run, end to end: validate the request, fit the baselines, seed and run
the engine, verify the Pareto front and the strongest baselines on the same inputs (every
float32 of the interval in C; float64 sampled), label each front point with its origin
(see `origins`), write C and NumPy code, and for float32 time the programs under 1 ULP
against glibc, NumPy and the best baseline polynomial (see `speed`). The request's time
budget bounds all of it (a `Deadline`, from the process start when the CLI passes one):
the verification and timing are reserved up front (exhaustive float32 verification only
when its estimate fits the budget; the sampled set otherwise), the baselines must leave
the search `MIN_SEARCH_SECONDS`, the search (its Z3 checks in a killable process, see
`denominators.BoundedProver`) ends at the deadline less what the programs under 1 ULP need
of the reserve (see `reserve`: with none, it runs on into the rest), and every step after it
ends by the deadline: a pass that cannot finish is cut (the C programs killed, the sampled
set thinned, unverified programs keep their search-grid errors, speed skipped), and the
report's notes say what was cut.

This is the numerics domain's entry point for the CLI and the benchmarks; it returns a
typed report and leaves printing to its callers.
"""

from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy

from agent.deadline import Deadline
from agent.domains.numerics.codegen import c_source, numpy_source
from agent.domains.numerics.costmodel import MODELS
from agent.domains.numerics.denominators import BoundedProver, check_program
from agent.domains.numerics.domain import CacheTally, NumericsDomain, Z3Tally, canonical_key
from agent.domains.numerics.exhaustive import estimate_seconds, verify_all
from agent.domains.numerics.measure import Errors, Reference, measure
from agent.domains.numerics.origins import TOLERANCE, Measured, label, strongest, worth_showing
from agent.domains.numerics.points import count_in, verification_points
from agent.domains.numerics.program import Program, horner
from agent.domains.numerics.reserve import Reserve, whole_reserve
from agent.domains.numerics.skeletons import families, taylor_and_pade, textbook_extensions
from agent.domains.numerics.speed import measure_speed
from agent.domains.numerics.targets import FORMATS, TARGETS, Format, Target
from agent.errors import UserError
from agent.evolution import Engine, EngineConfig, EngineEvent, EngineStats
from agent.evolution.domain import Individual
from agent.search_recorder import PointRecord

MIN_SEARCH_SECONDS = 5.0
MIN_EXHAUSTIVE_SECONDS = 5.0  # below this the exhaustive pass is not tried: the sampled set instead
FINISH_SECONDS = 2.0  # left to the caller after `discover`: printing, the git record, interpreter exit
EXHAUSTIVE_SHARE = 0.7  # exhaustive verification is planned only when its estimate fits this share
PLANNED_PROGRAMS = 6  # float32 programs an exhaustive pass is planned for (those under 1 ULP on the grid)
ESTIMATE_MARGIN = (
    2.0  # on the timed estimate of the exhaustive pass: the load moves while it runs (1.3 ran out at load 6)
)
SPEED_SECONDS = 15.0  # kept for the speed loops after an exhaustive pass
MIN_SPEED_SECONDS = 4.0  # below this the speed loops are not started
MIN_SAMPLED_POINTS = 4096  # a thinned sampled set keeps at least this many inputs
SAMPLED_SHARE = 0.75  # of the time left once the points are drawn: their truth and every program on them
PROBE_POINTS = 1 << 16  # inputs a program is timed on for the estimate (one `run_chunked` chunk)
EXHAUSTIVE_TIMEOUT_SHARE = 0.8  # of the time left at verification, the exhaustive pass's limit


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
    executor: str = "local"  # or "ray": candidate evaluations on a Ray cluster
    address: str | None = None
    population: int = 24
    islands: int = 2
    max_cost: int = 10
    eval_timeout: float = 20.0
    out_dir: Path | None = None
    checkpoint: Path | None = None
    cost_model: str = "measured"  # or "ops" (every operation 1)
    seeds: bool = True  # False: no seed program, no skeleton: a random first population
    exhaustive: bool = True  # float32: verify every float of the interval in C
    speed: bool = True  # float32: time the programs under 1 ULP against glibc and NumPy
    arithmetic: str | None = None  # a wider format to compute in: float32 in and out, float64 inside

    @property
    def format(self) -> Format:
        """The format of inputs and outputs, with the arithmetic the programs compute in."""
        return FORMATS[self.dtype].computed_in(self.arithmetic)

    @property
    def label(self) -> str:
        return self.format.label

    def rounded(self) -> Request:
        """The same request with the interval's ends rounded inward to the format (see `inward`)."""
        self.validate()
        lo, hi = inward(self.lo, self.hi, FORMATS[self.dtype])
        return replace(self, lo=lo, hi=hi)

    def validate(self) -> None:
        if self.fn not in TARGETS:
            raise NumericsInputError(f"unknown function {self.fn!r}; choose one of {', '.join(TARGETS)}")
        if self.dtype not in FORMATS:
            raise NumericsInputError(f"unsupported dtype {self.dtype!r}; choose float32 or float64")
        try:
            FORMATS[self.dtype].computed_in(self.arithmetic)
        except ValueError as error:
            raise NumericsInputError(f"--arithmetic: {error}") from None
        if not (math.isfinite(self.lo) and math.isfinite(self.hi)):
            raise NumericsInputError(f"the interval [{self.lo}, {self.hi}] must be finite")
        if self.lo >= self.hi:
            raise NumericsInputError(
                f"the interval [{self.lo}, {self.hi}] is empty or reversed: give lo < hi"
            )
        fmt = FORMATS[self.dtype]
        lo, hi = inward(self.lo, self.hi, fmt)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise NumericsInputError(
                f"the interval [{self.lo}, {self.hi}] reaches past the largest {self.dtype} number "
                f"({float(numpy.finfo(fmt.dtype).max):.4g}): give ends {self.dtype} can hold"
            )
        if not lo < hi or count_in(lo, hi, fmt) < 16:
            raise NumericsInputError(
                f"the interval [{self.lo}, {self.hi}] holds fewer than 16 {self.dtype} numbers: widen it"
            )
        target = TARGETS[self.fn]
        if not target.defined_on(lo, hi):
            raise NumericsInputError(
                f"{self.fn} is not defined on all of [{self.lo}, {self.hi}]: it needs {target.domain_text}"
            )
        largest = _largest_value(target, lo, hi, fmt)
        if not largest <= float(numpy.finfo(fmt.dtype).max):
            raise NumericsInputError(
                f"{self.fn} overflows {self.dtype} on [{self.lo}, {self.hi}] (|{self.fn}(x)| reaches "
                f"{largest:.3g}): no {self.dtype} program can approximate it there"
            )
        if not 1 <= self.max_cost <= 24:
            raise NumericsInputError("max cost must be between 1 and 24")
        if self.cost_model not in MODELS:
            raise NumericsInputError(
                f"unknown cost model {self.cost_model!r}; choose one of {', '.join(MODELS)}"
            )
        if self.time_budget is None and self.generations is None:
            raise NumericsInputError("give a time budget or a number of generations")


def inward(lo: float, hi: float, fmt: Format) -> tuple[float, float]:
    """The interval's ends rounded inward to the format: its smallest and largest numbers in [lo, hi].

    Inward, not to nearest: a rounded end never leaves the interval the user gave, so it never
    crosses into where f is undefined or overflows (log1p on [-0.99999999, 0] in float32 would round
    its lower end to -1). An end past the format's range becomes ±inf, which `validate` refuses.
    """
    with numpy.errstate(over="ignore"):
        low, high = fmt.dtype(lo), fmt.dtype(hi)
    if float(low) < lo:
        low = numpy.nextafter(low, fmt.dtype(math.inf))
    if float(high) > hi:
        high = numpy.nextafter(high, fmt.dtype(-math.inf))
    return float(low), float(high)


def _largest_value(target: Target, lo: float, hi: float, fmt: Format) -> float:
    """max |f| over the ends and 255 points between (f is monotone or smooth on any sane interval)."""
    x = numpy.unique(numpy.linspace(lo, hi, 257).astype(fmt.dtype))
    values = numpy.abs(target.truth(x, fmt))
    return float(numpy.max(values)) if numpy.all(numpy.isfinite(values)) else math.inf


@dataclass(frozen=True)
class FrontEntry:
    cost: float  # under the report's cost model
    ops: int  # plain operation count (an fma is 1)
    max_ulp: float  # on the verification set
    max_rel_error: float
    verified: str  # "exhaustive" (every float32 of the interval, in C) or "sampled"
    search_max_ulp: float  # on the search grid
    program: str
    c_code: str
    numpy_code: str
    origin: str = "evolved"
    baseline: str | None = None  # the strongest baseline at the same or lower cost
    baseline_error: float | None = None
    margin: float | None = None  # baseline error / this error
    # the same against the baselines and the textbook extensions (float64, double inside; see `textbook_programs`)
    textbook: str | None = None
    textbook_margin: float | None = None
    c_path: str | None = None
    numpy_path: str | None = None


@dataclass(frozen=True)
class BaselineEntry:
    name: str
    cost: float
    max_ulp: float
    max_rel_error: float
    ops: int = 0
    verified: str = "sampled"  # "exhaustive", "sampled" or "search grid" (dominated, not re-verified)
    program: str = ""


@dataclass(frozen=True)
class Speed:
    """ns per value (best of the repeats) and spread (slowest/best) of one loop."""

    name: str
    ns: float
    spread: float
    kind: str  # "front", "baseline", "glibc" or "numpy"
    max_ulp: float | None = None
    origin: str | None = None


@dataclass(frozen=True)
class FrontWritten:
    """The front's C and NumPy files are all on disk, each one whole (`write_front`).

    Told to `discover`'s observer, so that a command stopped after it can say its code is there.
    """

    folder: Path
    files: tuple[Path, ...]


def write_front(files: dict[Path, str]) -> None:
    """Write the front's code; a stop signal meanwhile waits for the last file (no half a program)."""
    from agent.loop.interrupts import held_interrupts

    with held_interrupts():
        for path, text in files.items():
            path.write_text(text)


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
    cost_model: str = "measured"
    metric: str = "max_ulp"
    seeds: bool = True
    cache: CacheTally = field(default_factory=CacheTally)
    verification: str = "sampled"
    verification_seconds: float = 0.0
    baseline_seconds: float = 0.0
    speed: list[Speed] = field(default_factory=list)
    out_dir: str | None = None
    notes: list[str] = field(default_factory=list)
    arithmetic: str | None = None  # what the programs compute in, when not `dtype` (None: `dtype`)

    @property
    def format(self) -> Format:
        return FORMATS[self.dtype].computed_in(self.arithmetic)

    @property
    def eval_seconds_saved(self) -> float:
        """Evaluation time the Z3 rejections saved (rejections × mean evaluation time)."""
        return self.z3.rejected * self.stats.mean_eval_seconds

    def error(self, entry: FrontEntry | BaselineEntry) -> float:
        """The report's error measure: max ULP (float32) or max relative error (float64)."""
        return float(getattr(entry, self.metric))

    def best_baseline(self, cost: float) -> BaselineEntry | None:
        """The most accurate baseline at the same or lower cost."""
        found = strongest([Measured(b.name, b.cost, self.error(b)) for b in self.baselines], cost)
        return next(b for b in self.baselines if b.name == found.name) if found else None

    @property
    def novel(self) -> list[FrontEntry]:
        """The discoveries: front points strictly better than every baseline at ≤ their cost."""
        return [entry for entry in self.front if entry.origin == "novel"]

    @property
    def novel_beyond_textbook(self) -> list[FrontEntry]:
        """Novel points that also beat the textbook extensions at ≤ their cost (float64, double inside)."""
        return [e for e in self.novel if e.textbook_margin is not None and e.textbook_margin > 1 + TOLERANCE]

    @property
    def duplicate_rate(self) -> float:
        """Evaluated programs that behaved exactly like an earlier one (dropped by novelty)."""
        return self.stats.novelty_rejected / self.stats.evaluated if self.stats.evaluated else 0.0

    def headline(self) -> dict[str, object] | None:
        """float32: the fastest front program under 1 ULP against glibc (scalar or libmvec, the faster)
        and the best baseline polynomial."""
        fronts = [s for s in self.speed if s.kind == "front"]
        if not fronts:
            return None
        best = min(fronts, key=lambda s: s.ns)
        others: dict[str, Speed] = {}
        for s in self.speed:  # glibc: the faster of its scalar function and its vector library
            if s.kind in ("glibc", "baseline", "numpy") and (
                s.kind not in others or s.ns < others[s.kind].ns
            ):
                others[s.kind] = s
        result: dict[str, object] = {"program": best.name, "ns": best.ns, "origin": best.origin}
        for kind, other in others.items():
            result[kind] = {"name": other.name, "ns": other.ns, "ratio": other.ns / best.ns,
                            "verdict": _verdict(other, best)}  # fmt: skip
        return result

    def to_json(self) -> dict[str, object]:
        stats = self.stats
        return {
            "fn": self.fn,
            "interval": [self.lo, self.hi],
            "dtype": self.dtype,
            "arithmetic": self.format.arithmetic.name,
            "seed": self.seed,
            "seeds": self.seeds,
            "cost_model": self.cost_model,
            "metric": self.metric,
            "front": [
                {k: v for k, v in asdict(entry).items() if k not in ("numpy_code",)} for entry in self.front
            ],
            "novel": len(self.novel),
            "baselines": [asdict(b) for b in self.baselines],
            "verification": self.verification,
            "verification_points": self.verification_points,
            "verification_seconds": self.verification_seconds,
            "speed": [asdict(s) for s in self.speed],
            "headline": self.headline(),
            "engine": {
                "evaluated": stats.evaluated,
                "evals_per_second": stats.evals_per_second,
                "generations": stats.generations,
                "wall_time": stats.wall_time,
                "rejected_by_check": stats.rejected_by_check,
                "rejected_by_reason": dict(stats.rejected_by_reason),
                "timed_out": stats.timed_out,
                "novelty_rejected": stats.novelty_rejected,
                "duplicate_rate": self.duplicate_rate,
                "failed": stats.failed,
            },
            "structure_cache": {
                "hits": self.cache.hits,
                "misses": self.cache.misses,
                "hit_rate": self.cache.hit_rate,
            },
            "z3": {
                "rejected": self.z3.rejected,
                "proven_safe": self.z3.safe,
                "unknown": self.z3.unknown,
                "timed_out": self.z3.timed_out,
                "seconds": self.z3.seconds,
                "eval_seconds_saved": self.eval_seconds_saved,
                "examples": self.z3.examples,
            },
            "out_dir": self.out_dir,
            "notes": self.notes,
        }


SPEED_POLYNOMIAL_COST = 16  # float32: minimax polynomials are fitted up to this cost for the speed comparison
# float32: only programs under 1 ULP on the search grid are verified exhaustively. The grid is a
# subset of the interval, so a program at ≥ 1 ULP there is ≥ 1 ULP everywhere: no < 1 ULP claim can
# rest on it, and its comparisons with baselines stay on the grid, the same measure for both sides.
VERIFY_BELOW_ULP = 1.0
SPEED_TIE = 0.05  # loops within 5% of each other's best time are a tie
# double inside: the cheapest float32-arithmetic polynomials under 1 ULP on the grid that get an
# exhaustive pass (all of degree 6 to 16 qualify for exp2 on [0, 1]: verifying them all ran past
# the pass's time and left the comparison without them)
PLAIN_VERIFIED = 2


def _verdict(other: Speed, ours: Speed) -> str:
    ratio = other.ns / ours.ns
    if ratio > 1 + SPEED_TIE:
        return "faster"
    if ratio < 1 / (1 + SPEED_TIE):
        return "slower"
    return "tie"


def minimax_polynomial(domain: NumericsDomain, degree: int) -> Program:
    """The LP minimax polynomial of a degree (weighted as the domain fits), by Horner."""
    return domain.fitted(horner([0.0] * (degree + 1)))


def baseline_programs(
    domain: NumericsDomain, say: Callable[[str], None] = lambda _: None, until: Deadline | None = None
) -> list[tuple[str, Program]]:
    """Every baseline within the domain's cost limit, fitted with the same care as candidates.

    Taylor and Padé (factored where f has a zero) keep their own coefficients; the minimax
    families (polynomials, factored or odd forms, rationals for every split of the cost,
    symmetric rationals for exp-like functions) go through the domain's own fit: LP, CMA-ES
    where needed and, for float32, the same rounding-aware polish. Past `until` (the last
    moment that still leaves the search its minimum) the request cannot be met: an error.
    For float32 the minimax polynomials go on past the cost limit, up to
    `SPEED_POLYNOMIAL_COST`: the speed comparison needs the cheapest polynomial under 1 ULP,
    and where it costs more than the search may spend, the search's programs must still be
    timed against it (a baseline above a point's cost never decides that point's label).
    """
    dtype = domain.format.arithmetic.dtype
    named: list[tuple[str, Program]] = []
    for baseline in taylor_and_pade(domain.target.mp, domain.lo, domain.hi, 12, domain.shape):
        with numpy.errstate(over="ignore"):
            program = baseline.program.rounded(dtype)
        if 0 < domain.cost(program) <= domain.max_cost:
            named.append((baseline.name, program))
    fits: list[tuple[Program, Program]] = []
    polynomial_limit = max(domain.max_cost, SPEED_POLYNOMIAL_COST if domain.metric == "max_ulp" else 0)
    for name, skeleton in families(domain.shape, domain.lo, domain.hi):
        limit = polynomial_limit if _is_polynomial(f"minimax-{name}") else domain.max_cost
        if not 0 < domain.cost(skeleton) <= limit:
            continue
        if until is not None and until.expired():
            raise NumericsInputError(
                "the baselines did not finish in time to leave the search its minimum; give more --time"
            )
        say(f"baseline {name}")
        label = f"minimax-{name.removeprefix('poly-')}" if name.startswith("poly-") else f"minimax-{name}"
        with numpy.errstate(all="ignore"):  # an ill-conditioned fit overflows: `usable_baselines` says so
            fitted = domain.fitted(skeleton)
        named.append((label, fitted))
        fits.append((skeleton, fitted))
    domain.remember_fits(fits)
    return named


def usable_baselines(
    domain: NumericsDomain, named: list[tuple[str, Program]]
) -> tuple[list[tuple[str, Program]], list[str]]:
    """The baselines that compute a finite value everywhere on the search grid, and a note for each
    one left out saying why.

    A Padé approximant centred in the interval can have its pole inside it (exp's pade-1/1 on
    [-5, -1] has it at -1), and a high-degree fit on a narrow interval can need coefficients past
    the format's range (log's minimax-14 on [1, 1.0001] in float32): such a "baseline" is infinitely
    wrong, and would sit in the report as inf beside the others with no reason given.
    """
    kept: list[tuple[str, Program]] = []
    notes: list[str] = []
    with numpy.errstate(all="ignore"):
        for name, program in named:
            values = program.run(domain.score.x, domain.format)
            if numpy.all(numpy.isfinite(values)):
                kept.append((name, program))
            else:
                notes.append(f"baseline {name} left out: {_why_not_finite(program, domain.format)}")
    return kept, notes


def _why_not_finite(program: Program, fmt: Format) -> str:
    if not numpy.all(numpy.isfinite(program.constants())):
        return (
            f"its coefficients overflow {fmt.arithmetic.name} (the fit is ill-conditioned on this interval)"
        )
    if program.count("div"):
        return "its denominator vanishes on the interval (a pole inside it)"
    return f"its value overflows {fmt.arithmetic.name} on the interval"


def textbook_programs(
    domain: NumericsDomain, say: Callable[[str], None] = lambda _: None, until: Deadline | None = None
) -> list[tuple[str, Program]]:
    """float64 and double inside: the textbook forms that are not baselines (see
    `skeletons.textbook_extensions`), fitted. In plain float32 arithmetic they are left out: their
    rounding errors, not their forms, decide there.

    Only reports use them: a novel point that does not also beat these is one of them (an odd
    rational, a squared polynomial or symmetric rational, a form in √x), however its label reads. Stops
    quietly at `until`: the search's time comes first.
    """
    if domain.metric != "max_rel_error" and not domain.format.inside:
        return []
    named: list[tuple[str, Program]] = []
    fits: list[tuple[Program, Program]] = []
    for name, skeleton in textbook_extensions(domain.shape, domain.lo, domain.hi, domain.max_cost):
        if not 0 < domain.cost(skeleton) <= domain.max_cost:
            continue
        if until is not None and until.expired():
            break
        say(f"textbook form {name}")
        with numpy.errstate(all="ignore"):
            fitted = domain.fitted(skeleton)
        named.append((f"minimax-{name}", fitted))
        fits.append((skeleton, fitted))
    domain.remember_fits(fits)
    return named


def _dominated(costs: list[float], errors: list[float], index: int, factor: float = 2.0) -> bool:
    """Whether another baseline is at most as costly and `factor`× more accurate."""
    return any(
        c <= costs[index] + 1e-9 and e * factor < errors[index]
        for k, (c, e) in enumerate(zip(costs, errors, strict=True))
        if k != index
    )


def _header(request: Request, cost: float, ops: int, errors: Errors, verified: str, program: Program) -> str:
    return (
        f"{request.fn}(x) on [{request.lo!r}, {request.hi!r}] in {request.label}: cost {cost:g} "
        f"({request.cost_model}), {ops} ops, max error {errors.max_ulp:.4g} ULP "
        f"({errors.max_rel_error:.3e} relative), {verified} on {errors.points} inputs.\n"
        "Generated by `strop evolve numerics`.\n" + program.text()
    )


class _Verifier:
    """Measures programs on the verification set: every float32 in C, or float64 sampled, by `until`.

    The exhaustive pass is tried only when planned (`_plan`) and `MIN_EXHAUSTIVE_SECONDS` are
    left; it may use `EXHAUSTIVE_TIMEOUT_SHARE` of the time left, and past that the run falls back
    to the sampled set and says so. The sampled reference is thinned when its truth would
    not be ready, with every program measured on it, in `SAMPLED_SHARE` of the time left
    (erf's float64 truth is mpmath, ~50 µs a point; see `_sampled_stride`); programs are then
    measured one by one while the time allows, and those left over keep their search-grid
    errors (`None` here). `programs` are those `measure` will be given, for that estimate.
    """

    def __init__(
        self,
        domain: NumericsDomain,
        request: Request,
        until: Deadline,
        exhaustive: bool,
        programs: Sequence[Program] = (),
    ) -> None:
        self.domain, self.request, self.until = domain, request, until
        self.format = domain.format
        self.exhaustive = exhaustive
        self.seconds = 0.0
        self.notes: list[str] = []
        if self.exhaustive:
            self.points = count_in(request.lo, request.hi, self.format)
            self.kind = "exhaustive"
        else:
            self._sampled(programs)

    def _sampled(self, programs: Sequence[Program] = ()) -> None:
        started = time.monotonic()
        x = verification_points(self.request.lo, self.request.hi, self.format)
        truth = self.domain.target.truth
        # per input, timed on probes after the points are drawn: drawing them is paid once, not per
        # input (timing it with the truth scaled 1.6 s by 3,500 and thinned every set ~1,000×)
        began = time.monotonic()
        probe = x[:: max(1, len(x) // 2048)]
        Reference(probe, truth(probe, self.format), self.format)
        truth_each = (time.monotonic() - began) / len(probe)
        programs_each = self._programs_seconds(x, programs)
        allowed = SAMPLED_SHARE * self.until.left()
        self.kind = "sampled"
        stride = _sampled_stride(len(x), truth_each, programs_each, allowed)
        if stride > 1:
            x = numpy.unique(numpy.concatenate([x[::stride], x[-1:]]))
            self.kind = "sampled (thinned to fit the time)"
            self.notes.append(
                f"the sampled verification set was thinned {stride}× to {len(x)} inputs to end by --time"
            )
        self.reference = Reference(x, truth(x, self.format), self.format)
        self.points = len(x)
        self.exhaustive = False
        self.seconds += time.monotonic() - started

    def _programs_seconds(self, x: numpy.ndarray, programs: Sequence[Program]) -> float:
        """Seconds per input to run and measure all of `programs`: the cheapest and the costliest are
        timed on a probe, the others interpolated by their op count (0 when there are none)."""
        if not programs:
            return 0.0
        probe = x[:: max(1, len(x) // PROBE_POINTS)]
        reference = Reference(probe, self.domain.target.truth(probe, self.format), self.format)

        def each(program: Program) -> float:
            began = time.monotonic()
            reference.measure(program.run_chunked(probe, self.format))
            return (time.monotonic() - began) / len(probe)

        ops = [program.cost() for program in programs]
        cheap, costly = min(range(len(ops)), key=ops.__getitem__), max(range(len(ops)), key=ops.__getitem__)
        return _interpolated(ops, ops[cheap], each(programs[cheap]), ops[costly], each(programs[costly]))

    def measure(self, programs: list[Program]) -> list[Errors | None]:
        """Errors of each program on the verification set; `None` where the time ran out first."""
        started = time.monotonic()
        errors: list[Errors | None] | None = None
        if self.exhaustive:
            errors = self._exhaustive(programs)
        if errors is None:
            errors = self._each_sampled(programs)
        self.seconds += time.monotonic() - started
        return errors

    def _exhaustive(self, programs: list[Program]) -> list[Errors | None] | None:
        """Every float, `PLANNED_PROGRAMS` programs a pass (the size the plan timed), in the given
        order while the time allows; those not reached get `None`. When the first pass cannot run
        or finish, every program falls back to the sampled set (`None` is returned)."""
        results: list[Errors | None] = []
        slowest = 0.0
        for start in range(0, len(programs), PLANNED_PROGRAMS):
            left = self.until.left()
            if start and left - SPEED_SECONDS < 1.5 * slowest:
                break
            began = time.monotonic()
            batch, why = self._pass(programs[start : start + PLANNED_PROGRAMS], left)
            if batch is None and not start:
                self.notes.append(f"exhaustive verification did not fit the time ({why}): sampled instead")
                self._sampled(programs)
                self.kind = "sampled (the exhaustive pass ran out of time)"
                return None
            if batch is None:
                break
            results.extend(batch)
            slowest = max(slowest, time.monotonic() - began)
        return self._padded(results, len(programs), "exhaustive verification")

    def _pass(self, programs: list[Program], left: float) -> tuple[list[Errors | None] | None, str]:
        """One exhaustive pass over these programs; (None, why) when it cannot run or finish."""
        if left < MIN_EXHAUSTIVE_SECONDS:
            return None, f"{left:.0f}s were left"
        timeout = None if math.isinf(left) else EXHAUSTIVE_TIMEOUT_SHARE * left
        try:
            results, _ = verify_all(
                programs, self.request.fn, self.request.lo, self.request.hi, timeout=timeout, fmt=self.format
            )
        except subprocess.TimeoutExpired:
            return None, f"it was stopped after {timeout:.0f}s"
        return [Errors(r.max_ulp, r.max_rel_error, r.worst_x, r.points) for r in results], ""

    def _each_sampled(self, programs: list[Program]) -> list[Errors | None]:
        errors: list[Errors | None] = []
        slowest = 0.0
        for program in programs:
            if self.until.left() < 1.5 * slowest:
                break
            began = time.monotonic()
            errors.append(self.reference.measure(program.run_chunked(self.reference.x, self.format)))
            slowest = max(slowest, time.monotonic() - began)
        return self._padded(errors, len(programs), "verification")

    def _padded(self, errors: list[Errors | None], total: int, what: str) -> list[Errors | None]:
        """`errors` with `None` for the programs the time did not reach, and a note saying so."""
        if len(errors) < total:
            self.notes.append(
                f"{what} reached {len(errors)} of {total} programs by --time; the rest keep their search-grid errors"
            )
        return errors + [None] * (total - len(errors))


def _interpolated(ops: list[int], low: int, low_seconds: float, high: int, high_seconds: float) -> float:
    """The sum over programs of a time linear in the op count, through the two timed (ops, seconds)."""
    slope = max(0.0, (high_seconds - low_seconds) / (high - low)) if high > low else 0.0
    return sum(low_seconds + slope * (n - low) for n in ops)


def _sampled_stride(points: int, truth_each: float, programs_each: float, allowed: float) -> int:
    """Every how many inputs the sampled set keeps, so that its truth and the programs' measurement end
    in `allowed` seconds: 1 (all of them) when they fit; never fewer than `MIN_SAMPLED_POINTS` inputs.

    `truth_each` and `programs_each` are seconds per input (the latter for all the programs together).
    """
    estimate = points * (truth_each + programs_each)
    return max(1, min(math.ceil(estimate / max(allowed, 1e-3)), points // MIN_SAMPLED_POINTS))


def _plan(request: Request, left: float) -> tuple[float, bool]:
    """(seconds to keep for verification and speed after the search, whether to verify exhaustively).

    Exhaustive float32 verification is timed, not guessed (`exhaustive.estimate_seconds`: a
    short pass over the start of the interval, scaled, for `PLANNED_PROGRAMS` programs, with
    `ESTIMATE_MARGIN` for the load to change), and planned only when it, with the speed loops,
    fits `EXHAUSTIVE_SHARE` of the time left; otherwise the sampled set, which gets a fifth of
    the time left (8–30 s).
    """
    fmt = FORMATS[request.dtype]
    if fmt.precision <= 24 and request.exhaustive:
        try:
            verify = ESTIMATE_MARGIN * estimate_seconds(
                request.fn, request.lo, request.hi, PLANNED_PROGRAMS, fmt=request.format
            )
        except (OSError, subprocess.SubprocessError):
            verify = 6.0 + 40e-9 * count_in(request.lo, request.hi, fmt)
        seconds = verify / EXHAUSTIVE_TIMEOUT_SHARE + (SPEED_SECONDS if request.speed else 0.0)
        if math.isinf(left) or seconds <= EXHAUSTIVE_SHARE * left:
            return seconds, True
    return min(30.0, max(8.0, 0.2 * left)), False


def _reserve(
    request: Request,
    whole: float,
    exhaustive: bool,
    plain: float,
    domain: NumericsDomain,
    named: list[tuple[str, Program]],
) -> Reserve:
    """What the search leaves for verification and speed, by the claims under 1 ULP (see `reserve`).

    `whole` is the plan's reserve with `plain`, the plain-arithmetic polynomials' exhaustive pass
    at speed time, in it."""
    if not exhaustive or request.time_budget is None:
        return whole_reserve(whole)
    speed = SPEED_SECONDS if request.speed else 0.0
    score = Reference(domain.score.x, domain.score.truth, domain.format)
    grid = [score.measure(p.run(domain.score.x, domain.format)).max_ulp for _, p in named]
    costs = [domain.cost(p) for _, p in named]
    claims = sum(1 for k, e in enumerate(grid) if e < VERIFY_BELOW_ULP and not _dominated(costs, grid, k))
    per_program = max(0.0, whole - speed - plain) / PLANNED_PROGRAMS
    start = MIN_SPEED_SECONDS + 1.0 if request.speed else 0.0
    return Reserve(whole, per_program, speed + plain, claims, start)


def _claims(front: Sequence[Individual[Program]]) -> int:
    """The front's programs under 1 ULP on the search grid: each one's verification needs time."""
    return sum(1 for ind in front if ind.fitness.info.get("max_ulp", math.inf) < VERIFY_BELOW_ULP)


def discover(
    request: Request,
    observer: Callable[[EngineEvent | FrontWritten], None] | None = None,
    progress: Callable[[str], None] | None = None,
    deadline: Deadline | None = None,
) -> Report:
    """Baselines, search, verification, labels and (float32) speed, all ended by the deadline.

    `deadline` is the whole command's (the CLI's starts when its process starts); without
    one, `request.time_budget` seconds from now; `FINISH_SECONDS` of it are left to the caller.
    """
    say = progress or (lambda _: None)
    request = request.rounded()
    if deadline is None:
        deadline = Deadline.after(request.time_budget)
    until = deadline.minus(FINISH_SECONDS) if request.time_budget is not None else Deadline()
    reserve, exhaustive = _plan(request, until.left())
    domain = NumericsDomain(
        request.fn, request.lo, request.hi, request.dtype, max_cost=request.max_cost,
        cost_model_name=request.cost_model, seeds=request.seeds, arithmetic=request.arithmetic,
    )  # fmt: skip
    fmt = domain.format

    say(f"phase: baselines ({request.cost_model} cost model, cost ≤ {request.max_cost})")
    started = time.monotonic()
    named, left_out = usable_baselines(
        domain, baseline_programs(domain, say, until.minus(reserve + MIN_SEARCH_SECONDS))
    )
    extensions = textbook_programs(domain, say, until.minus(reserve + MIN_SEARCH_SECONDS))
    plain_screened: list[_PlainPolynomial] = []
    plain_seconds = 0.0
    if exhaustive and request.speed and fmt.inside:
        say("phase: baselines: the polynomials in plain float32 arithmetic")
        plain_screened = plain_arithmetic_polynomials(request, named)
        if plain_screened:  # their exhaustive pass at speed time
            plain = estimate_seconds(request.fn, request.lo, request.hi, len(plain_screened))
            plain_seconds = ESTIMATE_MARGIN * plain / EXHAUSTIVE_TIMEOUT_SHARE
            reserve += plain_seconds
    baseline_seconds = time.monotonic() - started
    say(f"phase: baselines done: {len(named)} in {baseline_seconds:.1f}s")

    search_seconds = None
    kept = _reserve(request, reserve, exhaustive, plain_seconds, domain, named)
    floor = kept.floor
    if request.time_budget is not None:
        search_seconds = until.left() - floor
        if until.left() - reserve < MIN_SEARCH_SECONDS:
            raise _too_short(request, baseline_seconds, reserve)
    config = EngineConfig(
        seed=request.seed,
        population=request.population,
        islands=request.islands,
        generations=request.generations,
        time_budget=search_seconds,
        eval_timeout=request.eval_timeout,
        workers=request.workers,
        executor=request.executor,
        address=request.address,
        archive_bins=int(request.max_cost) + 1,
        checkpoint_path=request.checkpoint,
        checkpoint_every=5,
    )
    budget = f"{search_seconds:.0f}s" if search_seconds else f"{request.generations} generations"
    if search_seconds and floor < reserve:
        budget = f"up to {search_seconds:.0f}s: it ends sooner once programs under 1 ULP need the time left"
    say(f"phase: search ({budget})")
    prover = BoundedProver(deadline=until.minus(floor))
    domain.prover = prover
    try:
        engine = Engine.continued(domain, config, observer=observer, identity=_identity(request))
        if floor < reserve:
            engine.stop_when = lambda: until.left() < kept.needed(_claims(engine.state.front))
        result = engine.run()
    finally:
        prover.close()
        domain.prover = check_program

    front_programs: list[Program] = [individual.genome for individual in result.front]
    score = Reference(domain.score.x, domain.score.truth, fmt)
    metric_of = (lambda e: e.max_ulp) if domain.metric == "max_ulp" else (lambda e: e.max_rel_error)
    named_grid = [score.measure(p.run(domain.score.x, fmt)) for _, p in named]
    front_grid = [score.measure(p.run(domain.score.x, fmt)) for p in front_programs]
    costs = [domain.cost(p) for _, p in named]
    errors_on_grid = [metric_of(e) for e in named_grid]
    # verify what a claim can rest on: baselines on their own front (within 2×) and, for float32,
    # only programs within VERIFY_BELOW_ULP on the grid (the < 1 ULP claims); the rest keep grid errors
    wanted = (lambda e: e.max_ulp < VERIFY_BELOW_ULP) if exhaustive else (lambda e: True)
    chosen = sorted(  # cheapest first: an exhaustive pass cut by the time keeps the ones claims rest on
        (k for k in range(len(named)) if not _dominated(costs, errors_on_grid, k) and wanted(named_grid[k])),
        key=lambda k: costs[k],
    )
    front_chosen = [i for i, e in enumerate(front_grid) if wanted(e)]
    to_verify = [front_programs[i] for i in front_chosen] + [named[k][1] for k in chosen]
    verifier = _Verifier(domain, request, until, exhaustive, to_verify)
    say(f"phase: verification ({verifier.kind}, {verifier.points} inputs per program)")
    measured = verifier.measure(to_verify)
    front_verified = _known(zip(front_chosen, measured[: len(front_chosen)], strict=True))
    verified_by_index = _known(zip(chosen, measured[len(front_chosen) :], strict=True))
    front_errors = [front_verified.get(i, front_grid[i]) for i in range(len(front_programs))]
    front_kinds = [
        verifier.kind if i in front_verified else "search grid" for i in range(len(front_programs))
    ]
    baselines: list[BaselineEntry] = []
    for k, (name, program) in enumerate(named):
        errors = verified_by_index.get(k, named_grid[k])
        kind = verifier.kind if k in verified_by_index else "search grid"
        baselines.append(
            BaselineEntry(
                name, costs[k], errors.max_ulp, errors.max_rel_error, program.cost(), kind, program.text()
            )
        )
    comparable = [Measured(b.name, b.cost, metric_of(b)) for b in baselines]
    textbook = comparable + [
        Measured(name, domain.cost(p), metric_of(score.measure(p.run(domain.score.x, fmt))))
        for name, p in extensions
    ]
    seed_keys = (
        {canonical_key(p.prune(), frozenset()) for p in domain.initial_genomes(numpy.random.default_rng(0))}
        if request.seeds
        else set()
    )

    front_costs = [domain.cost(p) for p in front_programs]
    novel = [
        label(metric_of(e), cost, canonical_key(p.prune(), frozenset()) in seed_keys, comparable).origin
        == "novel"
        for p, e, cost in zip(front_programs, front_errors, front_costs, strict=True)
    ]
    shown = worth_showing(
        front_costs, [metric_of(e) for e in front_errors], [e.max_rel_error for e in front_errors], novel
    )
    individuals = [result.front[i] for i in shown.kept]
    front_programs = [front_programs[i] for i in shown.kept]
    front_errors = [front_errors[i] for i in shown.kept]
    front_kinds = [front_kinds[i] for i in shown.kept]

    out_dir = request.out_dir
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    code_files: dict[Path, str] = {}
    front: list[FrontEntry] = []
    for individual, program, errors, kind in zip(
        individuals, front_programs, front_errors, front_kinds, strict=True
    ):
        cost, ops = domain.cost(program), program.cost()
        is_seed = canonical_key(program.prune(), frozenset()) in seed_keys
        mark = label(metric_of(errors), cost, is_seed, comparable)
        beyond = label(metric_of(errors), cost, is_seed, textbook) if extensions else None
        header = _header(request, cost, ops, errors, kind, program)
        c_code = c_source(
            program, request.fn, request.lo, request.hi, request.dtype, header, request.arithmetic
        )
        numpy_code = numpy_source(
            program, request.fn, request.lo, request.hi, request.dtype, header, request.arithmetic
        )
        c_path = numpy_path = None
        if out_dir is not None:
            stem = f"{request.fn}_{request.dtype}_cost{cost:g}"
            c_path, numpy_path = out_dir / f"{stem}.c", out_dir / f"{stem}.py"
            code_files.update({c_path: c_code, numpy_path: numpy_code})
        front.append(
            FrontEntry(
                cost=cost,
                ops=ops,
                max_ulp=errors.max_ulp,
                max_rel_error=errors.max_rel_error,
                verified=kind,
                search_max_ulp=float(individual.fitness.info.get("max_ulp", math.nan)),
                program=program.text(),
                c_code=c_code,
                numpy_code=numpy_code,
                origin=mark.origin,
                baseline=mark.baseline,
                baseline_error=mark.baseline_error,
                margin=mark.margin,
                textbook=beyond.baseline if beyond else None,
                textbook_margin=beyond.margin if beyond else None,
                c_path=str(c_path) if c_path else None,
                numpy_path=str(numpy_path) if numpy_path else None,
            )
        )
    if out_dir is not None:
        write_front(code_files)
        if observer is not None:
            observer(FrontWritten(out_dir, tuple(code_files)))
    order = sorted(range(len(front)), key=lambda i: front[i].cost)
    front = [front[i] for i in order]
    front_programs = [front_programs[i] for i in order]
    say(f"phase: verification done in {verifier.seconds:.1f}s")

    speed: list[Speed] = []
    notes = left_out + verifier.notes + ([shown.note] if shown.note else [])
    if fmt.precision <= 24 and request.speed and verifier.exhaustive:
        speed = _measure_speed(
            request, front, front_programs, baselines, named, say, until, notes, plain_screened
        )
    return Report(
        fn=request.fn,
        lo=request.lo,
        hi=request.hi,
        dtype=request.dtype,
        arithmetic=fmt.arithmetic.name,
        seed=request.seed,
        front=front,
        baselines=baselines,
        stats=result.stats,
        z3=domain.tally,
        verification_points=verifier.points,
        cost_model=request.cost_model,
        metric=domain.metric,
        seeds=request.seeds,
        cache=domain.cache,
        verification=verifier.kind,
        verification_seconds=verifier.seconds,
        baseline_seconds=baseline_seconds,
        speed=speed,
        out_dir=str(out_dir) if out_dir else None,
        notes=notes,
    )


def _identity(request: Request) -> dict[str, object]:
    """What a checkpoint's population depends on: another value makes its fitnesses meaningless."""
    keys = (
        "fn",
        "lo",
        "hi",
        "dtype",
        "arithmetic",
        "max_cost",
        "cost_model",
        "seeds",
        "population",
        "islands",
    )
    return {key: getattr(request, key) for key in keys}


def _known(pairs: Iterable[tuple[int, Errors | None]]) -> dict[int, Errors]:
    """The verified errors by index, leaving out the programs the time did not reach."""
    return {index: errors for index, errors in pairs if errors is not None}


def _too_short(request: Request, baseline_seconds: float, reserve: float) -> NumericsInputError:
    return NumericsInputError(
        f"--time {request.time_budget:g}s does not leave {MIN_SEARCH_SECONDS:g}s for the search after the "
        f"baselines ({baseline_seconds:.0f}s so far) and verification (~{reserve:.0f}s); give more time"
    )


def _is_polynomial(name: str) -> bool:
    """Taylor's and the minimax polynomials (plain, factored, odd and even); not rationals."""
    rest = name.removeprefix("minimax-")
    return name.startswith("taylor-") or (
        name.startswith("minimax-") and "rational" not in rest and not rest.startswith("symmetric")
    )


def _measure_speed(
    request: Request,
    front: list[FrontEntry],
    programs: list[Program],
    baselines: list[BaselineEntry],
    named: list[tuple[str, Program]],
    say: Callable[[str], None],
    until: Deadline,
    notes: list[str],
    plain_screened: list[_PlainPolynomial],
) -> list[Speed]:
    """Loops of every exhaustively verified front program under 1 ULP, the best baseline polynomial, glibc, NumPy.

    With a wider arithmetic inside, the format's own arithmetic gets its say too: the cheapest
    baseline polynomial under 1 ULP in plain float32 (where there is one, as for exp2 on [0, 1])
    is timed beside the double-inside one, and the faster of them is "the best baseline polynomial".
    """
    candidates = [
        (f"front cost {e.cost:g}", p, e)
        for e, p in zip(front, programs, strict=True)
        if e.max_ulp < 1 and e.verified == "exhaustive"
    ]
    if not candidates:
        say("phase: speed skipped: no exhaustively verified front program under 1 ULP")
        return []
    loops = [_Loop(name, p, "front", entry.max_ulp, entry.origin) for name, p, entry in candidates]
    polynomials = [
        b for b in baselines if _is_polynomial(b.name) and b.verified == "exhaustive" and b.max_ulp < 1
    ]
    if polynomials:
        best_poly = min(polynomials, key=lambda b: (b.cost, b.max_ulp))
        loops.append(
            _Loop(best_poly.name, dict(named)[best_poly.name], "baseline", best_poly.max_ulp, "baseline")
        )
    formats: dict[str, Format] = {}
    if request.format.inside:
        say("phase: speed: the float32-arithmetic baseline polynomials, on every float")
        plain = _plain_arithmetic_polynomial(request, plain_screened, until, notes)
        if plain is not None:
            loops.append(plain)
            formats[plain.name] = FORMATS[request.dtype]
    left = until.left()
    if left < MIN_SPEED_SECONDS:
        notes.append(f"speed not measured: {left:.0f}s were left")
        say("phase: speed skipped: no time left")
        return []
    say(f"phase: speed ({len(loops)} loops + glibc + NumPy over 2^24 inputs)")
    try:
        # NumPy's loop runs after the C ones, in this process: keep it a share of the time
        timeout = None if math.isinf(left) else 0.7 * left
        timings = measure_speed(
            [(loop.name, loop.program) for loop in loops], request.fn, request.lo, request.hi,
            timeout=timeout, fmt=request.format, formats=formats,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        notes.append("speed not measured: the timing loops did not finish by --time")
        say("phase: speed stopped at the deadline")
        return []
    result: list[Speed] = []
    for k, timing in enumerate(timings):
        if k < len(loops):
            loop = loops[k]
            result.append(Speed(timing.name, timing.ns, timing.spread, loop.kind, loop.max_ulp, loop.origin))
        else:
            kind = "glibc" if timing.name.startswith("glibc") else "numpy"
            result.append(Speed(timing.name, timing.ns, timing.spread, kind))
    return result


@dataclass(frozen=True)
class _Loop:
    """A program to time, and what it stands for in the comparison."""

    name: str
    program: Program
    kind: str  # "front" or "baseline"
    max_ulp: float
    origin: str


@dataclass(frozen=True)
class _PlainPolynomial:
    """A baseline polynomial refitted in the format's own arithmetic, under 1 ULP on the search grid."""

    cost: float
    name: str
    program: Program


def plain_arithmetic_polynomials(
    request: Request, named: list[tuple[str, Program]]
) -> list[_PlainPolynomial]:
    """Double inside: the cheapest minimax polynomials that are under 1 ULP in plain float32 too.

    The double-inside polynomials are refitted with float32 arithmetic (the same LP and
    rounding-aware polish a float32 run gives its baselines) and screened on the search grid (a
    grid error ≥ 1 ULP is ≥ 1 ULP everywhere); the `PLAIN_VERIFIED` cheapest survivors are kept
    for an exhaustive pass at speed time. Screened before the search, so that the plan keeps
    time for that pass only where there is something to verify (exp2 on [0, 1]; none of
    log, log2, erf, sin has one).
    """
    domain = NumericsDomain(
        request.fn, request.lo, request.hi, request.dtype, max_cost=SPEED_POLYNOMIAL_COST,
        cost_model_name=request.cost_model,
    )  # fmt: skip
    fmt = domain.format
    screened: list[_PlainPolynomial] = []
    for name, program in named:
        if not (name.startswith("minimax-") and _is_polynomial(name)):
            continue
        refit = domain.fitted(program)
        if measure(domain.score.x, refit.run(domain.score.x, fmt), domain.score.truth, fmt).max_ulp < 1:
            screened.append(_PlainPolynomial(domain.cost(refit), name, refit))
    return sorted(screened, key=lambda p: p.cost)[:PLAIN_VERIFIED]


def _plain_arithmetic_polynomial(
    request: Request, screened: list[_PlainPolynomial], until: Deadline, notes: list[str]
) -> _Loop | None:
    """The cheapest screened plain-float32 polynomial that is under 1 ULP on every float."""
    if not screened:
        return None
    left = until.left()
    try:
        timeout = None if math.isinf(left) else max(1.0, 0.8 * (left - MIN_SPEED_SECONDS))
        results, _ = verify_all(
            [p.program for p in screened], request.fn, request.lo, request.hi, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        notes.append("the float32-arithmetic baseline polynomials were not verified in time: not timed")
        return None
    for plain, verified in zip(screened, results, strict=True):
        if verified.max_ulp < 1:
            return _Loop(
                f"{plain.name} in float32 arithmetic", plain.program, "baseline", verified.max_ulp, "baseline"
            )
    return None


def point_renderer(request: Request) -> Callable[[Individual[Program]], PointRecord]:
    """How a Pareto point of this search is kept in git: its program and its C code."""
    request = request.rounded()

    def render(individual: Individual[Program]) -> PointRecord:
        program = individual.genome
        info = individual.fitness.info
        cost = float(info.get("cost", program.cost()))
        ulp, rel = float(info.get("max_ulp", math.nan)), float(info.get("max_rel_error", math.nan))
        header = (
            f"{request.fn}(x) on [{request.lo!r}, {request.hi!r}] in {request.label}: cost {cost:g} "
            f"({request.cost_model}), {program.cost()} ops, "
            f"{ulp:.4g} ULP on the search grid (not yet verified).\n" + program.text()
        )
        code = c_source(
            program, request.fn, request.lo, request.hi, request.dtype, header, request.arithmetic
        )
        return PointRecord(
            idea=f"cost {cost:g}: {ulp:.4g} ULP, {rel:.3e} relative (search grid)",
            files={"program.txt": program.text() + "\n", f"{request.fn}_{request.dtype}.c": code},
            metrics={"max_ulp": ulp, "max_rel_error": rel, "cost": float(cost)},
        )

    return render
