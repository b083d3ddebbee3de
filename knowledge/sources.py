"""Which files a path stands for: a file, a folder, or a git repository.

In a git work tree the files are those git knows (tracked plus untracked but
not ignored: `git ls-files -co --exclude-standard`), so `.gitignore` is
honoured; elsewhere a walk skips hidden folders, virtual environments, caches
and build outputs. Binary-looking suffixes and files over the size cap are
left out before they are read.
"""

from __future__ import annotations

import os
import subprocess
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


def _wanted(path: Path) -> bool:
    suffix = path.suffix.lower()
    if suffix in _SKIP_SUFFIXES:
        return False
    try:
        size = path.stat().st_size
    except OSError:
        return False
    return size <= (MAX_PDF_BYTES if suffix == ".pdf" else MAX_FILE_BYTES)


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


def collect_files(path: Path) -> list[Path]:
    """The files `path` stands for, resolved and sorted."""
    path = path.resolve()
    if path.is_file():
        return [path]
    files = _git_files(path) if (path / ".git").exists() else None
    if files is None:
        files = _walk(path)
    return sorted(p.resolve() for p in files if p.is_file() and _wanted(p))
