"""A run's fingerprint: what decides whether a point of its search space crashes.

Failing regions learned from crashes are true of one version of the code and
the evaluator, not of the task's name: a run of code that crashed for a > 0.6,
then fixed by the user, was still steered out of a ≥ 0.595 by the regions of the
buggy run. So every trace carries its run's fingerprint, and a run uses only
the regions learned under its own (`knowledge.Memory.failing_regions`).

The fingerprint hashes:
- experiment 0's files: the git tree of the run's base commit (the workspace as
  the run started; a resumed run has the same one), as `path blob-id` lines, or,
  for a workspace without a run, a content hash of its files (less what a managed
  copy of the workspace leaves out: `.git`, caches, `.venv`).
  Two files are left out: the proposer's params file (it holds experiment 0's
  point, which the regions are about; a warm start from a run's best point keeps
  its regions) and the task file when it lies in the workspace (a new budget does
  not change what crashes; the evaluator part of it is hashed on its own);
- the `[evaluator]` spec (command, timeout, limits, sandbox: a timeout is a crash);
- for a two-stage task, the digests of the run's snapshot of the scorer and its
  data (`TrustedFiles.fingerprint`); without a run, the scorer folder's contents.

A file the offline proposer edits in place (`[proposer] marked`) is hashed with
its experiment 0 values, so a warm start from another point of such a task
starts its regions afresh: at worst two crashes are paid again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.task import Task

_UNHASHED_FOLDERS = frozenset({".git", "__pycache__", ".venv", ".strop", ".pytest_cache"})


_LATER_FIELDS = ("mounts",)
"""`[evaluator]` keys added after runs were fingerprinted: left out of the digest while empty."""


def evaluator_identity(task: Task) -> str:
    """The `[evaluator]` as the fingerprint reads it: fields added later count only when set, so a
    task's fingerprint stays what its earlier runs recorded (with an empty `mounts` in it, every
    task's changed, and the failing regions learned before stopped steering)."""
    unset = {name for name in _LATER_FIELDS if not getattr(task.evaluator, name)}
    return task.evaluator.model_dump_json(exclude=unset)


def run_fingerprint(task: Task, run: Any = None) -> str:
    """The fingerprint of `run` of `task` (or of the workspace as it is, without a run)."""
    digest = hashlib.sha256()
    skipped = _skipped(task)
    if run is not None:
        listing = run.repo.git.ls_tree("-r", "-z", "--full-tree", run.record.base_commit)
        for entry in sorted(listing.split("\0")):
            meta, _, path = entry.partition("\t")
            if path and path not in skipped:
                digest.update(f"{path}\0{meta.split()[-1]}\n".encode())
    else:
        _hash_folder(digest, task.workspace, skipped)
    digest.update(b"\0evaluator\0" + evaluator_identity(task).encode())
    digest.update(b"\0trusted\0" + _trusted(task, run).encode())
    return digest.hexdigest()[:16]


def _skipped(task: Task) -> set[str]:
    """The workspace-relative paths left out of the hash (see the module docstring)."""
    skipped = {Path(task.spec.proposer.params_file).as_posix()}
    with contextlib.suppress(ValueError):  # the task file may lie outside the workspace
        skipped.add(task.path.resolve().relative_to(task.workspace).as_posix())
    return skipped


def _trusted(task: Task, run: Any) -> str:
    """The digest of the scorer and its data: the run's snapshot, else the scorer folder as it is."""
    sources = task.trusted_sources()
    if sources is None:
        return ""
    if run is not None:
        from evaluators.trusted import TrustedFiles

        snapshot = TrustedFiles.load(run.folder / "evaluator" / "trusted")
        if snapshot is not None:
            return snapshot.fingerprint
    digest = hashlib.sha256()
    _hash_folder(digest, sources.scorer, set())
    return digest.hexdigest()


def _hash_folder(digest: Any, root: Path, skipped: set[str]) -> None:
    """Add every file under `root` (path and content; caches aside) to `digest`, in a stable order."""
    if root.is_file():
        digest.update(root.read_bytes())
        return
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _UNHASHED_FOLDERS)
        for name in sorted(files):
            path = Path(folder) / name
            relative = path.relative_to(root).as_posix()
            if relative in skipped or name.endswith(".pyc"):
                continue
            content = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
            digest.update(f"{relative}\0{hashlib.sha256(content).hexdigest()}\n".encode())
