"""Copying a file out of a sandbox's workspace without trusting what the candidate left.

A candidate controls every name in its workspace: `metrics.json` may be a
symlink to `/etc/shadow`, a folder on the way may be a symlink to `/`, the file
may be a FIFO that blocks a reader forever, or be gigabytes long. So the path is
opened one component at a time with `openat` and `O_NOFOLLOW` from a descriptor
of the workspace (no symlink is followed anywhere, and `..` and absolute paths
are refused before any I/O), the result must be a regular file, and at most
`max_bytes` are read. Done by hand because the standard library has no
`openat2(RESOLVE_BENEATH)`; the component walk is the portable equivalent.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path, PurePosixPath


class ArtifactError(Exception):
    """An artifact that cannot be taken out of the workspace safely (or does not exist)."""


def _parts(relpath: str | os.PathLike[str]) -> list[str]:
    path = PurePosixPath(os.fspath(relpath))
    if path.is_absolute():
        raise ArtifactError(f"artifact path must be relative to the workspace: {relpath}")
    parts = [part for part in path.parts if part not in ("", ".")]
    if not parts or ".." in parts:
        raise ArtifactError(f"artifact path must stay inside the workspace: {relpath}")
    return parts


def _open_beneath(workdir: Path, relpath: str | os.PathLike[str]) -> int:
    """A read-only descriptor of a regular file under `workdir`, no symlink followed."""
    parts = _parts(relpath)
    nofollow = os.O_NOFOLLOW | os.O_CLOEXEC
    folder = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            try:
                inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | nofollow, dir_fd=folder)
            except OSError as error:
                raise _explain(error, relpath, part) from error
            os.close(folder)
            folder = inner
        try:
            fd = os.open(parts[-1], os.O_RDONLY | os.O_NONBLOCK | nofollow, dir_fd=folder)
        except OSError as error:
            raise _explain(error, relpath, parts[-1]) from error
    finally:
        os.close(folder)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise ArtifactError(f"artifact {relpath} is not a regular file")
    os.set_blocking(fd, True)
    return fd


def _explain(error: OSError, relpath: str | os.PathLike[str], part: str) -> ArtifactError:
    if error.errno in (errno.ELOOP, errno.ENOTDIR):
        return ArtifactError(f"artifact {relpath}: {part!r} is a symlink or not a folder; not followed")
    if error.errno == errno.ENOENT:
        return ArtifactError(f"artifact {relpath} does not exist")
    return ArtifactError(f"artifact {relpath} cannot be opened: {error.strerror}")


def read_artifact(workdir: Path, relpath: str | os.PathLike[str], max_bytes: int) -> bytes:
    """The bytes of `workdir/relpath`; ArtifactError if it escapes, is not a file, or is too big."""
    fd = _open_beneath(workdir, relpath)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ArtifactError(f"artifact {relpath} is larger than {max_bytes} bytes")
    return data


def copy_artifact(workdir: Path, relpath: str | os.PathLike[str], destination: Path, max_bytes: int) -> Path:
    """Copy `workdir/relpath` to `destination` (a new file), with the same checks as `read_artifact`."""
    fd = _open_beneath(workdir, relpath)
    destination = Path(destination)
    with os.fdopen(fd, "rb") as source, open(destination, "xb") as target:
        shutil.copyfileobj(_Bounded(source, max_bytes + 1), target)
        too_big = target.tell() > max_bytes
    if too_big:
        destination.unlink()
        raise ArtifactError(f"artifact {relpath} is larger than {max_bytes} bytes")
    return destination


class _Bounded:
    """A reader that stops after `left` bytes."""

    def __init__(self, source: object, left: int) -> None:
        self.source, self.left = source, left

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        size = self.left if size < 0 else min(size, self.left)
        data = self.source.read(size)  # type: ignore[attr-defined]
        self.left -= len(data)
        return data
