"""The trusted side of a two-stage task: the scorer's files and the data candidates never see.

At a run's start the scorer folder, the validate phase's private data and the
public data (the final phase's too) are copied into the run's own folder (readable by the sandbox user,
see `scratch.readable_copy`) and fingerprinted, so that every experiment of the
run is scored by the same scorer on the same data, and a file changed mid-run
changes nothing. The final phase's private data is not copied here: it is read
once, at the end, for the hidden test (see `staged.StagedEvaluator`).

The copies are the user's answers: no other local user may read them. The store is
0700, and so is its private data where the sandbox runs as the user (not root). Under
root the sandbox runs as a uid of its own, so the private data stays a+rX for it, behind
the store's 0700: the sandbox gets the folder bound in at its path, never walks the store.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from evaluators.integrity import sha256_file
from evaluators.scratch import readable_copy, remove_tree

MANIFEST = "trusted.json"


@dataclass(frozen=True)
class TrustedSources:
    """Where the task keeps its trusted folders (resolved host paths)."""

    scorer: Path
    private: Path | None = None
    final_private: Path | None = None
    public: Path | None = None
    final_public: Path | None = None


@dataclass(frozen=True)
class TrustedFiles:
    """The run's snapshot of the trusted folders, under `store`."""

    store: Path
    digests: dict[str, str]
    final_private: Path | None

    @property
    def scorer(self) -> Path:
        return self.store / "scorer"

    @property
    def private(self) -> Path | None:
        path = self.store / "private"
        return path if path.exists() else None

    @property
    def public(self) -> Path | None:
        path = self.store / "public"
        return path if path.exists() else None

    @property
    def final_public(self) -> Path | None:
        path = self.store / "final_public"
        return path if path.exists() else None

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for rel, file_digest in sorted(self.digests.items()):
            digest.update(f"{rel}\0{file_digest}\n".encode())
        return digest.hexdigest()

    @classmethod
    def snapshot(cls, sources: TrustedSources, store: Path) -> TrustedFiles:
        """Copy the trusted folders into `store`; the manifest, written last, marks it complete."""
        if store.exists():
            remove_tree(store)
        store.mkdir(mode=0o700, parents=True)
        for name in ("scorer", "private", "public", "final_public"):
            source = getattr(sources, name)
            if source is not None:
                readable_copy(source, store / name)
        if sources.private is not None and os.getuid() != 0:
            _owner_only(store / "private")
        digests = _digests(store)
        final = str(sources.final_private) if sources.final_private else None
        partial = store / (MANIFEST + ".partial")
        partial.write_text(json.dumps({"digests": digests, "final_private": final}, sort_keys=True))
        os.replace(partial, store / MANIFEST)
        return cls(store=store, digests=digests, final_private=sources.final_private)

    @classmethod
    def load(cls, store: Path) -> TrustedFiles | None:
        """The snapshot a run took at its start, or None when it never finished taking one."""
        manifest = store / MANIFEST
        if not manifest.is_file():
            return None
        data = json.loads(manifest.read_text())
        final = data.get("final_private")
        return cls(store=store, digests=dict(data["digests"]), final_private=Path(final) if final else None)


def _owner_only(root: Path) -> None:
    """`root`'s folders 0700 (its files stay readable by the user, as copied): the sandbox that reads
    them runs as the user."""
    for path in [root, *root.rglob("*")] if root.is_dir() else []:
        if path.is_dir() and not path.is_symlink():
            os.chmod(path, 0o700)


def _digests(store: Path) -> dict[str, str]:
    digests: dict[str, str] = {}
    for path in sorted(store.rglob("*")):
        rel = path.relative_to(store).as_posix()
        if path.is_symlink():
            digests[rel] = "symlink:" + os.readlink(path)
        elif path.is_file():
            digests[rel] = sha256_file(path)
    return digests
