"""The errors strop raises, and who sees them.

    StropError                 base; anything strop itself decided to refuse
    ├── UserError              the user's input is wrong: one clear line, exit status 2
    │   ├── TaskSpecError      task.toml: names the file, line and key
    │   ├── WorkspaceError     missing workspace, dirty tree, not a repo, …
    │   └── NotFoundError      an unknown run, experiment or store entry
    └── RunError               a run cannot go on (corrupt state, lost repo): exit 1
        ├── DiskFull           a disk strop writes to is full: resumable once freed
        └── UnreadableRecord   an experiment's note is not a record: nothing is written to its run

What candidates do wrong (a crash, a timeout, a bad metric, a tampered file) is
never an exception here: it becomes the experiment's status and the proposer's
feedback, and the run goes on.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class StropError(Exception):
    """Base of every error strop raises on purpose."""

    exit_code = 1


class UserError(StropError):
    """Bad input from the user. The CLI prints the message as one line and exits 2."""

    exit_code = 2


class TaskSpecError(UserError):
    """A task file that cannot be read as a `Task`."""

    def __init__(self, path: str, message: str, line: int | None = None, key: str | None = None) -> None:
        where = f"{path}:{line}" if line else str(path)
        what = f" [{key}]" if key else ""
        super().__init__(f"{where}:{what} {message}")
        self.path, self.line, self.key = path, line, key


class WorkspaceError(UserError):
    """The workspace or the user's repo is not in a state strop can work with."""


class NotFoundError(UserError):
    """A run, experiment or entry that does not exist."""


class RunError(StropError):
    """A run cannot go on."""


class DiskFull(RunError):
    """A disk strop writes to is full. What was recorded is kept: free space and continue."""


class UnreadableRecord(RunError, ValueError):
    """An experiment branch's note is not a record, so strop cannot know the run's experiments.

    Raised to writers only (resume, the loop): one that went on could give a new experiment
    the unreadable one's number and overwrite its branch. Readers skip the note with a warning.
    A `ValueError` too, as the bare decoding errors it replaces were: `strop audit` reports it
    among its problems rather than stopping on it.
    """


FULL_MESSAGES = ("no space left on device", "database or disk is full", "disk quota exceeded")
FULL_BELOW = 1 << 20
"""Free bytes under which a disk counts as full. Git does not always say why a write failed:
a ref's lock file that cannot be written is "couldn't write '…/strop.lock'", no errno (a full
disk then stopped a run with git's two lines, not the resumable one). Its failed write freed
what it held, so "full" is "all but a page or two", not zero."""


def disk_full(error: BaseException, places: Iterable[Path | str] = ()) -> bool:
    """Whether `error`, or one it was raised from, says a disk or a quota is full.

    Each writer says it its own way: OSError ENOSPC/EDQUOT, SQLite "database or disk is
    full", git "No space left on device" in a GitCommandError's stderr. Git may also say
    nothing of the cause: an I/O failure (an OSError, SQLite's, git's, a `RunError` of ours)
    counts as a full disk too when one of `places` (where the failing writer writes) is full.
    """
    import errno

    seen: set[int] = set()
    failed_io = False
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DiskFull):
            return True
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(message in str(current).lower() for message in FULL_MESSAGES):
            return True
        module = type(current).__module__.partition(".")[0]
        failed_io = failed_io or isinstance(current, OSError | RunError) or module in ("git", "sqlite3")
        current = current.__cause__ or current.__context__
    return failed_io and any(full_at(place) for place in places)


def full_at(place: Path | str) -> bool:
    """Whether the disk holding `place` (or its nearest existing folder) has no room left: under
    `FULL_BELOW` bytes, or no inode. Root may write into the blocks reserved for it: counted."""
    import os

    probe = Path(place)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        stat = os.statvfs(probe)
    except OSError:
        return False
    root = os.geteuid() == 0
    free_bytes = (stat.f_bfree if root else stat.f_bavail) * stat.f_frsize
    inodes_left = stat.f_ffree if root else stat.f_favail
    return free_bytes < FULL_BELOW or (stat.f_files > 0 and inodes_left == 0)


def one_line(error: BaseException) -> str:
    """What `error` says, in one line: a failed git command's last stderr line (its `fatal:`,
    not the command line with strop's dozen `-c` options), else its text, whitespace collapsed."""
    said = str(getattr(error, "stderr", "") or "").strip().removeprefix("stderr:").strip().strip("'")
    lines = [line.strip() for line in said.splitlines() if line.strip()]
    if lines:  # GitPython keeps it as "\n  stderr: '…'"
        return f"{type(error).__name__}: {lines[-1]}"
    return f"{type(error).__name__}: {' '.join(str(error).split())}"
