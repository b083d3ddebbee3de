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

The sealed outputs of the best selection runs are also kept, for a final phase that runs
short of time (`KeptStore`, used by `evaluators.staged`): copied from the sealed folder with
the same walk, frozen read-only in the run's folder, and checked against their digests when
copied back for the final scorer.

Written by hand because the standard library's copy functions follow links or
stat by name (a race a hostile writer can win); `openat` with `O_NOFOLLOW` from
a parent descriptor is the portable way to walk a tree somebody else controls.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

from evaluators.metric import Direction, MetricValue

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


KEEP_ENTRIES = 3
"""Selection runs whose outputs are kept: the best three (a tie the run breaks otherwise is kept too)."""
KEEP_LIMIT = 128 << 20
"""Bytes of one selection run's outputs that may be kept; larger outputs are not kept at all."""
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class KeptOutputs:
    """One selection run's sealed outputs, kept for the final phase (see `KeptStore`)."""

    folder: Path
    name: str  # the evaluation's log name: the experiment (and turn) that made them
    code: str  # `scratch.tree_digest` of the candidate's files
    fingerprint: str  # the evaluator's: the same scorer, public and private data
    metric: float
    order: float  # when it was kept: the earlier wins a tie, as the run's best does
    run_seconds: float  # stage `run`'s wall time (the first fold's with folds)
    score_seconds: float
    fold: int | None  # the fold whose run made them (None without folds)
    files: dict[str, str]  # relative path: sha256
    run_stats: dict[str, object] | None = None  # `run_stats.figures` of that run (None: kept before)

    @property
    def outputs(self) -> Path:
        return self.folder / "outputs"


class KeptStore:
    """The best selection runs' sealed outputs, in the run's own folder, for a final phase short of time.

    A task's final phase runs the chosen experiment once more (see `evaluators.staged`); when that
    run gives no verdict before the run's deadline, the outputs its selection run made are graded
    instead. They are copied here from the sealed folder (never from what the candidate can still
    reach), with the same descriptor-relative walk as sealing, at most `KEEP_LIMIT` bytes, for the
    `KEEP_ENTRIES` best selection verdicts by the task's metric; the rest are removed as better
    ones arrive, so the store stays bounded whatever the run's length.

    An entry is `<root>/<code digest>/` holding `outputs/` (files 0444, folders 0555) and a
    manifest with each file's sha256, the code digest of the candidate that made them and the
    evaluator's fingerprint. The root is in the run's folder: no sandbox binds it, so no candidate
    of docker or bwrap can see or write it (a `local` one can, as it can write anything of the
    user's). `restore` copies an entry into a fresh sealed folder and checks every file's digest
    there, on the copy the scorer then reads: an entry changed after it was kept, or one made by
    other code, is never graded.
    """

    def __init__(self, root: Path, direction: Direction, limit: int = KEEP_LIMIT) -> None:
        self.root = root
        self.direction = direction
        self.limit = limit
        self._lock = threading.Lock()

    @property
    def pending(self) -> Path:
        """Where copies wait for their evaluation's verdict (folders `<pid>-<token>`, reaped)."""
        return self.root / "pending"

    def copy(self, sealed: Path, into: Path) -> Sealed | None:
        """Copy a sealed folder to `into`; None (and nothing left) when it is over `limit` bytes."""
        try:
            return seal_outputs(sealed, into, self.limit)
        except SealError:
            _remove(into)
            return None

    def add(self, copied: Path, entry: KeptOutputs) -> None:
        """Keep `copied` (a folder `copy` wrote) as `entry`, then drop all but the best entries."""
        with self._lock:
            target = self.root / entry.code
            if target.exists():  # the same code was kept already: the earlier copy stays
                _remove(copied)
                return
            manifest = {**_fields(entry), "files": _digests(copied)}
            staged = copied.parent / f"{copied.name}.entry"
            try:
                staged.mkdir(mode=0o755)
                copied.rename(staged / "outputs")
                (staged / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
                _freeze(staged)
                staged.rename(target)  # then read-only itself: moving a folder writes its `..`
                os.chmod(target, 0o555)
            finally:
                _remove(staged)
            self._prune(entry.fingerprint)

    def clear(self) -> None:
        """Remove every entry: the final phase has given its verdict, which is never asked again."""
        with self._lock:
            _remove(self.root)

    def find(self, code: str, fingerprint: str) -> KeptOutputs | None:
        """The entry made by the candidate whose files digest to `code`, under this evaluator."""
        with self._lock:
            entry = self._read(self.root / code)
        if entry is None or entry.code != code or entry.fingerprint != fingerprint:
            return None
        return entry

    def restore(self, entry: KeptOutputs, sealed: Path) -> Sealed:
        """Copy `entry`'s outputs into `sealed` and check them there against the manifest."""
        copied = seal_outputs(entry.outputs, sealed, self.limit)
        if _digests(sealed) != entry.files:
            raise SealError(f"the outputs kept from {entry.name} were changed after they were kept")
        return copied

    def _entries(self) -> list[KeptOutputs]:
        if not self.root.is_dir():
            return []
        found = [self._read(path) for path in self.root.iterdir() if path.name != "pending"]
        return [entry for entry in found if entry is not None]

    def _prune(self, fingerprint: str) -> None:
        entries = self._entries()
        mine = [entry for entry in entries if entry.fingerprint == fingerprint]
        mine.sort(key=lambda entry: (MetricValue(entry.metric, self.direction), -entry.order), reverse=True)
        keep = {entry.folder for entry in mine[:KEEP_ENTRIES]}
        for entry in entries:
            if entry.folder not in keep:
                _remove(entry.folder)

    def _read(self, folder: Path) -> KeptOutputs | None:
        try:
            data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
            return KeptOutputs(folder=folder, **data)
        except (OSError, ValueError, TypeError):
            return None


def _fields(entry: KeptOutputs) -> dict[str, object]:
    return {
        "name": entry.name,
        "code": entry.code,
        "fingerprint": entry.fingerprint,
        "metric": entry.metric,
        "order": entry.order,
        "run_seconds": entry.run_seconds,
        "score_seconds": entry.score_seconds,
        "fold": entry.fold,
        "run_stats": entry.run_stats,
    }


def _digests(folder: Path) -> dict[str, str]:
    """Each regular file under `folder` (strop's own copy: no link in it) by relative path: its sha256."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            found[path.relative_to(folder).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _freeze(folder: Path) -> None:
    """Read-only for everyone, strop included: a kept entry is never written again, only removed."""
    for path in sorted(folder.rglob("*"), reverse=True):
        if not path.is_symlink():
            os.chmod(path, 0o555 if path.is_dir() else 0o444)


def _remove(folder: Path) -> None:
    from evaluators.scratch import remove_tree

    remove_tree(folder)
