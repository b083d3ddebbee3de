"""How long to wait before retrying a model call: exponential backoff with full jitter.

A server's own `Retry-After` (or OpenAI's `retry-after-ms`) wins over our guess,
capped so that a hostile or confused server cannot park the run for hours.
Written by hand because it is ten lines of arithmetic that must be deterministic
under a seeded `random.Random` in tests; a retry library would hide the clock.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class Backoff:
    """Delay before retry `attempt` (1 = the first retry): uniform in [base·2^(a-1)/2, base·2^(a-1)]."""

    base: float = 1.0
    cap: float = 30.0
    retry_after_cap: float = 120.0

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return max(0.0, min(retry_after, self.retry_after_cap))
        ceiling = min(self.cap, self.base * 2 ** max(0, attempt - 1))
        return ceiling / 2 + rng.random() * ceiling / 2


def retry_after_seconds(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait: `retry-after-ms`, or `retry-after` in seconds or as a date."""
    if not headers:
        return None
    lowered = {key.lower(): value for key, value in headers.items()}
    if (value := lowered.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    import time

    return max(0.0, when.timestamp() - (now if now is not None else time.time()))
