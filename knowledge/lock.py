"""One writer at a time: an OS file lock next to the store.

Chroma corrupts an index when two processes write the same folder, so every
write (ingest, remove, learn, rebuild) holds `write.lock`. `filelock` uses
`fcntl` here, so a writer that dies releases the lock with its process (no
stale lock files to clean). A second writer waits up to `timeout` seconds and
then fails with `StoreBusy`, naming the folder, instead of hanging. Readers
take no lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from knowledge.errors import StoreBusy

DEFAULT_TIMEOUT_S = 60.0


@contextmanager
def writer_lock(folder: Path, timeout: float = DEFAULT_TIMEOUT_S) -> Iterator[None]:
    from filelock import FileLock, Timeout

    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / "write.lock"))
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise StoreBusy(
            f"another process is writing to the store at {folder} and still held {folder / 'write.lock'} "
            f"after {timeout:.0f}s; try again when it has finished"
        ) from None
    try:
        yield
    finally:
        lock.release()
