"""The workspace a sandboxed command may write: checked, lent, and watched.

- `Workspace.of` resolves the workdir and the read-only paths inside it and
  refuses paths that leave it.
- `sandbox_user` picks the unprivileged identity a command runs as: the caller
  when the caller is not root, else the workspace's owner when that is not root,
  else `nobody` (65534).
- `lend` hands a root-owned workspace to that identity for the length of a run
  (so a non-root command can write it) and gives every path back to its owner
  afterwards, never following a symlink.
- `DiskWatch` is the watchdog that stops a run whose writes make the workspace's
  filesystem grow past `Limits.workspace_bytes` (a bind-mounted host folder has
  no size cap of its own; quotas would need xfs project quotas, which we lack).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sandbox.execution import Bind, KilledBy

NOBODY = 65534


@dataclass(frozen=True)
class Workspace:
    """A resolved workdir, the protected paths inside it, and the folders bound beside it."""

    root: Path
    readonly: tuple[Path, ...]
    binds: tuple[Bind, ...] = ()

    @property
    def writable(self) -> tuple[Path, ...]:
        """Every tree the command may write: the workdir and the writable binds."""
        return (self.root, *(bind.path for bind in self.binds if bind.writable))

    @classmethod
    def of(cls, workdir: Path, readonly_paths: Sequence[Path] = (), binds: Sequence[Bind] = ()) -> Workspace:
        root = Path(workdir).resolve()
        if not root.is_dir():
            raise ValueError(f"sandbox workdir is not a directory: {workdir}")
        readonly: list[Path] = []
        for path in readonly_paths:
            candidate = Path(path) if Path(path).is_absolute() else root / path
            resolved = candidate.resolve()
            if not resolved.exists():
                raise ValueError(f"read-only path does not exist: {path}")
            if resolved != root and root not in resolved.parents:
                raise ValueError(f"read-only path is not inside the workdir {root}: {path}")
            readonly.append(resolved)
        return cls(root=root, readonly=tuple(readonly), binds=tuple(_checked_binds(root, binds)))


def _checked_binds(root: Path, binds: Sequence[Bind]) -> list[Bind]:
    """Resolved binds: existing folders or files that neither contain nor lie inside the workdir."""
    checked: list[Bind] = []
    for bind in binds:
        path = Path(bind.path).resolve()
        if not path.exists():
            raise ValueError(f"bound path does not exist: {bind.path}")
        if path == root or root in path.parents or path in root.parents:
            raise ValueError(f"bound path overlaps the workdir {root}: {bind.path}")
        checked.append(Bind(path, bind.writable))
    return checked


@contextlib.contextmanager
def lend_all(space: Workspace, uid: int, gid: int, keep: Sequence[Path] = ()) -> Iterator[None]:
    """`lend` every writable tree of `space` (the workdir and writable binds) for the block."""
    with contextlib.ExitStack() as stack:
        for tree in space.writable:
            stack.enter_context(lend(tree, uid, gid, keep=keep))
        yield


def sandbox_user(workdir: Path) -> tuple[int, int]:
    """The (uid, gid) a sandboxed command runs as; never root."""
    if os.getuid() != 0:
        return os.getuid(), os.getgid()
    info = os.stat(workdir)
    if info.st_uid != 0:
        return info.st_uid, info.st_gid
    return NOBODY, NOBODY


@contextlib.contextmanager
def lend(root: Path, uid: int, gid: int, keep: Sequence[Path] = ()) -> Iterator[None]:
    """Make `root`'s tree owned by uid:gid for the block, then give it back.

    Paths in `keep` (read-only mounts) and everything under them are left alone.
    Paths that appear during the block go to `root`'s original owner.
    Does nothing when the tree already belongs to uid (the common non-root case).
    """
    info = os.lstat(root)
    if info.st_uid == uid or os.getuid() != 0:
        yield
        return
    owners = _chown_tree(root, uid, gid, set(keep), record=True)
    try:
        yield
    finally:
        _restore_tree(root, owners, (info.st_uid, info.st_gid), set(keep))


def _walk(root: Path, keep: set[Path]) -> Iterator[Path]:
    """Every path under root (root included), without following symlinks or entering `keep`."""
    yield root
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            path = Path(entry.path)
            if path in keep:
                continue
            yield path
            if entry.is_dir(follow_symlinks=False):
                stack.append(path)


def _chown_tree(root: Path, uid: int, gid: int, keep: set[Path], record: bool) -> dict[Path, tuple[int, int]]:
    owners: dict[Path, tuple[int, int]] = {}
    for path in _walk(root, keep):
        with contextlib.suppress(FileNotFoundError):
            info = os.lstat(path)
            if record:
                owners[path] = (info.st_uid, info.st_gid)
            os.lchown(path, uid, gid)
    return owners


def _restore_tree(
    root: Path, owners: dict[Path, tuple[int, int]], default: tuple[int, int], keep: set[Path]
) -> None:
    for path in _walk(root, keep):
        uid, gid = owners.get(path, default)
        with contextlib.suppress(FileNotFoundError):
            os.lchown(path, uid, gid)


def filesystem_used(path: Path) -> int:
    """Bytes in use on the filesystem holding `path` (delayed allocations included)."""
    info = os.statvfs(path)
    return (info.f_blocks - info.f_bfree) * info.f_frsize


class DiskWatch:
    """Watchdog: DISK once the filesystems under `paths` grew by more than `budget` bytes.

    Each distinct filesystem is measured once. Writes by other programs to the same
    filesystem count too: the budget is a guard against a disk fill, not an account.
    """

    def __init__(self, paths: Sequence[Path], budget: int) -> None:
        seen: dict[int, Path] = {}
        for path in paths:
            with contextlib.suppress(OSError):
                seen.setdefault(os.stat(path).st_dev, path)
        self.paths = list(seen.values())
        self.budget = budget
        self.start = {path: filesystem_used(path) for path in self.paths}

    def __call__(self) -> KilledBy | None:
        for path in self.paths:
            try:
                grown = filesystem_used(path) - self.start[path]
            except OSError:
                continue
            if grown > self.budget:
                return KilledBy.DISK
        return None
