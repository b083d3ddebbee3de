"""The path guard: which paths an answer may write in the workspace, and why not the others."""

from __future__ import annotations

import fnmatch
import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from agent.run import UnsafePathError, safe_path
from evaluators.integrity import expand


@dataclass(frozen=True)
class PathGuard:
    """Which paths an answer may write: inside `root`, not in .git, not a protected evaluator file."""

    root: Path
    protected: tuple[str, ...] = ()
    _ignored: dict[str, bool] = field(
        default_factory=dict, compare=False, repr=False
    )  # git's answers, by path

    def refusal(self, path: str) -> str | None:
        """Why `path` may not be written, or None when it may."""
        pure = PurePosixPath(path)
        if not path or pure.is_absolute() or path.startswith("~") or ".." in pure.parts:
            return f"{path!r} is outside the workspace; use a path relative to the workspace root"
        try:
            target = safe_path(self.root, path)
        except UnsafePathError as error:
            return str(error)
        root = self.root.resolve()
        if path.endswith("/") or target == root or target.is_dir():
            return f"{path!r} is a folder, not a file; name the file to write"
        for folder in target.parents:
            if folder == root:
                break
            if folder.exists() and not folder.is_dir():
                return f"{path!r} goes through {folder.relative_to(root).as_posix()!r}, which is a file, not a folder"
        # through a link inside the workspace (`alias.py -> evaluate.py`, `tools -> .`): judge the file written
        real = target.relative_to(root).as_posix()
        if real != PurePosixPath(path).as_posix() and any(
            part.lower().startswith(".git") for part in PurePosixPath(real).parts
        ):
            return f"{path!r} leads through a link to {real!r}, git's own files; candidates may not write it"
        if self.is_protected(path) or self.is_protected(real):
            shown = path if self.is_protected(path) else f"{path} (a link to {real})"
            return f"{shown!r} is a protected evaluator file; it is read-only and edits to it are refused"
        if real not in self._ignored:
            self._ignored[real] = _git_ignores(self.root, real)
        if self._ignored[real]:
            return (
                f"{path!r} is ignored by git (.gitignore): experiments are commits, so it would be lost "
                "before the evaluation; write the code in a file git keeps"
            )
        return None

    def is_protected(self, path: str) -> bool:
        normal = PurePosixPath(path).as_posix()
        for pattern in self.protected:
            bare = pattern.rstrip("/")
            if fnmatch.fnmatch(normal, pattern) or normal == bare or normal.startswith(bare + "/"):
                return True
        return normal in expand(self.root, self.protected) if self.protected else False


def _git_ignores(root: Path, path: str) -> bool:
    """Whether git ignores `path` in the checkout `root` (False when `root` is no git checkout)."""
    try:
        done = subprocess.run(
            ["git", "check-ignore", "-q", "--", path], cwd=root, capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0
