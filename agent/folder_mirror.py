"""A folder made to hold exactly another folder's files, touching only what differs.

A plain-folder workspace is copied into the repo strop manages for it at the start of every
run, eval and resume (`ExperimentRepo.sync_workspace`). Removing the old copy and making it
again cost two file system operations per file (an unlink, a new inode), and git then read
and hashed every file anew, since each had a new inode and times: with a data folder of
20,000 files, seconds per run for files that had not changed. `mirror` leaves a file whose
kind, bytes, mode and modification time are already right as it is (git's index then knows
it unchanged by its stat); any other entry is removed and copied afresh, never written in
place (a hard link in the copy would carry the write to another file). Whether a file is
right is told by its bytes, never by its size and time alone: a file replaced by another of
the same size and time (an archive unpacked again) must not leave the old bytes recorded.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

Ignore = Callable[[str, list[str]], Iterable[str]]
"""`shutil.copytree`'s `ignore`: (a source folder's path, its names) -> the names to leave out."""

_BLOCK = 1 << 20


def mirror(source: Path, target: Path, ignore: Ignore, keep: frozenset[str] = frozenset()) -> None:
    """Make the folder `target` hold what `shutil.copytree(source, target, symlinks=True,
    ignore=ignore)` makes of an empty one: the same names, kinds, bytes, modes and times, links
    copied as links and never followed. What `target` holds beyond that is removed, except the
    top-level names in `keep` (a repo's `.git`)."""
    _mirror_folder(os.fspath(source), os.fspath(target), ignore, keep)


def _mirror_folder(source: str, target: str, ignore: Ignore, keep: frozenset[str]) -> None:
    names = os.listdir(source)
    left_out = set(ignore(source, names))
    wanted = [name for name in names if name not in left_out]
    chosen = set(wanted)
    for name in os.listdir(target):
        if name not in chosen and name not in keep:
            _remove(os.path.join(target, name))
    for name in wanted:
        _mirror_entry(os.path.join(source, name), os.path.join(target, name), ignore)
    shutil.copystat(source, target, follow_symlinks=False)


def _mirror_entry(source: str, target: str, ignore: Ignore) -> None:
    info = os.lstat(source)
    there = _lstat(target)
    if stat.S_ISDIR(info.st_mode):
        if there is not None and not stat.S_ISDIR(there.st_mode):
            _remove(target)
            there = None
        if there is None:
            os.mkdir(target)
        _mirror_folder(source, target, ignore, frozenset())
        return
    if there is not None and _same(source, info, target, there):
        return
    if there is not None:
        _remove(target)
    if stat.S_ISLNK(info.st_mode):
        os.symlink(os.readlink(source), target)
        shutil.copystat(source, target, follow_symlinks=False)
    else:  # a named pipe or socket fails here, as it did in `shutil.copytree`
        shutil.copy2(source, target, follow_symlinks=False)


def _same(source: str, info: os.stat_result, target: str, there: os.stat_result) -> bool:
    """Whether `target` already is what copying `source` would make (a link: the same link)."""
    if stat.S_ISLNK(info.st_mode):
        return stat.S_ISLNK(there.st_mode) and os.readlink(source) == os.readlink(target)
    return (
        stat.S_ISREG(info.st_mode)
        and stat.S_ISREG(there.st_mode)
        and there.st_nlink == 1
        and stat.S_IMODE(there.st_mode) == stat.S_IMODE(info.st_mode)
        and there.st_mtime_ns == info.st_mtime_ns
        and there.st_size == info.st_size
        and _same_bytes(source, target)
    )


def _same_bytes(source: str, target: str) -> bool:
    with open(source, "rb") as one, open(target, "rb") as other:
        while True:
            block = one.read(_BLOCK)
            if block != other.read(_BLOCK):
                return False
            if not block:
                return True


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _remove(path: str) -> None:
    """Remove a file, link or whole folder; a link is removed, never followed."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)
