"""One file written whole or not at all, and durable once written: a temporary file beside it,
fsynced, renamed over it, and its folder fsynced, so a crash (SIGKILL, power loss) leaves the old
file or the new one, never a part of either. Small enough not to want a library for it."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` atomically and durably (see the module docstring)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
