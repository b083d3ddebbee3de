"""Where strop keeps its own state: `$STROP_HOME`, by default `~/.strop`.

Everything strop writes outside the experiment repos lives here (run index,
run folders with logs and checkpoints, worktrees, knowledge store, memory,
caches), so tests and users isolate strop by pointing STROP_HOME elsewhere.

It holds what the user keeps from others: copies of the task's private answers and
scorer, the candidates' code, logs and diffs. Made at 0755 (a umask of 022), any local
user read them all, so strop makes its home 0700, and each run's folder 0700 too: an
existing home (one the user made, or an older strop's) is left as it is, its mode the
user's choice, but the runs strop adds to it are private. The sandboxes still read
what they are given: they run as the user (docker's `--user`, bwrap's user namespace),
or, under root, get each folder bound in at its own path, past the folders above it.
"""

from __future__ import annotations

import os
from pathlib import Path


def strop_home() -> Path:
    """strop's home, made 0700 when it does not exist (the folders above it as `mkdir -p` makes them)."""
    home = Path(os.environ.get("STROP_HOME") or Path.home() / ".strop").expanduser().resolve()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    return home


def run_dir(run_id: str) -> Path:
    """Logs, checkpoints and snapshots of one run; made 0700, whatever the home's mode."""
    path = strop_home() / "runs" / run_id
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
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
