"""The workspace a sandboxed command may write: checked, lent, and watched.

- `Workspace.of` resolves the workdir and the read-only paths inside it and
  refuses paths that leave it.
- `sandbox_user` picks the unprivileged identity a command runs as: the caller
  when the caller is not root, else the workspace's owner when that is not root,
  else `nobody` (65534), or for a backend that asks, a uid of the command's own.
- `lend` hands a root-owned workspace to that identity for the length of a run
  (so a non-root command can write it) and gives every path back to its owner
  afterwards, never following a symlink.
- `walk_beneath` visits a candidate's tree safely (also what `sandbox.disk` measures it with).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sandbox.execution import Bind

NOBODY = 65534
OWN_UIDS = (1_000_000_000, 1 << 24)
"""First uid and size of the range a command's own uid is drawn from: no account uses it."""


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


def sandbox_user(workdir: Path, own: bool = False) -> tuple[int, int]:
    """The (uid, gid) a sandboxed command runs as; never root.

    `own`: a uid (and gid) of its own, drawn at random from `OWN_UIDS`, in place of nobody.
    For a backend whose process limit is RLIMIT_NPROC, which counts every process of a uid on
    the machine: under one shared uid, a candidate's processes would count against every other
    sandbox running at once (its siblings, the held scorer), which then could not fork or start.
    """
    if os.getuid() != 0:
        return os.getuid(), os.getgid()
    info = os.stat(workdir)
    if info.st_uid != 0:
        return info.st_uid, info.st_gid
    if own:
        uid = OWN_UIDS[0] + secrets.randbelow(OWN_UIDS[1])
        return uid, uid
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
    owners = _chown_tree(root, uid, gid, keep)
    try:
        yield
    finally:
        _restore_tree(root, owners, (info.st_uid, info.st_gid), keep)


Visit = Callable[[int, str, str, os.stat_result], None]
"""Called with (descriptor of the parent folder, name, path relative to the root, lstat)."""
Leave = Callable[[int, str], None]
"""Called with (descriptor of the parent folder, name) once a folder's contents were visited."""

_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def walk_beneath(
    root: Path,
    visit: Visit,
    leave: Leave | None = None,
    skip: frozenset[str] = frozenset(),
    strict: bool = False,
) -> None:
    """Call `visit` for every path under `root` (not root), then `leave` for each folder once its
    contents were visited; relative paths in `skip` (and what lies under them) are passed over.
    `strict`: a folder that exists but cannot be opened or listed raises OSError instead of being
    passed over (an account of the tree must not miss what a folder closed to us holds).

    The tree is a candidate's: it may be nested deeper than PATH_MAX allows a path to name, or
    than Python's recursion allows a recursive walk to descend. So this goes one folder at a time
    through descriptors (`openat` with `O_NOFOLLOW`, never a symlink followed, never a path
    longer than one name), iteratively, and holds one descriptor at a time: a folder is left
    through its `..`, which must be the folder it was entered from (a tree changed under the
    walk raises OSError instead of leading it outside `root`).
    """
    fd = os.open(root, _FOLDER)
    here = _identity(os.fstat(fd))
    rel, names = "", _names(fd, strict)
    above: list[tuple[tuple[int, int], str, list[str]]] = []
    try:
        while True:
            if names:
                name = names.pop()
                path = f"{rel}/{name}" if rel else name
                if path in skip:
                    continue
                try:
                    info = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                visit(fd, name, path, info)
                if not stat.S_ISDIR(info.st_mode):
                    continue
                try:
                    inner = os.open(name, _FOLDER, dir_fd=fd)
                except FileNotFoundError:
                    continue
                except OSError:
                    if strict:
                        raise
                    continue
                if _identity(os.fstat(inner)) != (info.st_dev, info.st_ino):
                    os.close(inner)
                    raise OSError(f"{root}: {path} changed during the walk")
                above.append((here, rel, names))
                os.close(fd)
                fd, here, rel, names = inner, (info.st_dev, info.st_ino), path, _names(inner, strict)
                continue
            if not above:
                return
            parent = os.open("..", _FOLDER, dir_fd=fd)
            os.close(fd)
            fd = parent
            left = rel
            expected, rel, names = above.pop()
            here = _identity(os.fstat(fd))
            if here != expected:
                raise OSError(f"{root}: the folder above {left} changed during the walk")
            if leave is not None:
                leave(fd, left.rsplit("/", 1)[-1])
    finally:
        os.close(fd)


def _identity(info: os.stat_result) -> tuple[int, int]:
    return info.st_dev, info.st_ino


def _names(fd: int, strict: bool = False) -> list[str]:
    try:
        return os.listdir(fd)
    except OSError:
        if strict:
            raise
        return []


def _relative(root: Path, keep: Sequence[Path]) -> frozenset[str]:
    """The paths of `keep` that lie under `root`, relative to it."""
    return frozenset(path.relative_to(root).as_posix() for path in keep if root in path.parents)


def _chown_tree(root: Path, uid: int, gid: int, keep: Sequence[Path]) -> dict[str, tuple[int, int]]:
    """Give `root`'s tree to uid:gid; the owners it had, by path relative to root ("" is root)."""
    info = os.lstat(root)
    owners = {"": (info.st_uid, info.st_gid)}

    def take(fd: int, name: str, rel: str, info: os.stat_result) -> None:
        owners[rel] = (info.st_uid, info.st_gid)
        with contextlib.suppress(FileNotFoundError):
            os.chown(name, uid, gid, dir_fd=fd, follow_symlinks=False)

    os.lchown(root, uid, gid)
    walk_beneath(root, take, skip=_relative(root, keep))
    return owners


def _restore_tree(
    root: Path, owners: dict[str, tuple[int, int]], default: tuple[int, int], keep: Sequence[Path]
) -> None:
    def give_back(fd: int, name: str, rel: str, _info: os.stat_result) -> None:
        uid, gid = owners.get(rel, default)
        with contextlib.suppress(FileNotFoundError):
            os.chown(name, uid, gid, dir_fd=fd, follow_symlinks=False)

    os.lchown(root, *owners[""])
    walk_beneath(root, give_back, skip=_relative(root, keep))
