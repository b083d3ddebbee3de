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


def disk_full(error: BaseException) -> bool:
    """Whether `error`, or one it was raised from, says a disk or a quota is full.

    Each writer says it its own way: OSError ENOSPC/EDQUOT, SQLite "database or disk is
    full", git "No space left on device" in a GitCommandError's stderr.
    """
    import errno

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(message in str(current).lower() for message in FULL_MESSAGES):
            return True
        current = current.__cause__ or current.__context__
    return False
