"""The path guard: which paths an answer may write in the workspace, and why not the others."""

from __future__ import annotations

import fnmatch
import re
import subprocess
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from agent.run import UnsafePathError, safe_path
from evaluators.integrity import expand

TOOL_CONFIG: dict[str, str] = {
    ".git/": "git's own files: hooks and config run code at the next git command",
    ".gitattributes": "names the filters and diff drivers git runs on checkout, add and diff",
    ".gitmodules": "submodule URLs and update commands git fetches and runs",
    ".pre-commit-config.yaml": "the hooks pre-commit installs and runs at the next commit",
    ".github/": "GitHub Actions workflows, run on the next push",
    ".gitlab-ci.yml": "the GitLab CI pipeline, run on the next push",
    ".circleci/": "the CircleCI pipeline, run on the next push",
    ".travis.yml": "the Travis CI build, run on the next push",
    ".husky/": "the git hooks husky points git at, run at the next commit",
    "lefthook.yml": "the git hooks lefthook runs at the next commit",
    ".lefthook.yml": "the git hooks lefthook runs at the next commit",
    "lefthook-local.yml": "the git hooks lefthook runs at the next commit",
    ".forgejo/": "Forgejo Actions workflows, run on the next push",
    ".gitea/": "Gitea Actions workflows, run on the next push",
    ".woodpecker.yml": "the Woodpecker CI pipeline, run on the next push",
    ".woodpecker/": "the Woodpecker CI pipelines, run on the next push",
    ".drone.yml": "the Drone CI pipeline, run on the next push",
    "azure-pipelines.yml": "the Azure Pipelines build, run on the next push",
    "bitbucket-pipelines.yml": "the Bitbucket Pipelines build, run on the next push",
    ".buildkite/": "the Buildkite pipeline, run on the next push",
    "jenkinsfile": "the Jenkins pipeline, run on the next push (matched without case: Jenkinsfile)",
    ".envrc": "shell code direnv runs on entering the folder",
    ".mise.toml": "hooks and tasks mise runs on entering the folder",
    "mise.toml": "hooks and tasks mise runs on entering the folder",
    ".devcontainer/": "devcontainer.json's postCreateCommand, run when the folder is opened in a container",
    ".vscode/": "tasks.json, settings.json: commands VS Code runs on opening the folder, tools it starts",
    "task.toml": "a strop task: the commands, sandbox, mounts and scorer the next `strop run` of it uses",
    "jobs.toml": "strop nightly jobs: the tasks and searches `strop nightly run` starts",
}
"""Paths that make a tool run code on the user's machine or CI, with what each runs.

A candidate is only ever run in the sandbox, but `strop adopt` brings its files into the
user's branch, where these run with the user's rights without anyone running the artifact:
a hostile LLM reply that wrote `.pre-commit-config.yaml` ran its hook at the user's next
commit. No task needs them to improve a metric, so the guard refuses them (the task has no
way to declare a file editable) and `strop adopt` refuses an experiment that changes one
unless told `--allow-config-files`. A name ending in `/` is a folder, matched as any part of
the path; the others are files, matched by name in any folder (`.envrc` and
`.gitattributes` act where they are; a workspace may be a folder inside the user's repo).
Matched without case: on a case-insensitive disk `.GitHub/` is `.github/`.
"""


def tool_config(path: str) -> str | None:
    """The `TOOL_CONFIG` entry `path` falls under (`.github/`, `.envrc`…), or None; names are compared
    as the protected-file check compares them (`_folded`: case and Unicode compatibility forms)."""
    parts = [_folded(part) for part in PurePosixPath(path).parts]
    for name in TOOL_CONFIG:
        if (name.endswith("/") and name[:-1] in parts) or (parts and parts[-1] == name):
            return name
    return None


@dataclass(frozen=True)
class PathGuard:
    """Which paths an answer may write: inside `root`, not in .git, not a tool's configuration
    (`TOOL_CONFIG`), not a protected evaluator file."""

    root: Path
    protected: tuple[str, ...] = ()
    _ignored: dict[str, bool] = field(
        default_factory=dict, compare=False, repr=False
    )  # git's answers, by path

    def refusal(self, path: str) -> str | None:
        """Why `path` may not be written, or None when it may."""
        if not path:
            return "an empty path names no file; write the file's path relative to the workspace root"
        if refused := look_alike_refusal(path):
            return refused
        pure = PurePosixPath(path)
        if pure.is_absolute() or path.startswith("~") or ".." in pure.parts:
            return f"{path!r} is outside the workspace; use a path relative to the workspace root"
        # before `safe_path`, which refuses every `.git*` path (.github/, .gitattributes…) as "git's own
        # files": the model is told what the file would run, and where
        if refused := _tool_config_refusal(path, path):
            return refused
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
        if refused := _tool_config_refusal(path, real):
            return refused
        if self.is_protected(path) or self.is_protected(real):
            shown = path if self.is_protected(path) else f"{path} (a link to {real})"
            return f"{shown!r} is a protected evaluator file; it is read-only and edits to it are refused"
        if twin := self.protected_twin(path) or self.protected_twin(real):
            return (
                f"{path!r} is the protected evaluator file {twin!r} in another letter case or Unicode form: "
                "on a case-insensitive disk (macOS, Windows) it is that very file; it is read-only and edits "
                "to it are refused"
            )
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

    def protected_twin(self, path: str) -> str | None:
        """The protected path `path` names once letter case and Unicode form are set aside, or None.

        `Train.py` beside a protected `train.py` is a new file on Linux, but on macOS's and Windows'
        case-insensitive disks it is `train.py` itself, and `strop adopt` would write it there;
        `train.py` with a fullwidth `t` (U+FF54) reads as it too. Refusing a twin costs no task anything.
        """
        if not self.protected:
            return None
        mine = _folded(PurePosixPath(path).as_posix())
        for pattern in self.protected:
            bare = pattern.rstrip("/")
            if mine == _folded(bare) or fnmatch.fnmatchcase(mine, _folded(pattern)):
                return pattern
            if mine.startswith(_folded(bare) + "/"):  # a file under a protected folder: shown under it
                depth = len(PurePosixPath(bare).parts)
                return PurePosixPath(bare, *PurePosixPath(path).parts[depth:]).as_posix()
        return next((known for known in expand(self.root, self.protected) if _folded(known) == mine), None)


_INVISIBLE_CATEGORIES: dict[str, str] = {
    "Cc": "a NUL or control character",
    "Cf": "an invisible format character",
    "Zs": "a space that is not a plain space",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
    "Cs": "a lone surrogate (no file name can hold it)",
    "Co": "a private-use character (no agreed glyph)",
    "Cn": "an unassigned character (no glyph)",
}
"""Unicode categories a path may not hold, with what each is, for the model.

A name holding one shows exactly like another (`train.py` and a zero-width space is `train.py`
in `strop show` and in a diff's stat), or reorders what is shown around it (U+202E), or cannot be written:
Cc controls (C1 ones too: U+009B starts a terminal escape), Cf format characters (zero-width
space and joiners, bidi overrides, the BOM, the soft hyphen), Zs spaces other than U+0020
(no-break, en, em, ideographic: a name with one looks like one with a plain space), Zl and Zp
(they break the line the name is shown on), Cs lone surrogates (not encodable: the guard
crashed on one), Co private use and Cn unassigned (no glyph, or an unknown one). A plain
space inside a name is legal: people name files so. Combining marks (Mn) stay legal, since a
decomposed `café.py` is written with one, except the ones in `_BLANK_MARKS`.
"""

_BLANK_MARKS = frozenset(
    [0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180B, 0x180C, 0x180D, 0x180F, 0x2800, 0x3164, 0xFFA0]
    + list(range(0xFE00, 0xFE10))
    + list(range(0xE0100, 0xE01F0))
)
"""Characters outside `_INVISIBLE_CATEGORIES` that draw nothing: the default-ignorable code points
of other categories (the combining grapheme joiner, variation selectors, Mongolian and Khmer
vowel marks, Hangul fillers) and U+2800, the blank braille pattern."""


def look_alike_refusal(path: str) -> str | None:
    """Why `path` may not be written as a name that reads as another, or None.

    Refused: an invisible or blank character (`_INVISIBLE_CATEGORIES`, `_BLANK_MARKS`), a
    backslash (on Linux and macOS part of a name, so `.\\train.py` is a new file named so; a
    model that means a folder by it would be surprised either way), and a name that begins or
    ends with a space (`train.py ` shows as `train.py`; Windows drops the space), and a name mixing
    Latin letters with look-alike ones of another script (`_LOOK_ALIKE_SCRIPTS`).
    """
    for char in path:
        category = unicodedata.category(char)
        what = _INVISIBLE_CATEGORIES.get(category) if char != " " else None
        if what is None and ord(char) in _BLANK_MARKS:
            what = "a character that draws nothing"
        if what is not None:
            name = unicodedata.name(char, "") if category != "Cs" else ""
            shown = f"U+{ord(char):04X}" + (f" {name}" if name else "")
            return (
                f"{path!r} holds {what} ({shown}): the name would look like another file's, or could "
                "not be written; write the path with visible characters only"
            )
    if "\\" in path:
        return (
            f"{path!r} holds a backslash: write folders with '/' (on Linux and macOS a backslash is part "
            "of the file name, not a folder separator)"
        )
    if any(part != part.strip(" ") for part in path.split("/")):
        return (
            f"{path!r} has a name that begins or ends with a space, so it shows like the name without it; "
            "write the path without those spaces"
        )
    for part in path.split("/"):
        if mixed := _mixed_scripts(part):
            return (
                f"{path!r} has a word mixing Latin letters with {mixed} ones, which draw as Latin letters "
                "(Cyrillic 'а' is Latin 'a'), so it reads as another file's name; write it in one script"
            )
    return None


_LOOK_ALIKE_SCRIPTS = ("CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC")
"""Scripts whose letters include exact look-alikes of Latin ones (Unicode TR39's confusables):
a word mixing one with Latin (`evаluate.py` with a Cyrillic а) reads as a Latin word, while a
word written wholly in one of them (`модель.py`) reads as what it is and stays legal."""


def _mixed_scripts(name: str) -> str | None:
    """The look-alike script mixed with Latin letters in one word of `name` (`"Cyrillic"`), or None.

    Judged word by word (runs of letters and digits), so `модель.py` and `λ_fit.py` stay legal.
    """
    for word in re.findall(r"[^\W_]+", name):
        scripts = {unicodedata.name(char, "").split(" ")[0] for char in word if char.isalpha()}
        mixed = next((script for script in _LOOK_ALIKE_SCRIPTS if script in scripts), None)
        if mixed and "LATIN" in scripts:
            return mixed.capitalize()
    return None


def _folded(text: str) -> str:
    """`text` for a caseless match that also sets compatibility forms aside (fullwidth, ligatures).

    Unicode's compatibility caseless match (D146): NFKD(casefold(NFKD(casefold(NFD(text))))).
    """
    once = unicodedata.normalize("NFKD", unicodedata.normalize("NFD", text).casefold())
    return unicodedata.normalize("NFKD", once.casefold())


def _tool_config_refusal(path: str, real: str) -> str | None:
    """Why `path` (leading to `real`) may not be written as a tool's configuration, or None."""
    name = tool_config(real)
    if name is None:
        return None
    through = "" if real == path else f" (a link to {real!r})"
    where = f"is under {name!r}" if name.endswith("/") else f"is a {name!r} file"
    return (
        f"{path!r}{through} {where}, which makes tools run code on the user's machine or CI "
        f"({TOOL_CONFIG[name]}); candidates may not write it: change the code the metric measures"
    )


def _git_ignores(root: Path, path: str) -> bool:
    """Whether git ignores `path` in the checkout `root` (False when `root` is no git checkout)."""
    try:
        done = subprocess.run(
            ["git", "check-ignore", "-q", "--", path], cwd=root, capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0
