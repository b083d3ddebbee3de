"""How much of the budget the search leaves for what comes after it, decided as it goes.

Exhaustive float32 verification and the speed loops are for programs under 1 ULP, so the
time kept for them is needed only by the programs that claim it: the baselines under 1 ULP on
the search grid, known before the search, and the front's, known only as it runs. Kept whole
from the start, that time sat unused whenever nothing got under 1 ULP (a 40 s log2 search got
16 s; its verification took 0.4 s and the command ended at 21 s). Now the search stops once the
time left is what its current claims need, and otherwise runs on to a floor that still verifies
two new claims and starts the speed loops.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reserve:
    """Seconds the search leaves after it: `per_program` to verify each claim, `after_claims` for
    the speed loops (and the plain-arithmetic polynomials they time) once the front has a claim."""

    whole: float  # what the plan kept up front: the search never needs to leave more
    per_program: float
    after_claims: float
    baseline_claims: int
    start_speed: float  # the least the speed loops start with

    def needed(self, front_claims: int) -> float:
        """What verification and speed need for these claims: stop the search when this is left."""
        claims = self.baseline_claims + front_claims
        return min(self.whole, self.per_program * claims + (self.after_claims if front_claims else 0.0))

    @property
    def floor(self) -> float:
        """The search's hard end: time to verify the baselines' claims and two new ones, and start speed."""
        return min(self.whole, self.per_program * (self.baseline_claims + 2) + self.start_speed)


def whole_reserve(seconds: float) -> Reserve:
    """A reserve the search always leaves whole (sampled verification, or no time budget)."""
    return Reserve(seconds, 0.0, 0.0, 0, seconds)
