"""Where strop keeps its own state: `$STROP_HOME`, by default `~/.strop`.

Everything strop writes outside the experiment repos lives here (run index,
run folders with logs and checkpoints, worktrees, knowledge store, memory,
caches), so tests and users isolate strop by pointing STROP_HOME elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path


def strop_home() -> Path:
    home = Path(os.environ.get("STROP_HOME") or Path.home() / ".strop").expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def run_dir(run_id: str) -> Path:
    """Logs, checkpoints and snapshots of one run."""
    path = strop_home() / "runs" / run_id
    path.mkdir(parents=True, exist_ok=True)
    return path


def knowledge_dir() -> Path:
    """The knowledge store and episodic memory."""
    path = strop_home() / "knowledge"
    path.mkdir(parents=True, exist_ok=True)
    return path


def fresh_folder(parent: Path, name: str) -> Path:
    """`parent/name`, or `name-2`, `name-3`… when taken: each command's output folder of its own
    (`strop mle run`'s working folder, `strop evolve quant`'s outputs). Not made here."""
    candidate, number = parent / name, 1
    while candidate.exists():
        number += 1
        candidate = parent / f"{name}-{number}"
    return candidate
