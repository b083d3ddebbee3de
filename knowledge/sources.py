"""Which files a path stands for: a file, a folder, or a git repository.

In a git work tree the files are those git knows (tracked plus untracked but
not ignored: `git ls-files -co --exclude-standard`), so `.gitignore` is
honoured; elsewhere a walk skips hidden folders, virtual environments, caches
and build outputs. Binary-looking suffixes are left out of a folder, unread
and unmentioned (a file named alone with such a suffix is refused with a reason).

Some files are refused with a reason the user sees (`Collected.skipped`):
files over the size cap, on both paths (a file given alone and one found in a
folder), so that re-adding a folder never removes a file that a single-file
add accepted; and, in a folder, symlinks whose target resolves outside it,
so `docs/passwd.md -> /etc/passwd` does not carry /etc/passwd into the store
(and from there into LLM prompts). A file named on the command line is the
user's explicit choice and may point anywhere.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

MAX_FILE_BYTES = 2_000_000
MAX_PDF_BYTES = 50_000_000
_SKIP_DIRS = {"node_modules", "__pycache__", "site-packages", "build", "dist", "venv", ".venv", "env"}
_SKIP_SUFFIXES = {
    ".pyc", ".pyo", ".so", ".o", ".a", ".dll", ".dylib", ".exe", ".bin", ".png", ".jpg", ".jpeg", ".gif",
    ".bmp", ".ico", ".svg", ".webp", ".zip", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".tar", ".whl", ".npz",
    ".npy", ".pt", ".pth", ".onnx", ".safetensors", ".pkl", ".parquet", ".feather", ".h5", ".sqlite",
    ".sqlite3", ".db", ".lock", ".woff", ".woff2", ".ttf", ".mp4", ".mp3", ".wav",
}  # fmt: skip


@dataclass
class Collected:
    """The files to read, and the (path, reason) of those refused before reading."""

    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def size_cap(path: Path) -> int:
    """The most bytes a file of this kind may have (PDFs carry fonts and images, so more)."""
    return MAX_PDF_BYTES if path.suffix.lower() == ".pdf" else MAX_FILE_BYTES


def _over_cap(path: Path) -> str | None:
    """'over N MB' when the file is too big to ingest, else None (also None when it cannot be stat'ed)."""
    try:
        size = path.stat().st_size
    except OSError:
        return None
    cap = size_cap(path)
    return f"over {cap // 1_000_000} MB" if size > cap else None


def _git_files(folder: Path) -> list[Path] | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(folder), "ls-files", "-co", "--exclude-standard", "-z"],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return [folder / name for name in out.decode("utf-8", "replace").split("\0") if name]


def _walk(folder: Path) -> list[Path]:
    found = []
    for here, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS)
        found += [Path(here) / f for f in sorted(files) if not f.startswith(".")]
    return found


def _outside(file: Path, folder: Path) -> str | None:
    """Why a folder entry is refused because it links out of `folder`, or None if it stays inside."""
    target = file.resolve()
    if target == folder or folder in target.parents:
        return None
    return f"symlink to {target}, outside {folder}"


def _refusal(file: Path, folder: Path | None) -> str | None:
    """Why `file` is not read (None: read it). `folder` is the folder it was found in, if any."""
    if folder is None:
        suffix = file.suffix.lower()
        return f"binary file type {suffix}" if suffix in _SKIP_SUFFIXES else _over_cap(file)
    return _outside(file, folder) or _over_cap(file)


def collect_files(path: Path) -> Collected:
    """The files `path` stands for, resolved and sorted, and those refused with a reason."""
    path = path.resolve()
    folder = None if path.is_file() else path
    if folder is None:
        candidates = [path]
    else:
        listed = _git_files(folder) if (folder / ".git").exists() else None
        candidates = listed if listed is not None else _walk(folder)
    collected = Collected()
    for file in candidates:
        if not file.is_file() or (folder is not None and file.suffix.lower() in _SKIP_SUFFIXES):
            continue  # a folder's binaries go unmentioned: a repository has many
        reason = _refusal(file, folder)
        if reason:
            collected.skipped.append((str(file), reason))
        else:
            collected.files.append(file.resolve())
    collected.files = sorted(set(collected.files))
    collected.skipped.sort()
    return collected
