"""Verifying the front and the baselines on the same inputs, by the deadline: every float32 of the
interval in C, or a stated sample (float64, or float32 when the exhaustive pass does not fit),
thinned when the time is short; what was cut is said in the notes.
"""

from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Sequence

import numpy

from agent.deadline import Deadline
from agent.domains.numerics.domain import NumericsDomain
from agent.domains.numerics.exhaustive import verify_all
from agent.domains.numerics.measure import Errors, Reference
from agent.domains.numerics.points import count_in, edge_points, verification_points
from agent.domains.numerics.program import Program
from agent.domains.numerics.request import Request

MIN_EXHAUSTIVE_SECONDS = 5.0  # below this the exhaustive pass is not tried: the sampled set instead
PLANNED_PROGRAMS = 6  # float32 programs an exhaustive pass is planned for (those under 1 ULP on the grid)
SPEED_SECONDS = 15.0  # kept for the speed loops after an exhaustive pass
MIN_SAMPLED_POINTS = 4096  # a thinned sampled set keeps at least this many inputs
SAMPLED_SHARE = 0.75  # of the time left once the points are drawn: their truth and every program on them
PROBE_POINTS = 1 << 16  # inputs a program is timed on for the estimate (one `run_chunked` chunk)
EXHAUSTIVE_TIMEOUT_SHARE = 0.8  # of the time left at verification, the exhaustive pass's limit
# float32: programs under 1 ULP on the search grid are verified exhaustively first: the grid is a
# subset of the interval, so a program at ≥ 1 ULP there is ≥ 1 ULP everywhere and no < 1 ULP claim
# rests on it. The others are verified after them while the time allows (`measure_if_time`): a grid
# maximum reads low (log2 on [1, 2]: 4.207 ULP on the grid, 4.763 on every float).
VERIFY_BELOW_ULP = 1.0


class Verifier:
    """Measures programs on the verification set: every float32 in C, or float64 sampled, by `until`.

    The exhaustive pass is tried only when planned (`discovery._plan`) and `MIN_EXHAUSTIVE_SECONDS` are
    left; it may use `EXHAUSTIVE_TIMEOUT_SHARE` of the time left, and past that the run falls back
    to the sampled set and says so. The sampled reference is thinned when its truth would
    not be ready, with every program measured on it, in `SAMPLED_SHARE` of the time left
    (erf's float64 truth is mpmath, ~50 µs a point; see `_sampled_stride`); programs are then
    measured one by one while the time allows, and those left over keep their search-grid
    errors (`None` here). `programs` are those `measure` will be given, for that estimate; the first
    `front` of them (all when None) are front programs, the only ones the speed loops time.
    """

    def __init__(
        self,
        domain: NumericsDomain,
        request: Request,
        until: Deadline,
        exhaustive: bool,
        programs: Sequence[Program] = (),
        front: int | None = None,
    ) -> None:
        self.domain, self.request, self.until = domain, request, until
        self.front = front
        self.format = domain.format
        self.exhaustive = exhaustive
        self.seconds = 0.0
        self.slowest = 0.0  # the longest exhaustive pass so far, to judge whether another fits
        self.notes: list[str] = []
        if self.exhaustive:
            self.points = count_in(request.lo, request.hi, self.format)
            self.kind = "exhaustive"
        else:
            self._sampled(programs)

    def _sampled(self, programs: Sequence[Program] = ()) -> None:
        started = time.monotonic()
        x = verification_points(self.request.lo, self.request.hi, self.format, self.domain.zeros)
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
            # the edges stay whole: a stride steps over the smallest inputs, where errors peak
            edges = edge_points(self.request.lo, self.request.hi, self.format, self.domain.zeros)
            x = numpy.unique(numpy.concatenate([x[::stride], x[-1:], edges]))
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
        front = len(programs) if self.front is None else self.front
        for start in range(0, len(programs), PLANNED_PROGRAMS):
            left = self.until.left()
            keep = SPEED_SECONDS if _speed_ahead(self.request.speed, results, front, start) else 0.0
            if start and left - keep < 1.5 * slowest:
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
        self.slowest = max(self.slowest, slowest)
        return self._padded(results, len(programs), "exhaustive verification")

    def measure_if_time(self, programs: list[Program], keep: float) -> list[Errors | None]:
        """Exhaustive errors of `programs` (in order) while the time left beyond `keep` allows another
        pass; `None` for the rest, which keep their search-grid errors (said in the report's summary).

        For the programs at or above 1 ULP, verified after the claims: the time a run ended early with
        is spent making their printed errors every float's rather than the grid's.
        """
        if not self.exhaustive or not programs:
            return [None] * len(programs)
        started = time.monotonic()
        results: list[Errors | None] = []
        for start in range(0, len(programs), PLANNED_PROGRAMS):
            left = self.until.left() - keep
            if left < MIN_EXHAUSTIVE_SECONDS or left < 1.5 * self.slowest:
                break
            began = time.monotonic()
            batch, _ = self._pass(programs[start : start + PLANNED_PROGRAMS], left)
            if batch is None:
                break
            results.extend(batch)
            self.slowest = max(self.slowest, time.monotonic() - began)
        self.seconds += time.monotonic() - started
        return results + [None] * (len(programs) - len(results))

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


def _speed_ahead(speed: bool, results: Sequence[Errors | None], front: int, start: int) -> bool:
    """Whether the speed loops will run after this pass, so its later batches keep `SPEED_SECONDS`:
    they time front programs verified under 1 ULP, and once every front program is verified with
    none under it, the speed phase is skipped (a run ended at 46 s of 75 holding 15 s for it)."""
    if not speed:
        return False
    if start < front:  # a front program not verified yet may be under 1 ULP
        return True
    return any(r is not None and r.max_ulp < VERIFY_BELOW_ULP for r in results[:front])


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
