"""The scorer's sandbox, started while the candidate's stage runs and held until it is needed.

See `sandbox.gate` for why: the setup of a second sandbox is most of what the
two-stage contract costs, and it can overlap the candidate's stage. The held
sandbox is the same one the scorer would get later (same backend, files, binds,
limits); only its start moves. It is never used in the final phase, whose private
data must not exist anywhere while candidate code runs.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from sandbox.execution import Bind, Execution, Limits
from sandbox.gate import CANCELLED_NOTE, Gate, HoldingSandbox


class HeldRun:
    """One command started now in `box`, run only when `open` is called."""

    def __init__(
        self,
        box: HoldingSandbox,
        command: Sequence[str],
        workdir: Path,
        limits: Limits,
        env: dict[str, str],
        binds: list[Bind],
        max_wait: float,
    ) -> None:
        self.gate = Gate(max_wait)
        self.env, self.binds = env, binds
        self._result: Execution | BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(box, list(command), workdir, limits, env, binds), daemon=True
        )
        self._thread.start()

    def _run(
        self,
        box: HoldingSandbox,
        command: list[str],
        workdir: Path,
        limits: Limits,
        env: dict[str, str],
        binds: list[Bind],
    ) -> None:
        try:
            self._result = box.run(command, workdir, limits, env=env, binds=binds, gate=self.gate)
        except BaseException as error:  # handed to the evaluator's thread, raised there
            self._result = error

    def open(self, timeout: float) -> Execution | None:
        """Run the held command with `timeout` seconds; None when it could no longer be opened."""
        self.gate.open(timeout)
        self._thread.join()
        if isinstance(self._result, BaseException):
            raise self._result
        if self._result is None or CANCELLED_NOTE in self._result.notes:
            return None
        return self._result

    def cancel(self) -> None:
        """Never run it; returns once its sandbox is gone."""
        self.gate.cancel()
        self._thread.join()
