"""What strop measured of stage run, handed to the scorer: its wall time, CPU time and peak memory.

A task that optimises speed or memory cannot take the candidate's word for it: a run stage that
times itself prints whatever it likes (it runs the candidate's code, which may patch the clock).
strop measures the stage from outside its sandbox (the backend's wall clock, the CPU time of the
sandbox's processes, their peak memory: `sandbox.execution.Execution`) and writes the figures, as
JSON, into a folder of the evaluation that no candidate sandbox binds; the scorer reads them at
`$STROP_RUN_STATS` (read-only) and may score with them, e.g. `{"seconds": wall, "accuracy": …}`.

The file is written after every process of stage run is gone and before the scorer's sandbox is
let in (a held scorer gets the folder's path when it is set up, and the file once the gate opens).
The wall time includes the sandbox's own start (a few milliseconds for bwrap, a second or so for
docker): compare candidates on one backend. A figure a backend cannot measure whole is null:
the CPU time is given only where a cgroup counts every process of the stage (docker's; bwrap's
where strop may make one, `sandbox.cputime`). Elsewhere (bwrap as a normal user, local) only the
CPU of the processes waited for is measured, and a candidate that forks a worker left running
when its main process ends (killed then, never waited for) did its work unseen: the same prime
count read 115x "faster" that way. Wall time has no such gap (the stage is not over, and its
outputs not sealed, before its main process ends) and is the figure to score by there.

The file is there whenever the scorer runs. Where the final phase grades outputs kept from a
selection run instead of running stage run again (`evaluators.staged`), it holds the figures
strop measured of that run, the run that made the outputs graded, with `"kept": true` and a `note`
saying so (figures null where an entry kept before they were has none): a scorer that read the
file crashed on its absence, and the final phase lost its grade.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sandbox.execution import Execution

RUN_STATS_VAR = "STROP_RUN_STATS"
FILE = "run.json"


Figures = dict[str, object]
"""Stage run's measurements as the scorer reads them (`figures`)."""

NOT_KEPT: Figures = {"wall_seconds": None, "cpu_seconds": None, "peak_memory_bytes": None, "backend": None}


def figures(ran: Execution) -> Figures:
    """What strop measured of stage run `ran`, as the scorer reads it."""
    return {
        "wall_seconds": round(ran.wall_time, 6),
        "cpu_seconds": round(ran.cpu_time, 6) if ran.cpu_complete and ran.cpu_time else None,
        "peak_memory_bytes": ran.peak_memory,
        "backend": ran.backend,
    }


def write_run_stats(folder: Path, ran: Execution) -> Path:
    """Write stage run's measurements to `folder/run.json`: this evaluation's own run."""
    return _write(folder, {**figures(ran), "kept": False, "note": None})


def write_kept_stats(folder: Path, kept: Figures | None, made_by: str) -> Path:
    """Write `folder/run.json` for outputs kept from `made_by` (in words), graded without a run:
    the figures `kept` with them (`figures` of that run), or nulls where none were."""
    said = "these are strop's figures of that run" if kept else "its figures were not kept (null)"
    note = f"stage run did not run in this evaluation: the outputs graded were kept from {made_by}; {said}"
    return _write(folder, {**NOT_KEPT, **(kept or {}), "kept": True, "note": note})


def _write(folder: Path, stats: Figures) -> Path:
    """`folder/run.json`, whole: written aside, then renamed."""
    partial = folder / f".{FILE}.partial"
    partial.write_text(json.dumps(stats) + "\n")
    os.chmod(partial, 0o644)
    partial.replace(folder / FILE)
    return folder / FILE
