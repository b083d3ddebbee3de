"""The host files a sandboxed command needs to run Python: what docker and bwrap bind.

Candidates run under the same interpreter and virtual environment as strop
(numpy, scikit-learn, …), so nothing has to be installed into an image and the
image needs no registry. The runtime is the smallest read-only view of the host
that makes that work: `/usr` (with the merged-usr links `/bin`, `/lib`, …), the
dynamic linker's cache, the interpreter's prefix, the venv, and the folders of
strop's `evaluators` and `sandbox` packages when strop is installed in editable
mode (so a built-in evaluator can be run as `python -m evaluators.…`). Nothing else of the host is
visible: not `/home`, not `/root`, not the rest of `/etc`, not the repository's
other files (a stray `.env` in the repo stays outside).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sandbox.environment import python_bin_dir

SANDBOX_PACKAGES = ("evaluators", "sandbox")
_TOP_DIRS = ("bin", "sbin", "lib", "lib64", "lib32", "libx32")
_ETC_FILES = ("ld.so.cache", "localtime", "alternatives")


@dataclass(frozen=True)
class Runtime:
    """Read-only host paths to bind at the same place, and top-level links to recreate."""

    binds: tuple[Path, ...]
    links: tuple[tuple[str, str], ...]
    python_bin: Path

    @classmethod
    def detect(cls) -> Runtime:
        return _detect()

    def inside(self, folder: Path) -> tuple[Path, ...]:
        """The binds that lie inside `folder` (they must not be lent or written)."""
        return tuple(path for path in self.binds if folder in path.parents)


def _minimal(paths: list[Path]) -> tuple[Path, ...]:
    """Drop paths that lie inside another path of the list; keep the order."""
    kept: list[Path] = []
    for path in paths:
        if path in kept or any(other in path.parents for other in paths if other != path):
            continue
        kept.append(path)
    return tuple(kept)


def _strop_packages() -> list[Path]:
    """Folders of the packages a built-in evaluator may need (outside the venv when editable).

    Only `evaluators` and `sandbox`: never the whole project, whose `benchmarks/tasks`
    hold the bundled tasks' private answers and whose other folders are no business
    of a candidate's.
    """
    folders: list[Path] = []
    for name in SANDBOX_PACKAGES:
        spec = importlib.util.find_spec(name)
        for location in (spec.submodule_search_locations or []) if spec else []:
            folders.append(Path(location).resolve())
    return folders


@cache
def _detect() -> Runtime:
    root = Path("/")
    links: list[tuple[str, str]] = []
    paths: list[Path] = [Path("/usr")]
    for name in _TOP_DIRS:
        path = root / name
        if path.is_symlink():
            links.append((f"/{name}", os.readlink(path)))
        elif path.is_dir():
            paths.append(path)
    paths += [Path("/etc") / name for name in _ETC_FILES if (Path("/etc") / name).exists()]
    paths += [Path(sys.base_prefix).resolve(), Path(sys.prefix).absolute()]
    paths += _strop_packages()
    return Runtime(
        binds=_minimal([p for p in paths if p.exists()]), links=tuple(links), python_bin=python_bin_dir()
    )
