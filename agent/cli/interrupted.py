"""An evolve command stopped by Ctrl-C, SIGTERM or SIGHUP: one line on what it leaves, then the signal's exit.

`strop evolve numerics` and `strop evolve quant` search for minutes in worker processes.
A stop signal ended them with a traceback from each worker (a terminal's Ctrl-C reaches the
whole process group; a SIGTERM killed the command at once and left its workers' pipes
broken), the search's run still `running` in `strop runs`, and no word of what was kept.
Now the command stops where it is (`agent.loop.interrupts.stop_signals`), its workers are
killed on the way out (`agent.evolution.pool`), the run that records its Pareto points is
closed as `stopped`, and one line on stderr says what is on disk: the points recorded, the
checkpoint's generation, the output files (written whole or not at all: `held_interrupts`).
The exit is `strop run`'s: 130 after a Ctrl-C; after a SIGTERM or SIGHUP the process ends by
that signal (status -15, 143 in a shell: the nightly runner reads it as a job it stopped).
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

__all__ = ["SearchLeftovers", "interruptible"]


@dataclass
class SearchLeftovers:
    """What an evolve command has on disk so far, followed through the search's events.

    `recorder` is the command's `SearchRecorder`; `checkpoint` its --checkpoint; `outputs`
    names the files the command writes into `folder` at its end; the command sets `written`
    once they are all there.
    """

    recorder: Any
    checkpoint: Path | None = None
    outputs: str = ""
    folder: Path | None = None
    written: bool = False
    generation: int | None = None  # of the last checkpoint this command wrote
    _before: bool = field(default=False, init=False)  # the checkpoint existed before the command

    def __post_init__(self) -> None:
        self._before = self.checkpoint is not None and self.checkpoint.is_file()

    def observe(self, event: object) -> None:
        """Follow one event of the search: the generation of the last checkpoint written."""
        from agent.evolution.events import CheckpointWritten

        if isinstance(event, CheckpointWritten):
            self.generation = event.generation

    def line(self) -> str:
        """The interrupted command's one line: its run, its checkpoint, its output files."""
        parts = [self._run(), self._checkpoint(), self._outputs()]
        return "interrupted: " + "; ".join(part for part in parts if part)

    def _run(self) -> str:
        run = self.recorder.run
        if run is None:
            return "no run was recorded"
        count = self.recorder.count
        if not count:
            return f"run {run.id} recorded no Pareto point"
        points = "the Pareto point" if count == 1 else f"the {count} Pareto points"
        return f"run {run.id} keeps {points} found so far (`strop log {run.id}`)"

    def _checkpoint(self) -> str:
        if self.checkpoint is None:
            return ""
        if self.generation is not None:
            return f"{self.checkpoint} holds generation {self.generation} (the same command continues it)"
        if self._before:
            return f"{self.checkpoint} is as it was (no checkpoint written since the start)"
        return f"no checkpoint written yet to {self.checkpoint}"

    def _outputs(self) -> str:
        if not self.outputs:
            return ""
        where = f" in {self.folder}" if self.folder else ""
        if self.written:
            return f"{self.outputs}{where} are complete"
        return f"{self.outputs}{where}: not written (they are written at the end)"

    def close_run(self, signum: int) -> None:
        """Mark the recorded run `stopped` (its points stay), unless it already ended."""
        run = self.recorder.run
        if run is None or run.status != "running":
            return
        # a git error here must not hide the line that says what was kept: the run stays `running`
        with contextlib.suppress(Exception):
            self.recorder.finish("stopped", f"interrupted by {signal.Signals(signum).name}")


@contextmanager
def interruptible(leftovers: SearchLeftovers) -> Iterator[None]:
    """Inside, a stop signal ends the command as the module docstring says."""
    from agent.loop.interrupts import end_by, noticed_interrupts, received, stop_signals

    try:
        # noticed too: a Ctrl-C that lands in a finaliser (z3's `__del__`) is dropped by Python, and
        # the search ran to its end; the search's loops raise it again (`raise_if_interrupted`)
        with stop_signals(), noticed_interrupts():
            yield
    except KeyboardInterrupt:
        signum = received() or signal.SIGINT
        _deaf()
        leftovers.close_run(signum)
        with contextlib.suppress(OSError):  # a nightly that died took our stderr's reader with it
            print(leftovers.line(), file=sys.stderr, flush=True)
        if signum != signal.SIGINT:
            end_by(signum)
        raise typer.Exit(130) from None


def _deaf() -> None:
    """Ignore the stop signals from now on: the first one already ends the command, and a second
    one while it closes its run (a git write, well under a second) would cut its line short."""
    from agent.loop.interrupts import STOP_SIGNALS

    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
