"""What a discovery run reports: its front (each point with its origin and margin), the baselines
on the same inputs, the speed loops, and the notes on what the deadline cut; as data and as JSON.

Kept apart from the run itself so that the CLI, the benchmarks and tests read one typed report.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from agent.domains.numerics.domain import CacheTally, Z3Tally
from agent.domains.numerics.origins import PROVISIONAL, TOLERANCE, Measured, strongest
from agent.domains.numerics.targets import FORMATS, Format
from agent.evolution import EngineStats


@dataclass(frozen=True)
class FrontEntry:
    cost: float  # under the report's cost model
    ops: int  # plain operation count (an fma is 1)
    max_ulp: float  # on the verification set
    max_rel_error: float
    verified: str  # "exhaustive" (every float32 of the interval, in C), "sampled" (…), or "search grid"
    search_max_ulp: float  # on the search grid
    program: str
    c_code: str
    numpy_code: str
    origin: str = "evolved"
    baseline: str | None = None  # the strongest baseline at the same or lower cost
    baseline_error: float | None = None
    margin: float | None = None  # baseline error / this error
    unconfirmed: str | None = None  # origin `novel?`: which side rests on less than the full verification set
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
    def provisional(self) -> list[FrontEntry]:
        """Front points better than every baseline at ≤ their cost only on sampled or search-grid
        errors (origin `novel?`): unconfirmed, not discoveries (see `origins`)."""
        return [entry for entry in self.front if entry.origin == PROVISIONAL]

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
            "provisional": len(self.provisional),
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


SPEED_TIE = 0.05  # loops within 5% of each other's best time are a tie


def _verdict(other: Speed, ours: Speed) -> str:
    ratio = other.ns / ours.ns
    if ratio > 1 + SPEED_TIE:
        return "faster"
    if ratio < 1 / (1 + SPEED_TIE):
        return "slower"
    return "tie"
