"""Links in a workspace that no experiment can read through: they lead out of it, or nowhere.

An experiment runs on a copy of its commit, and a commit holds a symbolic link as a link (its
target's name), not the file it leads to. A link out of the workspace (`n.txt -> ../data/n.txt`)
works by hand and leads nowhere in the sandbox's copy, so every experiment, experiment 0
included, failed with a bare `cp: cannot stat 'n.txt'` that never said it was a link. `strop run`
and `strop eval` now say which links these are, before any evaluation.

A note, not a refusal: the commands may never read the link (a README linked from elsewhere),
and a link into a folder the task `mounts`, or into the runtime (/usr), works in every sandbox.
Only the link's own text is read (`os.readlink`): its target is never opened, nor its existence
asked outside the workspace (a link to /proc or a device is named, not touched).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.task import Task

SHOWN = 5  # links named in the note; the rest are counted
RUNTIME = (Path("/usr"),)
"""Absolute targets every sandbox has at their own path: the runtime (see the README's threat model)."""


@dataclass(frozen=True)
class BrokenLink:
    """A workspace link an experiment cannot read through: `path` (workspace-relative) -> `target`."""

    path: str
    target: str
    dangles: bool  # True: it stays inside the workspace, and leads to nothing there

    def shown(self) -> str:
        where = "leads to nothing" if self.dangles else "outside it"
        return f"{_printable(self.path)} -> {_printable(self.target)} ({where})"


def link_notes(task: Task) -> list[str]:
    """One note naming the workspace's links that lead outside it or nowhere, with what to do."""
    workspace = task.workspace
    if not workspace.is_dir():
        return []  # a missing workspace is an error of its own, reported where the run needs it
    mounts = [Path(mount).expanduser() for mount in task.evaluator.mounts]
    local = task.evaluator.sandbox == "local"  # a process on this machine: an absolute link works
    broken = _broken(workspace, mounts, local)
    if not broken:
        return []
    listed = ", ".join(link.shown() for link in broken[:SHOWN])
    listed += f" and {len(broken) - SHOWN} more" if len(broken) > SHOWN else ""
    remedy = (
        "put the data in the task's `public` folder (read-only at $STROP_PUBLIC, copied once per run) "
        "or copy the file into the workspace"
        if task.evaluator.run
        else "copy the file into the workspace"
    )
    return [
        f"{workspace} holds links no experiment can read through: {listed}; the sandbox does not follow a "
        "link out of the workspace (each experiment's copy holds the link, not the file, so reading it fails "
        f"as a missing file); {remedy}"
    ]


def _broken(workspace: Path, mounts: list[Path], local: bool) -> list[BrokenLink]:
    found = []
    for relative in _committed_links(workspace):
        target = os.readlink(workspace / relative)
        if os.path.isabs(target):
            if local or _under(Path(target), [*mounts, *RUNTIME]):
                continue
            found.append(BrokenLink(relative, target, dangles=False))  # the copy's link names the host path
            continue
        lexical = Path(os.path.normpath(workspace / PurePosixPath(relative).parent / target))
        if not lexical.is_relative_to(workspace):
            found.append(BrokenLink(relative, target, dangles=False))
        elif not os.path.lexists(lexical):
            found.append(BrokenLink(relative, target, dangles=True))
    return found


def _committed_links(workspace: Path) -> list[str]:
    """The workspace-relative paths of the links the experiments' commits hold, sorted.

    A git workspace: the links git tracks (an untracked file is no experiment's, and has a note
    of its own). A plain folder: every link its managed copy takes, which is all but what strop
    skips (`.git`, `.venv`, caches) and what the folder's own .gitignore files name.
    """
    from agent.experiments import _IGNORED, _ignored
    from agent.task import _git_lines, _ignored_by_git
    from agent.taskgen import is_git_top

    if is_git_top(workspace):
        entries = (line.partition("\t") for line in _git_lines(workspace, ["ls-files", "-z", "--stage"]))
        tracked = [path for meta, _, path in entries if meta.startswith("120000 ")]
        return sorted(p for p in tracked if not _ignored(Path(p)) and (workspace / p).is_symlink())
    links: list[str] = []
    folders = [workspace]
    while folders:  # the copy's own walk: a folder strop skips is not entered
        folder = folders.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue  # unreadable: the copy reports it
        skipped = _IGNORED(str(folder), [entry.name for entry in entries])
        for entry in entries:
            if entry.name in skipped:
                continue
            if entry.is_symlink():
                links.append(Path(entry.path).relative_to(workspace).as_posix())
            elif entry.is_dir(follow_symlinks=False):
                folders.append(Path(entry.path))
    return sorted(p for p in links if not _ignored_by_git(workspace, p))


def _under(path: Path, folders: list[Path]) -> bool:
    normal = Path(os.path.normpath(path))
    return any(normal.is_relative_to(folder) for folder in folders)


def _printable(text: str) -> str:
    """A name on one printable line: the note is one line, and a file name may hold anything."""
    return "".join(char if char.isprintable() else "?" for char in text)
