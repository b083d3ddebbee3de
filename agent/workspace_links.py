"""Links in a workspace that no experiment can read through: they lead out of it, or nowhere.

An experiment runs on a copy of its commit, and a commit holds a symbolic link as a link (its
target's name), not the file it leads to. A link out of the workspace (`n.txt -> ../data/n.txt`)
works by hand and leads nowhere in the sandbox's copy, so every experiment, experiment 0
included, failed with a bare `cp: cannot stat 'n.txt'` that never said it was a link. `strop run`
and `strop eval` now say which links these are, before any evaluation.

A note, not a refusal: the commands may never read the link (a README linked from elsewhere),
and a link into a folder the task `mounts`, or into the runtime (/usr), works in every sandbox.
Only the link's own text is read (`os.readlink`): its target is never opened, nor its existence
asked of the disk (a link to /proc or a device is named, not touched). A target inside the
workspace is looked up among the files the experiments' copy holds (`Copy`): what git tracks, or
what a plain folder's managed copy takes, whose .gitignore rules git reads once per check.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
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
    copy = _copy_of(workspace)
    found = []
    for relative in copy.judged:
        target = os.readlink(workspace / relative)
        if os.path.isabs(target):
            if local or _under(Path(target), [*mounts, *RUNTIME]):
                continue
            found.append(BrokenLink(relative, target, dangles=False))  # the copy's link names the host path
            continue
        lexical = os.path.normpath(PurePosixPath(relative).parent / target)
        if lexical == ".." or lexical.startswith("../"):
            found.append(BrokenLink(relative, target, dangles=False))
        elif not copy.reaches(workspace, lexical):
            found.append(BrokenLink(relative, target, dangles=True))
    return found


@dataclass(frozen=True)
class Copy:
    """What every experiment's copy of the workspace holds, as workspace-relative posix paths.

    A link inside the workspace works when its target is in the copy, not on the host: a
    tracked `n.txt -> data/n.txt` with `data/` git-ignored worked by hand and led nowhere in
    every experiment, with no note. So a target is looked up here, never on the disk.
    """

    files: frozenset[str]  # every file and link the copy holds
    links: frozenset[str]  # the links among them
    judged: tuple[str, ...]  # the links a note may name, sorted

    @cached_property
    def folders(self) -> frozenset[str]:
        """The copy's folders: a commit holds a folder only by the files under it."""
        return frozenset(str(parent) for path in self.files for parent in PurePosixPath(path).parents)

    def reaches(self, workspace: Path, relative: str) -> bool:
        """Whether `relative` (normalized, inside the workspace) names a file or folder of the
        copy, through the copy's own links (at most 40 of them, as the kernel's ELOOP); a link
        leading out on the way has a note of its own, and counts as leading somewhere here."""
        folders = self.folders
        parts = PurePosixPath(relative).parts
        hops = 40
        done = 0
        while done < len(parts):
            prefix = "/".join(parts[: done + 1])
            if prefix not in self.links:
                if prefix not in (self.files if done == len(parts) - 1 else folders):
                    return prefix in folders  # the last part may be a folder
                done += 1
                continue
            hops -= 1
            try:
                text = os.readlink(workspace / prefix)
            except OSError:
                return True  # changed since it was listed: not this note's to judge
            resolved = os.path.normpath(PurePosixPath(prefix).parent / text / "/".join(parts[done + 1 :]))
            if hops == 0 or os.path.isabs(text) or resolved == ".." or resolved.startswith("../"):
                return hops > 0
            parts = () if resolved == "." else PurePosixPath(resolved).parts
            done = 0
        return True  # the workspace itself


def _copy_of(workspace: Path) -> Copy:
    """What the experiments' commits hold. A git workspace: what git tracks (an untracked file is
    no experiment's, and has a note of its own). A plain folder: what its managed copy takes, by
    the copy's own rules (`_copy_ignore`: strop's skips, and the folder's .gitignore files), asked
    of git once for the whole folder, not once per link."""
    from agent.experiments import _ignored
    from agent.task import _git_lines
    from agent.taskgen import is_git_top

    if is_git_top(workspace):
        entries = [line.partition("\t") for line in _git_lines(workspace, ["ls-files", "-z", "--stage"])]
        links = frozenset(path for meta, _, path in entries if meta.startswith("120000 "))
        judged = sorted(p for p in links if not _ignored(Path(p)) and (workspace / p).is_symlink())
        return Copy(frozenset(path for _, _, path in entries), links, tuple(judged))
    ignore = _folder_ignore(workspace)
    files: set[str] = set()
    links: set[str] = set()
    folders = [workspace]
    while folders:  # the copy's own walk: a folder it leaves out is not entered
        folder = folders.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue  # unreadable: the copy reports it
        skipped = set(ignore(str(folder), [entry.name for entry in entries]))
        for entry in entries:
            if entry.name in skipped:
                continue
            relative = Path(entry.path).relative_to(workspace).as_posix()
            if entry.is_symlink():
                links.add(relative)
                files.add(relative)
            elif entry.is_dir(follow_symlinks=False):
                folders.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                files.add(relative)
    return Copy(frozenset(files), frozenset(links), tuple(sorted(links)))


def _folder_ignore(workspace: Path) -> Callable[[str, list[str]], set[str]]:
    """The plain-folder copy's `ignore` (`sync_workspace`'s), its git rules read by a throwaway
    empty repo: the managed repo may not exist yet, and must not be made by a check."""
    from agent.experiments import IgnoredPaths, _copy_ignore, git_ignored

    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    with tempfile.TemporaryDirectory() as empty:
        made = subprocess.run(["git", "init", "-q", empty], capture_output=True, check=False, env=env)
        none = IgnoredPaths(frozenset(), ())  # no git: the copy cannot be made either, and says so
        above = git_ignored(workspace, Path(empty) / ".git") if made.returncode == 0 else none
    return _copy_ignore(workspace, above)


def _under(path: Path, folders: list[Path]) -> bool:
    normal = Path(os.path.normpath(path))
    return any(normal.is_relative_to(folder) for folder in folders)


def _printable(text: str) -> str:
    """A name on one printable line: the note is one line, and a file name may hold anything."""
    return "".join(char if char.isprintable() else "?" for char in text)
