"""What one write to the knowledge store will do, gathered before anything is changed: the files
to embed, the ones whose text changed, those gone from an added folder, and those skipped with
their reason (among them files holding a credential: `credentials`). The store (`store`) then
applies a plan under its writer lock; keeping the plan apart keeps the rules on roots,
exclusions and unchanged hashes testable without Chroma.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from knowledge.chunkers import UnsupportedFile, chunk_file
from knowledge.credentials import find_credentials
from knowledge.entry import Chunk, content_hash
from knowledge.errors import EntryNotFound
from knowledge.manifest import Manifest, under
from knowledge.sources import Collected, collect_files

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
HOLDS_A_CREDENTIAL = "holds a credential"  # the reason on its `skipped (…): path` line


def refuse_url(raw: str | os.PathLike[str]) -> None:
    """Refuse a URL with its own reason. As a path, `https://host/a.pdf` would become
    `./https:/host/a.pdf` and be refused as a file that does not exist, which hides the cause:
    the store reads local files only, and never the network (it runs offline)."""
    text = os.fspath(raw)
    if _URL.match(str(text)) and not Path(text).exists():
        raise EntryNotFound(
            f"{text} is a URL: the knowledge store reads local files and folders only (it works "
            "offline); download it, then add the downloaded file"
        )


def absolute(raw: str | os.PathLike[str]) -> Path:
    """`raw` made absolute with its links resolved; a path that cannot be resolved (a symlink
    loop) is kept as given, made absolute, for `collect_files` to refuse with its reason."""
    path = Path(raw).expanduser()
    try:
        return path.resolve()
    except (RuntimeError, OSError):  # Python 3.11 raises RuntimeError for a symlink loop
        return path.absolute()


@dataclass
class Plan:
    """What one write will do, gathered before any change is made."""

    files: list[tuple[str, str, list[Chunk]]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unsupported: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)
    errors: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    left_out: set[str] = field(default_factory=set)  # exclusions that kept files of this add out
    added: int = 0
    updated: int = 0
    skipped: int = 0


def plan_path(path: Path, manifest: Manifest, plan: Plan, store_root: Path) -> None:
    """Gather what adding `path` changes into `plan` (nothing is written); `manifest` learns its roots."""
    key = str(path)
    if not path.exists() and not path.is_symlink():  # a looping or broken link is reported below
        known = [s for s in manifest.sources if under(s, key)]
        if not known:
            raise EntryNotFound(f"no such file or folder: {path}")
        plan.removed += known
        manifest.roots = [r for r in manifest.roots if not under(r, key)]
        manifest.excluded = [e for e in manifest.excluded if not under(e, key)]
        return
    collected = _not_own(collect_files(path), store_root)
    manifest.excluded = [e for e in manifest.excluded if e != key]  # named again: it is in again
    if path.is_dir() or collected.files:  # a refused single file is no root for `rebuild`
        _add_root(key, manifest)
    files = [f for f in collected.files if not manifest.holds_out(str(f))]
    present = {str(f) for f in files}
    plan.unsupported += [(f, why) for f, why in collected.skipped if not manifest.holds_out(f)]
    held = [str(f) for f in collected.files if str(f) not in present]
    held += [f for f, _ in collected.skipped if manifest.holds_out(f)]
    plan.left_out.update(e for e in manifest.excluded if any(under(h, e) for h in held))
    if path.is_dir():  # files gone from the folder go; those in a folder that could not be listed stay
        plan.removed += [
            s
            for s in manifest.sources
            if under(s, key) and s not in present and not any(under(s, u) for u in collected.unlisted)
        ]
    else:
        plan.removed += [s for s, _ in collected.skipped if s in manifest.sources]
    for file in files:
        _plan_file(file, manifest, plan)


def _not_own(collected: Collected, store_root: Path) -> Collected:
    """`collected` without the store's own files (a store kept inside an added project): its
    manifest and index would be ingested, and changed by that very write, on every `add`."""
    mine = str(store_root)
    return Collected(
        files=[f for f in collected.files if not under(str(f), mine)],
        skipped=[(f, why) for f, why in collected.skipped if not under(f, mine)],
        unlisted=collected.unlisted,
    )


def _add_root(key: str, manifest: Manifest) -> None:
    """Make `key` a root unless a root already covers it (a path inside an exclusion is not covered).

    Roots under it go, but those an exclusion under it separates from it: they are the
    files and folders added back by name from inside a removed folder.
    """
    if manifest.admits(key):
        return
    inner = [e for e in manifest.excluded if under(e, key)]
    kept = [r for r in manifest.roots if not under(r, key) or any(under(r, e) for e in inner)]
    manifest.roots = [*kept, key]


def _plan_file(file: Path, manifest: Manifest, plan: Plan) -> None:
    source = str(file)
    if source in plan.seen:
        return
    plan.seen.add(source)
    try:
        data = file.read_bytes()
    except OSError as error:
        plan.errors.append(f"{source}: {error.strerror}")
        return
    digest = content_hash(data)
    previous = manifest.sources.get(source)
    if previous and previous.get("hash") == digest:
        plan.skipped += 1
        return
    try:
        chunks = _chunks(file, data)
    except UnsupportedFile as error:
        plan.unsupported.append((source, str(error)))
        if previous:
            plan.removed.append(source)
        return
    except ValueError as error:
        plan.errors.append(f"{source}: {error}")
        return
    if previous:
        plan.updated += 1
        plan.replaced.append(source)
    else:
        plan.added += 1
    plan.files.append((source, digest, chunks))


def _chunks(file: Path, data: bytes) -> list[Chunk]:
    """The file's chunks; UnsupportedFile when it has no text, its chunker fails unexpectedly,
    or its text holds a credential (a key, a token, `API_KEY=…`: `credentials`), which would be
    quoted into LLM prompts.

    Chunkers parse whatever lies in a user's folder: a crash on one odd file
    must cost that file, not the whole `add`. ValueError (a malformed
    playbook, which its author should fix) passes through to be reported as
    an error.
    """
    try:
        chunks = chunk_file(file, data)
    except ValueError:
        raise
    except Exception as error:  # noqa: BLE001 - see the docstring
        raise UnsupportedFile(f"cannot read it: {type(error).__name__}: {error}") from None
    if not chunks:
        raise UnsupportedFile("no text")
    if find_credentials("\n".join(chunk.text for chunk in chunks)):
        raise UnsupportedFile(HOLDS_A_CREDENTIAL)
    return chunks
