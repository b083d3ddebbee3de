"""Parallel evaluation in worker processes, with a time limit enforced by killing.

One process per worker, each fed one genome at a time through a pipe. A candidate that
runs past its limit has its worker killed (SIGKILL) and replaced; it gets *no* fitness
(OpenEvolve's users saw timed-out programs scored, and 60 s limits overrun to 1500 s).
A worker that dies (segfault, out of memory) marks its candidate `crashed`. Results come
back in submission order whatever order the workers finish in, so runs are
deterministic.

Written by hand because `concurrent.futures` and `multiprocessing.Pool` cannot kill one
running task: a hung task blocks its worker (and the pool's shutdown) for ever.
With `workers=0` evaluation runs inline in the caller: no isolation and no time limit,
for tests and debugging.

Stopping is the caller's alone: a worker ignores Ctrl-C (a terminal sends it to the whole
process group; each worker printed a KeyboardInterrupt traceback) and ends quietly when its
pipe breaks; the pool kills its workers at once when left by an exception (a busy one would
not read a polite stop); and a worker whose parent dies, even by SIGKILL, is killed with it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import time
import traceback
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Literal

from agent.killable import started_quietly

Status = Literal["ok", "timeout", "crashed", "error"]


@dataclass(frozen=True)
class Outcome:
    """What became of one submitted genome."""

    status: Status
    result: Any = None  # the domain's Fitness or Refined when status == "ok"
    seconds: float = 0.0
    error: str = ""


class DeadlineReached(Exception):
    """`evaluate_all` stopped because the caller's deadline passed."""


def _worker_main(connection: Connection, domain: Any) -> None:
    """Loop of one worker: receive a genome, send back the domain's verdict; quiet when the pool goes."""
    from sandbox.process import parent_death_signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the pool's owner stops; it kills this worker
    parent_death_signal(signal.SIGKILL)
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):  # the pool's end of the pipe is gone: nobody wants a verdict
            return
        if message is None:
            return
        started = time.perf_counter()
        try:
            result = domain.evaluate(message)
            reply: tuple[str, Any, float, str] = ("ok", result, time.perf_counter() - started, "")
        except Exception as error:  # noqa: BLE001 - a candidate's failure is data, not a crash
            summary = "".join(traceback.format_exception_only(type(error), error)).strip()
            reply = ("error", None, time.perf_counter() - started, summary[-500:])
        try:
            connection.send(reply)
        except OSError:  # BrokenPipeError, ConnectionResetError: as above
            return


class _Worker:
    def __init__(self, context: Any, domain: Any) -> None:
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child, domain), daemon=True)
        started_quietly(self.process, context.get_start_method())
        child.close()
        self.task: int | None = None
        self.started = 0.0

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.connection.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self.connection.send(None)
        self.process.join(timeout=2)
        if self.process.is_alive():
            self.kill()
        else:
            self.connection.close()


class EvaluationPool:
    """A fixed number of killable worker processes evaluating genomes for one domain."""

    def __init__(
        self, domain: Any, workers: int, timeout: float | None, start_method: str = "forkserver"
    ) -> None:
        self.domain = domain
        self.size = max(0, workers)
        self.timeout = timeout
        self.context = multiprocessing.get_context(start_method) if self.size else None
        self.workers: list[_Worker] = []

    def __enter__(self) -> EvaluationPool:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is None:
            self.close()
        else:  # an interrupt or an error: no verdict is wanted, and a busy worker would not stop
            self.kill()

    def _start(self) -> _Worker:
        return _Worker(self.context, self.domain)

    def evaluate_all(self, genomes: Sequence[Any], deadline: float | None = None) -> list[Outcome]:
        """Evaluate every genome; outcomes in submission order. Raises DeadlineReached past `deadline`."""
        if not self.size:
            return [self._inline(genome, deadline) for genome in genomes]
        while len(self.workers) < self.size:
            self.workers.append(self._start())
        outcomes: list[Outcome | None] = [None] * len(genomes)
        pending = deque(range(len(genomes)))
        busy: dict[int, _Worker] = {}
        idle = list(self.workers)
        while pending or busy:
            while pending and idle:
                worker = idle.pop(0)
                index = pending.popleft()
                worker.task, worker.started = index, time.perf_counter()
                worker.connection.send(genomes[index])
                busy[index] = worker
            now = time.perf_counter()
            if deadline is not None and time.time() >= deadline:
                for worker in busy.values():  # not replaced: the caller is out of time
                    self._discard(worker)
                raise DeadlineReached
            limits = [w.started + self.timeout - now for w in busy.values()] if self.timeout else []
            wait_for = min(limits) if limits else None
            if deadline is not None:
                left = deadline - time.time()
                wait_for = left if wait_for is None else min(wait_for, left)
            ready = wait(
                [w.connection for w in busy.values()],
                timeout=max(wait_for, 0) if wait_for is not None else None,
            )
            now = time.perf_counter()
            for index, worker in list(busy.items()):
                if worker.connection in ready:
                    try:
                        status, result, seconds, error = worker.connection.recv()
                        outcomes[index] = Outcome(status, result, seconds, error)
                        worker.task = None
                        idle.append(worker)
                    except (EOFError, OSError):
                        code = worker.process.exitcode
                        outcomes[index] = Outcome(
                            "crashed", None, now - worker.started, f"worker exit {code}"
                        )
                        idle.append(self._replace(worker))
                    del busy[index]
                elif self.timeout and now - worker.started >= self.timeout:
                    outcomes[index] = Outcome(
                        "timeout", None, now - worker.started, f"over {self.timeout:g}s"
                    )
                    idle.append(self._replace(worker))
                    del busy[index]
        return [outcome for outcome in outcomes if outcome is not None]

    def _replace(self, worker: _Worker) -> _Worker:
        worker.kill()
        fresh = self._start()
        self.workers[self.workers.index(worker)] = fresh
        return fresh

    def _discard(self, worker: _Worker) -> None:
        """Kill a busy worker and drop it; the next `evaluate_all` starts a fresh one if it runs."""
        worker.kill()
        self.workers.remove(worker)

    def _inline(self, genome: Any, deadline: float | None) -> Outcome:
        if deadline is not None and time.time() >= deadline:
            raise DeadlineReached
        started = time.perf_counter()
        try:
            result = self.domain.evaluate(genome)
        except Exception as error:  # noqa: BLE001 - a candidate's failure is data
            return Outcome("error", None, time.perf_counter() - started, str(error)[-500:])
        return Outcome("ok", result, time.perf_counter() - started)

    def close(self) -> None:
        """Stop the workers politely (a busy one is killed after a moment)."""
        for worker in self.workers:
            worker.stop()
        self.workers = []

    def kill(self) -> None:
        """Kill every worker now, busy or not."""
        for worker in self.workers:
            worker.kill()
        self.workers = []
