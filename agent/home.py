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


def log_place(home: Path, stored: str | Path) -> Path:
    """Where an evaluation log a record names as `stored` is read, for this home.

    Records keep each log's absolute path under the home that wrote it, and notes are never
    rewritten. A home moved or copied elsewhere keeps its runs' logs at
    `runs/<RUN>/logs/<file>`, so a stored path of that form is read there whenever this home
    has the run, whether or not the file is there: a moved home's logs would otherwise read
    as missing, and a copy's audit and `strop show` would read the original home's files (a
    copy checked against logs it does not hold). A run this home lacks: as written.
    """
    path = Path(stored)
    parts = path.parts
    if len(parts) < 4 or parts[-4] != "runs" or parts[-2] != "logs" or parts[-3] == "..":
        return path
    run = home / "runs" / parts[-3]
    return run / "logs" / parts[-1] if run.is_dir() else path
