"""Which files a path stands for: a file, a folder, or a git repository.

In a git work tree the files are those git knows (tracked plus untracked but
not ignored: `git ls-files -co --exclude-standard`), so `.gitignore` is
honoured, and git runs none of the commands the repository's own config may
name (`core.fsmonitor`); elsewhere a walk skips virtual environments, caches
and build outputs. Both leave out dot-files and dot-folders (`.env`, `.ssh/`):
name one on the command line to add it. Binary-looking suffixes are left out
of a folder, unread and unmentioned (a file named alone with such a suffix is
refused with a reason).

Some files are refused with a reason the user sees (`Collected.skipped`):
files over the size cap, on both paths (a file given alone and one found in a
folder), so that re-adding a folder never removes a file that a single-file
add accepted; and, in a folder, symlinks whose target resolves outside it,
so `docs/passwd.md -> /etc/passwd` does not carry /etc/passwd into the store
(and from there into LLM prompts); a symlink to a folder outside it is refused the
same way (its files are never read), one to a folder inside it passes silently. A file named on the command line is the
user's explicit choice and may point anywhere. Entries that are no regular file
(a FIFO, a device, a socket: reading one may block forever), symlinks that loop
or lead nowhere, and folders that cannot be listed are refused with a reason
too; a folder that cannot be listed is also in `Collected.unlisted`, so the
store keeps what it knew under it instead of taking its files for deleted.

A folder that a task file in the collected tree names as its scorer or its private data
(`[evaluator] scorer`, `private`, `final_private` of a `task.toml`) is left out with a reason:
the store is shared by every task, so a folder of projects added for one task would carry
another's hidden answers into the prompts of that other task's runs. The keys are read with
tomllib here (the store does not depend on the agent), resolved as the agent resolves them.
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

MAX_FILE_BYTES = 2_000_000
MAX_PDF_BYTES = 50_000_000
MAX_NOTEBOOK_BYTES = 50_000_000
_SKIP_DIRS = {"node_modules", "__pycache__", "site-packages", "build", "dist", "venv", ".venv", "env"}
_SKIP_SUFFIXES = {
    ".pyc", ".pyo", ".so", ".o", ".a", ".dll", ".dylib", ".exe", ".bin", ".png", ".jpg", ".jpeg", ".gif",
    ".bmp", ".ico", ".svg", ".webp", ".zip", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".tar", ".whl", ".npz",
    ".npy", ".pt", ".pth", ".onnx", ".safetensors", ".pkl", ".parquet", ".feather", ".h5", ".sqlite",
    ".sqlite3", ".db", ".lock", ".woff", ".woff2", ".ttf", ".mp4", ".mp3", ".wav",
}  # fmt: skip


@dataclass
class Collected:
    """The files to read, the (path, reason) of those refused before reading, and the folders
    that could not be listed (what the store knew under them is kept, not dropped as deleted)."""

    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)


def size_cap(path: Path) -> int:
    """The most bytes a file of this kind may have. PDFs carry fonts and images, and notebooks
    their outputs (a few plots make megabytes of base64; outputs are not ingested), so more."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return MAX_PDF_BYTES
    return MAX_NOTEBOOK_BYTES if suffix == ".ipynb" else MAX_FILE_BYTES


def _over_cap(path: Path) -> str | None:
    """'over N MB' when the file is too big to ingest, else None (also None when it cannot be stat'ed)."""
    try:
        size = path.stat().st_size
    except OSError:
        return None
    cap = size_cap(path)
    return f"over {cap // 1_000_000} MB" if size > cap else None


# A source folder's own git config is not the user's: `core.fsmonitor` there names a command
# that `git ls-files` runs to learn what changed, and a hook (`post-index-change`) runs if git
# rewrites the index. Command-line settings outrank every config file (and its includes).
_GIT_UNTRUSTED = ("-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "--no-pager")
_GIT_REDIRECTS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY")


def _hidden(relative: str) -> bool:
    """Whether a path inside an added folder is a dot-file or lies in a dot-folder (`.env`,
    `.github/`): left out as the folder walk leaves them out, tracked by git or not."""
    return any(part.startswith(".") for part in Path(relative).parts)


def _git_files(folder: Path) -> list[Path] | None:
    """The files git lists in the work tree at `folder` (None: git cannot list them), dot-files
    left out; git runs no command the repository's config names (`_GIT_UNTRUSTED`), and the
    caller's GIT_DIR (strop run from a git hook) cannot point it at another repository."""
    env = {k: v for k, v in os.environ.items() if k not in _GIT_REDIRECTS}
    try:
        out = subprocess.run(
            ["git", *_GIT_UNTRUSTED, "-C", str(folder), "ls-files", "-co", "--exclude-standard", "-z"],
            capture_output=True,
            check=True,
            timeout=60,
            env=env,
            stdin=subprocess.DEVNULL,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    names = out.decode("utf-8", "replace").split("\0")
    return [folder / name for name in names if name and not _hidden(name)]


def _walk(folder: Path, collected: Collected) -> list[Path]:
    """The folder's files; a folder that cannot be listed is refused with its reason (os.walk
    would drop it silently, and the store would take its files for deleted)."""
    found = []

    def refused(error: OSError) -> None:
        where = str(Path(error.filename or folder).absolute())
        collected.unlisted.append(where)
        collected.skipped.append((where, f"folder cannot be listed: {error.strerror or error}"))

    for here, dirs, files in os.walk(folder, onerror=refused):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS)
        for linked in [d for d in dirs if os.path.islink(os.path.join(here, d))]:
            dirs.remove(linked)  # os.walk does not follow it either; say why when it leads out
            _linked_folder(Path(here) / linked, folder, collected)
        found += [Path(here) / f for f in sorted(files) if not f.startswith(".")]
    return found


def _linked_folder(link: Path, folder: Path, collected: Collected) -> None:
    """A symlink to a folder, found in `folder`: one leading outside is refused with the reason a
    file symlink leading outside gets (it was dropped without a word). One leading inside is
    passed over silently: its target is walked anyway, where it lies (unless that is a dot-folder
    or a skipped one such as `node_modules`, which the link does not bring back in)."""
    try:
        reason = _outside(link, folder)
    except (OSError, RuntimeError):  # a loop: os.walk lists a link it cannot follow as a file
        reason = "symlink loop"
    if reason:
        collected.skipped.append((str(link), reason))


_TASK_FILE = "task.toml"
_GUARDED_KEYS = ("scorer", "private", "final_private")


def _guarded_by_tasks(candidates: list[Path]) -> dict[Path, Path]:
    """The scorer and private-data folders that the task files among `candidates` name, resolved
    relative to each task file's folder (as `agent.task` resolves them), each with the task file
    naming it. A task file that cannot be read or parsed names none."""
    guarded: dict[Path, Path] = {}
    for task_file in sorted(c for c in candidates if c.name == _TASK_FILE):
        try:
            evaluator = tomllib.loads(task_file.read_text("utf-8")).get("evaluator")
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        if not isinstance(evaluator, dict):
            continue
        for key in _GUARDED_KEYS:
            value = evaluator.get(key)
            if isinstance(value, str) and value:
                folder = (task_file.parent / Path(value).expanduser()).resolve()
                guarded.setdefault(folder, task_file)
    return guarded


def _within(path: Path, guarded: dict[Path, Path]) -> Path | None:
    """The guarded folder `path` is or lies in (None: none)."""
    return next((g for g in guarded if g == path or g in path.parents), None)


def _target(file: Path) -> Path:
    """Where `file` leads if it is a symlink (itself if not, or if the link loops)."""
    try:
        return file.resolve() if file.is_symlink() else file
    except (OSError, RuntimeError):  # a symlink loop; refused later as one
        return file


def _not_guarded(candidates: list[Path], collected: Collected) -> list[Path]:
    """`candidates` less those in a task's scorer or private data (`_guarded_by_tasks`), by their
    path or, for a symlink, by what it points to; one `skipped` entry per folder left out."""
    guarded = _guarded_by_tasks(candidates)
    if not guarded:
        return candidates
    kept, hit = [], set()
    for file in candidates:
        folder = _within(file, guarded) or _within(_target(file), guarded)
        if folder is None:
            kept.append(file)
        else:
            hit.add(folder)
    for folder in sorted(hit):
        reason = f"a task's scorer or private data, named by {guarded[folder]}"
        collected.skipped.append((str(folder), reason))
    return kept


def _not_a_file(path: Path) -> str | None:
    """Why `path` is no regular file to read (None: it is one). Never opens it: a FIFO would block."""
    try:
        mode = path.stat().st_mode
    except OSError as error:
        if path.is_symlink():
            return "symlink loop" if error.errno == errno.ELOOP else "broken symlink"
        return f"cannot be read: {error.strerror or error}"
    if stat.S_ISREG(mode):
        return None
    kinds = (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
    )
    kind = next((name for test, name in kinds if test(mode)), "")
    return f"not a regular file: {kind}" if kind else None


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
    collected = Collected()
    odd = _not_a_file(path) if not path.is_dir() else None
    if odd:  # a FIFO, a device, a symlink loop named on the command line
        collected.skipped.append((str(path.absolute()), odd))
        return collected
    path = path.resolve()
    folder = None if path.is_file() else path
    if folder is None:
        candidates = [path]
    else:
        listed = _git_files(folder) if (folder / ".git").exists() else None
        candidates = listed if listed is not None else _walk(folder, collected)
        candidates = _not_guarded(candidates, collected)
    for file in candidates:
        if folder is not None and file.suffix.lower() in _SKIP_SUFFIXES:
            continue  # a folder's binaries go unmentioned: a repository has many
        if not file.is_file():
            if (
                folder is not None and file.is_dir() and file.is_symlink()
            ):  # git lists a folder link as a file
                _linked_folder(file, folder, collected)
                continue
            odd = None if file.is_dir() else _not_a_file(file)
            if odd:
                collected.skipped.append((str(file), odd))
            continue
        reason = _refusal(file, folder)
        if reason:
            collected.skipped.append((str(file), reason))
        else:
            collected.files.append(file.resolve())
    collected.files = sorted(set(collected.files))
    collected.skipped.sort()
    return collected
