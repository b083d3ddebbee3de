"""A numerics request: which function, interval, format and budget, checked before anything runs.

Every way a request can be wrong (an unknown function, an interval outside its domain or across
a pole, ends the format cannot hold, a budget too small) is one `NumericsInputError` line here,
so the CLI, the benchmarks and the nightly jobs refuse the same things the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy

from agent.domains.numerics.costmodel import MODELS
from agent.domains.numerics.points import count_in
from agent.domains.numerics.targets import FORMATS, TARGETS, Format, Target
from agent.errors import UserError

MAX_SEED = 2**32 - 1  # as `strop evolve quant` takes: one range for both commands


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
        self._check_search()
        if math.isnan(self.lo) or math.isnan(self.hi):
            raise NumericsInputError(f"the interval [{self.lo}, {self.hi}] has an end that is not a number")
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
        if not math.isfinite(hi - lo):  # the sample grids spread points as lo + (hi − lo)·t in double
            raise NumericsInputError(
                f"the interval [{self.lo}, {self.hi}] is too wide: its width hi − lo overflows float64 "
                f"(largest {float(numpy.finfo(numpy.float64).max):.4g}), and the sample points are spread "
                "over that width: narrow it"
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
        if target.cusp is not None and lo <= target.cusp <= hi:
            raise NumericsInputError(
                f"{self.fn} has an infinite slope at {target.cusp:g}, inside [{self.lo}, {self.hi}]: no polynomial "
                "or rational program keeps its relative error bounded there (the search found nothing); "
                f"give an interval on one side of it, e.g. [0.125, 1], as libm does after range reduction"
            )
        largest = _largest_value(target, lo, hi, fmt)
        if not largest <= float(numpy.finfo(fmt.dtype).max):
            raise NumericsInputError(
                f"{self.fn} overflows {self.dtype} on [{self.lo}, {self.hi}] (|{self.fn}(x)| reaches "
                f"{largest:.3g}): no {self.dtype} program can approximate it there"
            )
        beyond = _beyond_the_format(self, lo, hi)
        if beyond:
            raise NumericsInputError(beyond)
        if not 1 <= self.max_cost <= 24:
            raise NumericsInputError("max cost must be between 1 and 24")
        if self.cost_model not in MODELS:
            raise NumericsInputError(
                f"unknown cost model {self.cost_model!r}; choose one of {', '.join(MODELS)}"
            )

    def _check_search(self) -> None:
        """The engine's shape and budget, checked before any work: the baselines take seconds, and an
        engine setting refused only after them cost that time and, with a short --time, read as a
        --time that was too short."""
        if self.time_budget is None and self.generations is None:
            raise NumericsInputError("give a time budget or a number of generations")
        if self.generations is not None and self.generations < 0:
            raise NumericsInputError(f"--generations must be 0 or more, not {self.generations}")
        if not 0 <= self.seed <= MAX_SEED:  # numpy's generators refuse a negative seed, after the baselines
            raise NumericsInputError(
                f"--seed must be an integer from 0 to {MAX_SEED:,} (2^32 − 1), got {self.seed}"
            )
        if self.population < 1:
            raise NumericsInputError(
                f"--population must be at least 1 (programs per island), not {self.population}"
            )
        if self.islands < 1:
            raise NumericsInputError(f"--islands must be at least 1, not {self.islands}")
        if self.workers < 0:
            raise NumericsInputError(
                f"--workers must be 0 (evaluate inline) or a number of processes, not {self.workers}"
            )


PERIODIC = {"sin": 2 * math.pi, "cos": 2 * math.pi, "tan": math.pi}  # each function's period


def _beyond_the_format(request: Request, lo: float, hi: float) -> str | None:
    """Why no program of this search can approximate f on [lo, hi] in the format, or None.

    Two grounds, each a property of the format, not of a search that ran: a periodic f whose
    inputs lie more than half a period apart there (neighbouring floats fall at unrelated phases:
    no polynomial or rational follows that), and an interval where x·x overflows the arithmetic
    (every baseline and seed past cost 1 is a polynomial or rational in powers of x). sin on
    [-1e30, 1e30] ran 25 s to an empty front with 37 "baseline left out" notes.
    """
    fn, dtype = request.fn, request.dtype
    reach = max(abs(lo), abs(hi))
    period = PERIODIC.get(fn)
    gap = float(numpy.spacing(FORMATS[dtype].dtype(reach)))
    if period is not None and gap > period / 2:
        return (
            f"{fn} on [{request.lo}, {request.hi}]: {dtype} numbers there lie up to {gap:.3g} apart, more "
            f"than half of {fn}'s period ({period / 2:.4g}), so neighbouring inputs fall at unrelated phases "
            "and no polynomial or rational program follows it: reduce the argument first, as libm does "
            f"(e.g. to [-{math.pi / 4:.4g}, {math.pi / 4:.4g}])"
        )
    arithmetic = request.format.arithmetic
    largest = float(numpy.finfo(arithmetic.dtype).max)
    if reach * reach > largest:
        return (
            f"{fn} on [{request.lo}, {request.hi}]: x·x overflows {arithmetic.name} past |x| = "
            f"{math.sqrt(largest):.3g}, and every baseline and seed program past cost 1 is a polynomial "
            "or rational in powers of x, so none can be evaluated there: narrow the interval"
        )
    return None


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
