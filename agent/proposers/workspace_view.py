"""What the model sees of the workspace: its text files, editable first, within a size budget.

`workspace_files` walks the checkout (skipping hidden and tool folders without entering
them), shows each text file whole or cut to the budget, marks the evaluator's files
read-only and lists what it left out and why; `editable_paths` is the list a structured answer
may name. Kept apart from the proposer because both text and JSON prompts use it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from evaluators.integrity import expand

SKIP_DIRS = {".git", "__pycache__", ".venv", "venv", "node_modules", ".mypy_cache", ".pytest_cache"}
LANGS = {
    ".py": "python",
    ".json": "json",
    ".toml": "toml",
    ".md": "markdown",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".sh": "bash",
    ".c": "c",
    ".h": "c",
    ".cpp": "cpp",
    ".rs": "rust",
    ".js": "javascript",
    ".ts": "typescript",
    ".txt": "",
    ".cfg": "ini",
    ".ini": "ini",
}


@dataclass(frozen=True)
class ShownFile:
    path: str
    text: str
    lang: str
    fence: str
    readonly: bool
    truncated: bool
    size: int
    shown: int


def listing(root: Path) -> list[str]:
    """Workspace-relative paths of regular files, skipping hidden and tool folders without entering them."""
    found: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        for name in files:
            path = Path(folder) / name
            if not name.startswith(".") and path.is_file() and not path.is_symlink():
                found.append(path.relative_to(root).as_posix())
    return sorted(found)


def read_text(path: Path, chars: int) -> tuple[str, int] | str:
    """At most `chars` characters of a UTF-8 file and its size in bytes; or why it is not shown."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        data = handle.read(chars * 4 + 4)
    if b"\0" in data[:8192]:
        return "binary"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        if len(data) < size and error.start >= len(data) - 4:  # a character cut by the bounded read
            text = data[: error.start].decode("utf-8", errors="replace")
        else:
            return "not UTF-8"
    return text, size


def workspace_files(
    root: Path, protected: tuple[str, ...], max_chars: int, per_file: int, max_omitted: int = 30
) -> tuple[list[ShownFile], list[str]]:
    """The text files under `root` to show the model (editable first), within `max_chars`; and the rest."""
    protected_set = set(expand(root, protected)) if protected else set()
    paths = listing(root)
    ordered = [p for p in paths if p not in protected_set] + [p for p in paths if p in protected_set]
    shown: list[ShownFile] = []
    omitted: list[str] = []
    budget = max_chars
    for rel in ordered:
        room = min(per_file, budget)
        if room < 200:
            omitted.append(f"{rel} (prompt size limit)")
            continue
        read = read_text(root / rel, room)
        if isinstance(read, str):
            omitted.append(f"{rel} ({read})")
            continue
        text, size = read
        cut = text[:room]
        truncated = len(cut) < len(text) or len(cut.encode()) < size
        shown.append(
            ShownFile(
                path=rel,
                text=cut.rstrip("\n"),
                lang=LANGS.get(Path(rel).suffix, ""),
                fence="````" if "```" in cut else "```",
                readonly=rel in protected_set,
                truncated=truncated,
                size=size,
                shown=len(cut),
            )
        )
        budget -= len(cut)
    if len(omitted) > max_omitted:
        omitted = [*omitted[:max_omitted], f"and {len(omitted) - max_omitted} more"]
    return shown, omitted


def editable_paths(root: Path, protected: tuple[str, ...]) -> list[str]:
    """The workspace files a structured answer may name: every listed file but the evaluator's."""
    closed = set(expand(root, protected)) if protected else set()
    return [path for path in listing(root) if path not in closed][:200]
