"""The evolution engine's evaluations on a Ray cluster: `EvaluationPool`'s contract, remotely.

Same promises as the local pool (`agent.evolution.pool`): outcomes come back in
submission order whatever order they finish in (so a seeded search is the same
search on any executor), a candidate past its time limit gets no fitness (its task
is cancelled with force, which kills the worker process running it), and a worker
that dies is `crashed`. On Ray a genome whose worker or node died is first submitted
again (`retries` times, by the pool rather than Ray: see `lost_under`); a genome that
still has no answer is `crashed` with the reason.

The domain object travels once (`ray.put`); each genome is one task asking for one
CPU. At most `workers` tasks are in flight (0: as many as the cluster has CPUs), so
a time limit counts from when a task could start, not from when it was queued; it
does include a fresh worker's start-up (a second or more on a loaded node), so give
Ray runs a time limit with some slack.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from agent.evolution.pool import DeadlineReached, Outcome
from agent.executors.cluster import ClusterGone, connect, gcs_address, head_reachable, lost_under
from agent.executors.remote import evaluate_genome
from agent.executors.spec import DEFAULT_RETRIES

WAIT_SLICE = 0.5


class RayPool:
    """Evaluates genomes for one domain on a Ray cluster; see the module docstring."""

    def __init__(
        self,
        domain: Any,
        workers: int,
        timeout: float | None,
        address: str = "auto",
        retries: int = DEFAULT_RETRIES,
    ) -> None:
        self.ray = connect(address)
        self.gcs = gcs_address(self.ray)
        self.domain_ref = self.ray.put(domain)
        cpus = int(self.ray.cluster_resources().get("CPU", 1))
        self.size = workers if workers > 0 else max(1, cpus)
        self.timeout = timeout
        self.retries = retries
        self._task = self.ray.remote(evaluate_genome).options(num_cpus=1, max_retries=0)

    def __enter__(self) -> RayPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def evaluate_all(self, genomes: Sequence[Any], deadline: float | None = None) -> list[Outcome]:
        """Evaluate every genome; outcomes in submission order. Raises DeadlineReached past `deadline`."""
        outcomes: list[Outcome | None] = [None] * len(genomes)
        pending = deque(range(len(genomes)))
        tries = [0] * len(genomes)
        busy: dict[Any, tuple[int, float]] = {}
        try:
            while pending or busy:
                while pending and len(busy) < self.size:
                    index = pending.popleft()
                    tries[index] += 1
                    busy[self._task.remote(self.domain_ref, genomes[index])] = (index, time.perf_counter())
                if deadline is not None and time.time() >= deadline:
                    raise DeadlineReached
                ready, _ = self.ray.wait(list(busy), num_returns=1, timeout=self._wait_for(busy, deadline))
                for ref in ready:
                    index, started = busy.pop(ref)
                    outcome = self._outcome(ref, started, tries[index])
                    if outcome is None:  # its worker or node was lost: again, at the front
                        pending.appendleft(index)
                    else:
                        outcomes[index] = outcome
                self._expire(busy, outcomes)
                if busy and not ready and not self._alive():
                    raise ClusterGone(f"the Ray cluster at {self.gcs} stopped answering")
        except BaseException:
            for ref in busy:
                self._cancel(ref)
            raise
        return [outcome for outcome in outcomes if outcome is not None]

    def _wait_for(self, busy: dict[Any, tuple[int, float]], deadline: float | None) -> float:
        wait = WAIT_SLICE
        if self.timeout:
            now = time.perf_counter()
            wait = min([wait, *(started + self.timeout - now for _, started in busy.values())])
        if deadline is not None:
            wait = min(wait, deadline - time.time())
        return max(wait, 0.0)

    def _outcome(self, ref: Any, started: float, tries: int) -> Outcome | None:
        """The genome's outcome; None when its worker or node was lost and a try is left."""
        seconds = time.perf_counter() - started
        try:
            status, result, used, error = self.ray.get(ref)
        except Exception as error:  # noqa: BLE001 - a lost worker or node is this genome's outcome
            if not self._alive():
                raise ClusterGone(f"the Ray cluster at {self.gcs} stopped answering") from None
            if lost_under(self.ray, error) and tries <= self.retries:
                return None
            first = next((line for line in str(error).splitlines() if line.strip()), "")[:160]
            return Outcome("crashed", None, seconds, f"lost after {tries} attempt(s): {first}")
        return Outcome(status, result, used, error)

    def _expire(self, busy: dict[Any, tuple[int, float]], outcomes: list[Outcome | None]) -> None:
        if not self.timeout:
            return
        now = time.perf_counter()
        for ref, (index, started) in list(busy.items()):
            if now - started >= self.timeout:
                self._cancel(ref)
                outcomes[index] = Outcome("timeout", None, now - started, f"over {self.timeout:g}s")
                del busy[ref]

    def _alive(self) -> bool:
        return not self.gcs or head_reachable(self.gcs) or head_reachable(self.gcs)

    def _cancel(self, ref: Any) -> None:
        with contextlib.suppress(Exception):  # best effort: the task may be done or its node gone
            self.ray.cancel(ref, force=True)

    def close(self) -> None:
        from agent.executors.cluster import disconnect

        if self._alive():
            disconnect()
