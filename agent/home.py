"""Where strop keeps its own state: `$STROP_HOME`, by default `~/.strop`.

Everything strop writes outside the experiment repos lives here (run index,
run folders with logs and checkpoints, worktrees, knowledge store, memory,
caches), so tests and users isolate strop by pointing STROP_HOME elsewhere.

It holds what the user keeps from others: copies of the task's private answers and
scorer, the candidates' code, logs and diffs, the run index, the model's replies. Made at
0755 (a umask of 022), any local user read them all, so strop makes its home 0700, and
each run's folder 0700 too. An existing home other users may enter (an older strop made
it 0755, or the user did) is closed to 0700 when strop starts, with one line on stderr
saying so (`private_home`): the run folders alone left the index, the knowledge store and
memory open. A folder that is more than strop's home (/tmp, `/`, the user's home, a folder of
other files, another user's) is not strop's to change: it is left as it is, with one line
saying others may read what strop keeps there. The sandboxes still read what they are given:
they run as the user (docker's `--user`, bwrap's user namespace), or, under root, get each
folder bound in at its own path, past the folders above it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from pathlib import Path

MARKER = "index.sqlite"
"""A file only strop's home holds (the run index)."""
ENTRIES = frozenset(
    {MARKER, f"{MARKER}-wal", f"{MARKER}-shm", f"{MARKER}-journal", "runs", "worktrees", "repos",
     "repos.txt", "knowledge", "memory", "nightly", "logs", "keys", "evolve", "quant", "mle", "tasks",
     "searches", "bundle", "trash", "cache"}
)  # fmt: skip
"""What strop keeps at the top of its home: a folder holding anything else is not strop's alone
(`private_home` leaves its mode as it is)."""
ASIDE = ("index.damaged-", "knowledge.broken-", "repos.txt.partial")
"""Names strop gives what it sets aside there: a damaged index or store (`strop reindex`, a
rebuild), a registry half written."""


def _strops(name: str) -> bool:
    """Whether a top-level entry of the home is one strop keeps or set aside there."""
    return name in ENTRIES or name.startswith(ASIDE)


_checked: set[Path] = set()  # homes whose mode this process has looked at (`private_home`): one line each


def strop_home() -> Path:
    """strop's home, made 0700 when it does not exist (the folders above it as `mkdir -p` makes them),
    closed to 0700 when it does and other users may enter it (`private_home`)."""
    home = Path(os.environ.get("STROP_HOME") or Path.home() / ".strop").expanduser().resolve()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    if home not in _checked:
        _checked.add(home)
        said = private_home(home)
        if said:
            from agent.cli.render import printable  # the path is the user's text: no escape sequence in it

            print(f"strop: {printable(said, one_line=True)}", file=sys.stderr)
    return home


def private_home(home: Path) -> str:
    """Close `home` to group and others when it is the user's; what was done or found, in one line
    ("" when it was private already).

    Any bit for group or others counts, execute alone too: the index and the knowledge store
    sit at names anyone can guess. Only a folder that is strop's home alone is closed: empty
    (made for it) or holding only what strop keeps there (`ENTRIES`), and not a shared folder (sticky or
    world-writable: /tmp), `/`, or the user's own home (`STROP_HOME=/tmp` closed /tmp to every
    other user). Those, a folder holding other files, and a home another user owns are only
    reported: changing them is not strop's call. A home strop cannot write is left as it is,
    unsaid: strop refuses it anyway (`strop cannot write …`).
    """
    try:
        mode = stat.S_IMODE(home.stat().st_mode)
    except OSError:
        return ""  # gone or unreadable: the caller's next use of it says why
    if not mode & 0o077 or not os.access(home, os.W_OK):
        return ""  # private already; or strop cannot write it, and refuses it in one line right after
    what = "run records, logs and the model's replies"
    if shared := _not_strops_alone(home, mode):
        return (
            f"STROP_HOME {home} is {shared}: left at mode {mode:04o}, so other users may read the "
            f"{what} in it; give strop a folder of its own (STROP_HOME=~/.strop)"
        )
    if not all(_strops(entry.name) for entry in home.iterdir()):
        return (
            f"STROP_HOME {home} holds files that are not strop's: left at mode {mode:04o}, so other "
            f"users may read the {what} strop adds; give strop a folder of its own (STROP_HOME=~/.strop)"
        )
    owner = home.stat().st_uid
    if owner != os.geteuid():
        return (
            f"STROP_HOME {home} belongs to uid {owner}, not to you: left at mode {mode:04o}, "
            f"so other users may read the {what} in it"
        )
    try:
        home.chmod(mode & ~0o077)
    except OSError as error:
        return (
            f"could not close STROP_HOME {home} (mode {mode:04o}) to other users ({error.strerror}): "
            f"they may read the {what} in it"
        )
    return (
        f"closed STROP_HOME {home} to other users (mode {mode:04o} -> {mode & ~0o077:04o}): it holds {what}"
    )


def _not_strops_alone(home: Path, mode: int) -> str:
    """What else `home` is, when it is more than strop's home ("" when it is only that)."""
    if mode & (stat.S_ISVTX | 0o002):
        return "a shared folder (sticky or writable by anyone)"
    if home == Path(home.anchor):
        return "the file system's root"
    with contextlib.suppress(RuntimeError, OSError):
        if home == Path.home().resolve():
            return "your home folder"
    return ""


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
