"""Throwaway places for one evaluation: the candidate's export, its outputs, the scorer's copy.

Candidate code never runs where host-side git later reads. Each evaluation gets a
fresh folder under the run's `scratch/`: `work/` is a copy of the candidate's
committed files without `.git` (the lane is a git worktree; a candidate that
could write there could plant a hook or a gitdir pointer that host git would
obey), `outputs/` is where stage `run` writes, `sealed/` what strop copied out of
it for the scorer, `scorer/` a fresh copy of the trusted scorer. The folder's
name is a random token (no phase, no experiment id: candidate code must not
learn whether it is being scored on the hidden test) plus our pid, so a later
process can remove what a killed one left behind.

Copies, not hard links: a hard link shares the inode, and a candidate allowed to
write its copy in place would write the lane's file too. The export is the cost of a large
workspace (a folder of 20,000 images is 20,000 new inodes per evaluation), so it is made
through descriptors with no more system calls than a file needs, and its bytes with
`copy_file_range`, which a file system with copy-on-write (btrfs, xfs with reflink) may make a
reflink: a separate file sharing blocks until one side writes, so a large file costs no copy.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import shutil
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from sandbox.process import process_alive
from sandbox.workspace import walk_beneath

SCRATCH = "scratch"


@dataclass(frozen=True)
class Scratch:
    """The folders of one evaluation (see the module docstring)."""

    root: Path

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def outputs(self) -> Path:
        return self.root / "outputs"

    @property
    def sealed(self) -> Path:
        return self.root / "sealed"

    @property
    def scorer(self) -> Path:
        return self.root / "scorer"

    @property
    def final_private(self) -> Path:
        return self.root / "final-private"

    @property
    def measured(self) -> Path:
        """What strop measured of stage run (`evaluators.run_stats`), for the scorer to read."""
        return self.root / "measured"


@contextlib.contextmanager
def scratch(parent: Path) -> Iterator[Scratch]:
    """A fresh, empty evaluation folder under `parent`, removed (whatever is in it) afterwards."""
    parent.mkdir(parents=True, exist_ok=True)
    root = parent / f"{os.getpid()}-{secrets.token_hex(6)}"
    root.mkdir(mode=0o755)
    try:
        yield Scratch(root)
    finally:
        remove_tree(root)


def without_host_paths(text: str, parent: Path, named: Mapping[str, Path | None] | None = None) -> str:
    """`text` with the host's paths of evaluation folders under `parent` written as `<work>`,
    `<outputs>`, `<scratch>`…, and each of `named`'s paths as `<NAME>`.

    Every backend binds the throwaway copy at its host path, so a traceback read
    `/home/alice/.strop/runs/3631fd/scratch/32315-…/work/primes.py`: the user's name, strop's
    home and the run went to the LLM endpoint in the feedback. The copy is gone once the
    verdict is in, so its path tells a reader nothing either; `<work>/primes.py` does. The
    user's home is written `~`: the runtime's own frames (`~/.pyenv/…/json/__init__.py`) held it.
    """
    for name, path in (named or {}).items():
        if path is not None:
            text = _replace_path(text, path, f"<{name}>")
    for root in dict.fromkeys([str(parent), os.path.realpath(parent)]):
        each = rf"{re.escape(root)}/\d+-[0-9a-f]{{12}}"
        text = re.sub(each + r"/(work|outputs|sealed|scorer|final-private)(?![\w.-])", r"<\1>", text)
        text = re.sub(each + r"(?![\w.-])", "<scratch>", text)
        text = re.sub(re.escape(root) + r"(?![\w.-])", "<scratch>", text)
    home = os.path.expanduser("~")
    if home not in ("", "/", "~"):  # the runtime's own files (a pyenv, a venv under /home/alice)
        text = re.sub(re.escape(home) + r"(?![\w.-])", "~", text)
    return text


def _replace_path(text: str, path: Path, name: str) -> str:
    for spelled in dict.fromkeys([str(path), os.path.realpath(path)]):
        text = re.sub(re.escape(spelled) + r"(?![\w.-])", name, text)
    return text


_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 30
"""Bytes asked of one `copy_file_range` call (it returns 0 at the end of the file)."""


def export_tree(source: Path, target: Path) -> None:
    """Copy `source`'s files (symlinks as symlinks) to `target`, leaving out the top-level `.git`.

    Each file is a new inode with its own bytes (see the module docstring), its mode and
    times; folders get theirs once their contents are in. Never follows a link. A named
    pipe, socket or device (a lane, a git checkout, holds none) is an error, as it was
    for `shutil.copytree`. One folder at a time: two descriptors held, however deep the tree.
    """
    os.mkdir(target, 0o700)
    folders: list[tuple[str, os.stat_result]] = [("", os.stat(source))]
    pending = [""]
    while pending:
        rel = pending.pop()
        src = os.open(os.path.join(source, rel), _FOLDER)
        try:
            dst = os.open(os.path.join(target, rel), _FOLDER)
            try:
                for entry in _entries(src, top=rel == ""):
                    inner = f"{rel}/{entry.name}" if rel else entry.name
                    info = entry.stat(follow_symlinks=False)
                    if stat.S_ISDIR(info.st_mode):
                        os.mkdir(entry.name, 0o700, dir_fd=dst)
                        folders.append((inner, info))
                        pending.append(inner)
                    else:
                        _export_entry(src, dst, entry.name, inner, info)
            finally:
                os.close(dst)
        finally:
            os.close(src)
    for rel, info in reversed(folders):  # deepest first: a folder's times once nothing more is made in it
        path = os.path.join(target, rel) if rel else str(target)
        os.chmod(path, stat.S_IMODE(info.st_mode))
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns), follow_symlinks=False)


def _entries(folder: int, top: bool) -> list[os.DirEntry[str]]:
    with os.scandir(folder) as listing:
        return [entry for entry in listing if not (top and entry.name == ".git")]


def _export_entry(src: int, dst: int, name: str, rel: str, info: os.stat_result) -> None:
    """One file or link of `export_tree`, from folder `src` to folder `dst` (descriptors)."""
    times = (info.st_atime_ns, info.st_mtime_ns)
    if stat.S_ISLNK(info.st_mode):
        os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
        os.utime(name, ns=times, dir_fd=dst, follow_symlinks=False)
        return
    if not stat.S_ISREG(info.st_mode):
        raise shutil.SpecialFileError(f"`{rel}` is a named pipe, socket or device: not copied")
    mode = stat.S_IMODE(info.st_mode)
    reader = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        writer = os.open(name, flags, 0o600, dir_fd=dst)
        try:
            _copy_bytes(reader, writer)
            os.fchmod(writer, mode)
            os.utime(writer, ns=times)
        finally:
            os.close(writer)
    finally:
        os.close(reader)


def _copy_bytes(reader: int, writer: int) -> None:
    """All of `reader`'s bytes into `writer`: `copy_file_range` (a reflink where the file system
    can), else, where the kernel or file system cannot do it (another file system, an old
    kernel), read and write."""
    try:
        while os.copy_file_range(reader, writer, _CHUNK):
            pass
        return
    except OSError as error:
        if error.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM):
            raise
    os.lseek(reader, 0, os.SEEK_SET)
    os.lseek(writer, 0, os.SEEK_SET)
    os.ftruncate(writer, 0)
    while block := os.read(reader, 1 << 20):
        view = memoryview(block)
        while view:
            view = view[os.write(writer, view) :]


def tree_digest(source: Path) -> str:
    """A sha256 over what `export_tree` copies: each path, whether it is executable, its bytes
    (a symlink: its target, never followed). Equal digests mean the same candidate code, which
    is how the final phase knows that kept outputs are the chosen experiment's own."""
    digest = hashlib.sha256()
    for folder, folders, files in os.walk(source):
        if folder == str(source):  # a lane's `.git` is a file naming its own worktree: not code
            folders[:] = [name for name in folders if name != ".git"]
            files = [name for name in files if name != ".git"]
        folders.sort()
        base = Path(folder)
        for name in sorted(files + [name for name in folders if (base / name).is_symlink()]):
            path = base / name
            relative = path.relative_to(source).as_posix().encode("utf-8", "surrogateescape")
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                digest.update(b"L\0" + relative + b"\0" + os.fsencode(os.readlink(path)) + b"\0")
            elif stat.S_ISREG(info.st_mode):
                kind = b"X" if info.st_mode & 0o111 else b"F"
                digest.update(kind + b"\0" + relative + b"\0" + _file_digest(path) + b"\0")
    return digest.hexdigest()


def _file_digest(path: Path) -> bytes:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").digest()


def readable_copy(source: Path, target: Path) -> None:
    """Copy a trusted folder (or file) so that the unprivileged sandbox user can read it.

    Symlinks are copied as links and never followed; modes become a+rX, so data the
    owner keeps at 0600 can still be bound read-only into a sandbox that runs as nobody.
    Named pipes, sockets and devices are left out (`_special`).
    """
    if source.is_dir():
        shutil.copytree(source, target, symlinks=True, ignore=_special)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    make_readable(target)


def _special(folder: str, names: list[str]) -> set[str]:
    """The entries of `folder` that are no file, folder or link: a named pipe, a socket, a device.

    None can be copied (opening a pipe waits for a writer; copytree refuses it), none is
    data a scorer reads from a copy, and a socket some tool left in the scorer's folder made
    every run of the task stop at its start with an internal error.
    """
    kept = (stat.S_ISREG, stat.S_ISDIR, stat.S_ISLNK)
    modes = {name: os.lstat(os.path.join(folder, name)).st_mode for name in names}
    return {name for name, mode in modes.items() if not any(test(mode) for test in kept)}


def make_readable(root: Path) -> None:
    for path in [root, *root.rglob("*")] if root.is_dir() else [root]:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            continue
        extra = 0o555 if stat.S_ISDIR(info.st_mode) else 0o444
        os.chmod(path, stat.S_IMODE(info.st_mode) | extra)


def remove_tree(root: Path) -> None:
    """Remove a tree a candidate may have made hostile (modes 000, odd owners, nested past
    PATH_MAX or past any recursion limit); never follows links. Best effort: what cannot be
    removed stays (and `reap` tries again later), an error never stops the caller."""
    if root.is_symlink() or (root.exists() and not root.is_dir()):
        root.unlink()
        return
    if not root.exists():
        return

    def visit(fd: int, name: str, _rel: str, info: os.stat_result) -> None:
        with contextlib.suppress(OSError):
            if stat.S_ISDIR(info.st_mode):
                os.chmod(name, 0o700, dir_fd=fd)  # a folder left at 000 by its non-root owner
            else:
                os.unlink(name, dir_fd=fd)

    def leave(fd: int, name: str) -> None:
        with contextlib.suppress(OSError):
            os.rmdir(name, dir_fd=fd)

    with contextlib.suppress(OSError):
        os.chmod(root, 0o700)
    with contextlib.suppress(OSError):
        walk_beneath(root, visit, leave)
        os.rmdir(root)


def reap(parent: Path) -> list[Path]:
    """Remove evaluation folders whose process is gone (left by a kill); the ones removed."""
    removed = []
    if not parent.is_dir():
        return removed
    for entry in parent.iterdir():
        owner = entry.name.split("-", 1)[0]
        if owner.isdigit() and not process_alive(int(owner)):
            remove_tree(entry)
            removed.append(entry)
    return removed
