"""A metric value that knows its direction; a failure is the worst value.

With `MetricValue`, "best" is a plain `max(...)` whether the metric is minimised
or maximised, and nobody writes `if maximize … else …` twice.
"""

from __future__ import annotations

import enum
import functools
import math
from dataclasses import dataclass, field


class Direction(enum.StrEnum):
    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"

    def improvement(self, new: float, old: float) -> float:
        """How much better `new` is than `old` (positive = better), in the metric's units."""
        return new - old if self is Direction.MAXIMIZE else old - new


def compared(improvement: float, reference: str) -> str:
    """An improvement in words ("0.3 better than experiment 0"): a signed delta reads wrongly for a
    metric to minimise, where better means a lower value."""
    if improvement == 0:
        return f"same as {reference}"
    return f"{abs(improvement):.6g} {'better' if improvement > 0 else 'worse'} than {reference}"


@functools.total_ordering
@dataclass(frozen=True)
class MetricValue:
    """`value` None (or not finite) means "no score": worse than any real score.

    Its place in the order (`rank`) is worked out once, when the value is made: "best" is a `max`
    over every experiment at each step of a run, and `nlargest` and `max` compare each value
    several times, so working it out at each comparison (two `_key` and two `is_worst` calls a
    comparison) made ~690,000 calls in a run of 300 experiments, seven times those of 100.
    """

    value: float | None
    direction: Direction
    rank: float = field(init=False, repr=False, compare=False)
    """The value as "higher is better" (negated when minimised); -inf for no score."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "rank", self._key())

    @property
    def is_worst(self) -> bool:
        return self.value is None or not math.isfinite(self.value)

    def _key(self) -> float:
        if self.is_worst:
            return -math.inf
        assert self.value is not None
        return self.value if self.direction is Direction.MAXIMIZE else -self.value

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, MetricValue):
            return NotImplemented
        return self.rank < other.rank

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MetricValue):
            return NotImplemented
        return self.rank == other.rank

    def __hash__(self) -> int:
        return hash(self.rank)

    def __str__(self) -> str:
        return "—" if self.is_worst else f"{self.value:.6g}"
