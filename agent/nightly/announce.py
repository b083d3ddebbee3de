"""A job's run id, said as soon as the run exists: one `RUN <id>` line on the job's stdout.

The nightly runner reads a job's stdout while the job runs. A job stopped at the window's end
(SIGTERM) never prints its final JSON line, so the run id must come earlier, or the night
records no run: a killed `run` job cannot be resumed, and a stopped evolve search is missing
from the morning summary though its Pareto points are in git.

`strop nightly job` always announces (its stdout is the nightly's alone). `strop evolve` does so
only when the nightly sets `ANNOUNCE_VAR` in its environment, so a user's `--json` stays one
JSON object.
"""

from __future__ import annotations

import os
import sys

__all__ = ["ANNOUNCE_VAR", "announce_run", "announced_run"]

ANNOUNCE_VAR = "STROP_ANNOUNCE_RUN"
"""Set to 1 in a job's environment by the nightly runner: evolve searches announce their run."""
PREFIX = "RUN "


def announce_run(run_id: str, always: bool = False) -> None:
    """Print `RUN <id>` on stdout, flushed: always, or when the environment asks for it."""
    if not always and os.environ.get(ANNOUNCE_VAR) != "1":
        return
    sys.stdout.write(f"{PREFIX}{run_id}\n")
    sys.stdout.flush()


def announced_run(line: str) -> str | None:
    """The run id a job's output line announces, or None when it announces none."""
    if not line.startswith(PREFIX):
        return None
    words = line.split()
    return words[1] if len(words) == 2 else None
