"""The allowance: what a run's token and cost budgets still allow its model calls, shared by its lanes.

The budget is checked from the records (`agent.budget`), but a model call's tokens reach a
record only when its experiment is committed. With parallel lanes every lane planned its
call against the same remainder and calls in flight were not counted: with `tokens = 3000`
four lanes spent 7,600. So every call *holds* its worst case (prompt estimate plus its
`max_tokens`, and what that costs) from the allowance before it is sent, and when it ends
gives back what it did not spend. A call that needs more than the others leave waits for
them to end rather than plan against tokens they may spend; once none is in flight, it gets
what is left, and the client refuses it ("not sent") when that cannot pay for a short answer.
The overshoot is then at most one call's estimate error, as with one lane.

One allowance lives for one `propose` step of the loop (made from the records when it
begins); thread-safe, as the lanes' calls run in threads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from agent.deadline import Deadline
from agent.records import Cost

WAIT_SLICE = 0.25  # seconds between looks at the deadline while waiting for other calls


@dataclass(frozen=True)
class Hold:
    """What one call may spend: `None` where that budget has no limit."""

    tokens: int | None
    usd: float | None


class Allowance:
    """Tokens and dollars left (`None`: no such budget), less what calls hold or spent since."""

    def __init__(self, tokens: int | None, usd: float | None) -> None:
        self._tokens = tokens
        self._usd = usd
        self._held_tokens = 0
        self._held_usd = 0.0
        self._holds = 0
        self._changed = threading.Condition()

    def left(self) -> Hold:
        """What is neither spent nor held now."""
        with self._changed:
            return self._left()

    def _left(self) -> Hold:
        tokens = None if self._tokens is None else max(0, self._tokens - self._held_tokens)
        usd = None if self._usd is None else max(0.0, self._usd - self._held_usd)
        return Hold(tokens, usd)

    def hold(self, tokens: int, usd: float, deadline: Deadline | None = None) -> Hold:
        """Set aside a call's worst case, `tokens` and `usd`; the `Hold` is what the call may spend.

        While other calls hold part of what this one needs, wait for them (until `deadline`):
        what they give back may pay for it. Then hold what is wanted, or all that is left.
        """
        deadline = deadline or Deadline()
        with self._changed:
            while self._holds and not self._covers(tokens, usd) and not deadline.expired():
                self._changed.wait(min(WAIT_SLICE, deadline.left()))
            left = self._left()
            held = Hold(
                None if left.tokens is None else min(tokens, left.tokens),
                None if left.usd is None else min(usd, left.usd),
            )
            self._held_tokens += held.tokens or 0
            self._held_usd += held.usd or 0.0
            self._holds += 1
            return held

    def _covers(self, tokens: int, usd: float) -> bool:
        left = self._left()
        return (left.tokens is None or left.tokens >= tokens) and (left.usd is None or left.usd >= usd)

    def settle(self, held: Hold, spent: Cost | None) -> None:
        """The call that held `held` ended having spent `spent`: the rest is free again."""
        with self._changed:
            self._held_tokens -= held.tokens or 0
            self._held_usd -= held.usd or 0.0
            self._holds -= 1
            self._spend(spent)
            self._changed.notify_all()

    def charge(self, spent: Cost | None) -> None:
        """Tokens spent outside a hold (the endpoint probe)."""
        with self._changed:
            self._spend(spent)
            self._changed.notify_all()

    def _spend(self, spent: Cost | None) -> None:
        if spent is None:
            return
        if self._tokens is not None:
            self._tokens -= spent.tokens
        if self._usd is not None:
            self._usd -= spent.usd
