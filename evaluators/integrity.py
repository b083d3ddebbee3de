"""Protected evaluator files: a pristine copy, its fingerprint, and tamper detection.

The evaluator's files are snapshotted from the pristine task before any candidate
exists. A candidate whose copy differs (changed, deleted, or a new file matching a
protected pattern) is `tampered` and gets no score; otherwise the pristine copies
are what runs, mounted read-only where the sandbox allows.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

MANIFEST = ".strop-protected.json"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def expand(root: Path, patterns: Iterable[str]) -> list[str]:
    """Workspace-relative paths of the files matching `patterns` (a folder means all under it)."""
    found: set[str] = set()
    for pattern in patterns:
        for match in root.glob(pattern):
            if match.is_symlink() or match.is_file():
                found.add(match.relative_to(root).as_posix())
            elif match.is_dir():
                found.update(
                    p.relative_to(root).as_posix() for p in match.rglob("*") if p.is_file() or p.is_symlink()
                )
    return sorted(found)


def _digest_of(path: Path) -> str:
    if path.is_symlink():
        return "symlink:" + str(path.readlink())
    return sha256_file(path)


@dataclass(frozen=True)
class ProtectedFiles:
    """The pristine evaluator files of one run, kept under `store`."""

    patterns: tuple[str, ...]
    store: Path
    digests: dict[str, str]

    @classmethod
    def snapshot(cls, workspace: Path, patterns: Iterable[str], store: Path) -> ProtectedFiles:
        """Copy the protected files out of the pristine `workspace`; the manifest is written last."""
        patterns = tuple(patterns)
        store.mkdir(parents=True, exist_ok=True)
        digests: dict[str, str] = {}
        for rel in expand(workspace, patterns):
            source = workspace / rel
            digests[rel] = _digest_of(source)
            target = store / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target, follow_symlinks=False)
        manifest = store / MANIFEST
        partial = manifest.with_suffix(".partial")
        partial.write_text(json.dumps({"patterns": list(patterns), "digests": digests}, sort_keys=True))
        os.replace(partial, manifest)
        return cls(patterns=patterns, store=store, digests=digests)

    @classmethod
    def load(cls, store: Path) -> ProtectedFiles | None:
        """The snapshot a run took at its start, or None when it never finished taking one."""
        manifest = store / MANIFEST
        if not manifest.is_file():
            return None
        data = json.loads(manifest.read_text())
        return cls(patterns=tuple(data["patterns"]), store=store, digests=dict(data["digests"]))

    @property
    def fingerprint(self) -> str:
        """One sha256 over every protected file's path and content."""
        digest = hashlib.sha256()
        for rel, file_digest in sorted(self.digests.items()):
            digest.update(f"{rel}\0{file_digest}\n".encode())
        return digest.hexdigest()

    def changes_in(self, checkout: Path) -> list[str]:
        """The protected paths that differ in `checkout` (changed, missing or added)."""
        changed = []
        present = expand(checkout, self.patterns)
        for rel in sorted(set(present) | set(self.digests)):
            path = checkout / rel
            exists = path.is_symlink() or path.exists()
            if rel not in self.digests or not exists or _digest_of(path) != self.digests[rel]:
                changed.append(rel)
        return changed

    def paths_in(self, checkout: Path) -> list[Path]:
        return [checkout / rel for rel in self.digests]
