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
CHUNK = 1 << 20


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
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(source, flags)
    except OSError as error:
        raise SealError(f"the outputs folder cannot be opened: {error.strerror}") from None
    try:
        _copy_folder(fd, target, "", tally, limit, 0)
    finally:
        os.close(fd)
    return tally


def _copy_folder(folder_fd: int, target: Path, shown: str, tally: Sealed, limit: int, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise SealError(f"outputs: {shown or '.'} is nested more than {MAX_DEPTH} folders deep")
    for name in sorted(os.listdir(folder_fd)):
        tally.files += 1
        if tally.files > MAX_ENTRIES:
            raise SealError(f"outputs: more than {MAX_ENTRIES} entries")
        path = f"{shown}{name}"
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=folder_fd)
        except OSError as error:
            raise SealError(f"outputs: {path} is a symlink or cannot be opened ({error.strerror})") from None
        try:
            mode = os.fstat(fd).st_mode
            if stat.S_ISDIR(mode):
                (target / name).mkdir(mode=0o755)
                _copy_folder(fd, target / name, f"{path}/", tally, limit, depth + 1)
            elif stat.S_ISREG(mode):
                _copy_file(fd, target / name, path, tally, limit)
            else:
                raise SealError(f"outputs: {path} is not a regular file or folder")
        finally:
            os.close(fd)


def _copy_file(fd: int, target: Path, shown: str, tally: Sealed, limit: int) -> None:
    os.set_blocking(fd, True)
    out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        while block := os.read(fd, CHUNK):
            tally.bytes += len(block)
            if tally.bytes > limit:
                raise SealError(f"outputs: more than {limit} bytes (at {shown})")
            os.write(out, block)
    finally:
        os.close(out)
