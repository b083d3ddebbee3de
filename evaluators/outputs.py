"""Sealing what stage `run` wrote: regular files only, bounded, copied out before the scorer reads.

The candidate owns every name in its outputs folder: an entry may be a symlink
into the private data or the host, a FIFO that blocks a reader forever, a device,
a sparse file of terabytes, or a million tiny files; and on a weak backend a
daemon it left behind may still be rewriting them. So after every process of
stage `run` is gone, strop walks the folder without following any link (each
entry opened with `O_NOFOLLOW | O_NONBLOCK` relative to its parent's descriptor,
checked to be a regular file or folder by `fstat`) and copies at most `limit`
bytes into a fresh folder that strop owns. The scorer reads only that copy,
read-only. Anything odd is a `SealError`: the candidate is buggy, never scored.

The copy is made through descriptors on both sides, and a path longer than `MAX_PATH`
characters is refused: sixteen folders of 255-character names make a path longer than
the system's PATH_MAX once put under the sealed folder, which no `open` by name can
reach (the scorer's included). Names in a `SealError` are written as `ascii()` does: a
name is the candidate's text, and a newline or a terminal escape in it must not reach
a one-line reason, `strop log` or a terminal as it is.

Written by hand because the standard library's copy functions follow links or
stat by name (a race a hostile writer can win); `openat` with `O_NOFOLLOW` from
a parent descriptor is the portable way to walk a tree somebody else controls.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

MAX_ENTRIES = 10_000
MAX_DEPTH = 16
MAX_PATH = 1024
"""Characters in the longest path under the outputs folder that is sealed."""
CHUNK = 1 << 20
_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class SealError(Exception):
    """The outputs cannot be sealed safely; the message says which entry and why, in one line."""


@dataclass
class Sealed:
    files: int = 0
    bytes: int = 0


def seal_outputs(source: Path, target: Path, limit: int) -> Sealed:
    """Copy the regular files and folders under `source` to `target` (made if missing), at most `limit` bytes."""
    target.mkdir(mode=0o755, exist_ok=True)
    tally = Sealed()
    try:
        fd = os.open(source, _FOLDER)
    except OSError as error:
        raise SealError(f"the outputs folder cannot be opened: {error.strerror}") from None
    try:
        into = os.open(target, _FOLDER)
        try:
            _copy_into(fd, into, tally, limit)
        finally:
            os.close(into)
    finally:
        os.close(fd)
    return tally


def _copy_into(fd: int, into: int, tally: Sealed, limit: int) -> None:
    """Copy into the (empty) sealed folder; a name that is there already was not put there by us.

    The sealed folder exists while stage `run` works (the held scorer's sandbox binds it). No
    candidate of docker or bwrap can reach it; one of `local` can, and so can a daemon it left:
    what it wrote there is refused, never scored, and never an error of strop's own.
    """
    if os.listdir(into):
        raise SealError("outputs: the sealed folder was written from outside strop before sealing")
    try:
        _copy_folder(fd, into, "", tally, limit, 0)
    except (FileExistsError, FileNotFoundError, NotADirectoryError) as error:
        raise SealError(f"outputs: the sealed folder was changed while sealing ({error.strerror})") from None


def _copy_folder(folder_fd: int, into: int, shown: str, tally: Sealed, limit: int, depth: int) -> None:
    """Copy what the folder at `folder_fd` holds into the folder at `into` (both descriptors)."""
    if depth > MAX_DEPTH:
        raise SealError(f"outputs: {ascii(shown or '.')} is nested more than {MAX_DEPTH} folders deep")
    for name in sorted(os.listdir(folder_fd)):
        tally.files += 1
        if tally.files > MAX_ENTRIES:
            raise SealError(f"outputs: more than {MAX_ENTRIES} entries")
        path = f"{shown}{name}"
        if len(path) > MAX_PATH:
            raise SealError(f"outputs: a path is longer than {MAX_PATH} characters: {ascii(path[:80])}...")
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=folder_fd)
        except OSError as error:
            raise SealError(
                f"outputs: {ascii(path)} is a symlink or cannot be opened ({error.strerror})"
            ) from None
        try:
            mode = os.fstat(fd).st_mode
            if stat.S_ISDIR(mode):
                _copy_subfolder(fd, into, name, path, tally, limit, depth)
            elif stat.S_ISREG(mode):
                _copy_file(fd, into, name, path, tally, limit)
            else:
                raise SealError(f"outputs: {ascii(path)} is not a regular file or folder")
        finally:
            os.close(fd)


def _copy_subfolder(fd: int, into: int, name: str, path: str, tally: Sealed, limit: int, depth: int) -> None:
    os.mkdir(name, mode=0o755, dir_fd=into)
    inner = os.open(name, _FOLDER, dir_fd=into)
    try:
        _copy_folder(fd, inner, f"{path}/", tally, limit, depth + 1)
    finally:
        os.close(inner)


def _copy_file(fd: int, into: int, name: str, shown: str, tally: Sealed, limit: int) -> None:
    os.set_blocking(fd, True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    out = os.open(name, flags, 0o644, dir_fd=into)
    try:
        while block := _read(fd, shown):
            tally.bytes += len(block)
            if tally.bytes > limit:
                raise SealError(f"outputs: more than {limit} bytes (at {ascii(shown)})")
            os.write(out, block)
    finally:
        os.close(out)


def _read(fd: int, shown: str) -> bytes:
    """The next block of a candidate's file; a file that cannot be read is its fault, not ours."""
    try:
        return os.read(fd, CHUNK)
    except OSError as error:
        raise SealError(f"outputs: {ascii(shown)} cannot be read ({error.strerror})") from None
