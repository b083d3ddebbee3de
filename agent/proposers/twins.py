"""Twins: the experiment of this run whose code a candidate's files would make again, exactly.

An answer that rewrites a sibling's change, or undoes its parent's back to an ancestor's code, was
committed and evaluated again: an experiment spent to learn nothing, and the evaluator's noise then
made the copy "the best". Comparing with the parent's files alone (`drop_unchanged`) misses it.

Git tells it cheaply: every experiment is a commit of the run's repo, and the parent's checkout (a
lane of that repo) is at the commit the candidate is made on. The candidate's tree is the parent's
tree with the new files' blobs; it is computed in a throwaway index and object folder (nothing is
written to the run's repo) and compared with the trees of the run's commits, looked up in one
`git cat-file --batch-check` and kept (a commit's tree never changes). About five short git
processes per answer that changed a file; a checkout that is no git top level, a link or submodule
among the files written, or any git failure means no check, never a failed proposal.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

from agent.experiments import _safe_args
from agent.records import ExperimentRecord
from evaluators.verdict import Status

_NEW_FILE = "100644"  # what `write_files` makes a new file: git records it so
_PLAIN_MODES = ("100644", "100755")
_GIT_TIMEOUT = 30
_PREFERRED = (Status.OK, Status.BUGGY, Status.TIMEOUT, Status.TAMPERED, Status.PENDING)
"""Of several experiments with the same code, the one named: evaluated first, then in flight, then
the rest (a rejected answer with no files has its parent's tree, so it twins its parent)."""


class TreeTwins:
    """Finds, for a candidate's files on top of a checkout, the experiment that already has that code."""

    def __init__(self) -> None:
        self._trees: dict[str, str | None] = {}  # commit -> its tree (None: not in the repo)
        self._lock = threading.Lock()

    def find(
        self, checkout: Path, files: dict[str, str], history: Iterable[ExperimentRecord]
    ) -> ExperimentRecord | None:
        """The experiment of `history` whose commit holds exactly the checkout's files with `files`
        written over them, or None (none does, or git cannot tell)."""
        records = [r for r in history if _is_commit_id(r.commit)]
        if not files or not records:
            return None
        tree = _candidate_tree(checkout, files)
        if tree is None:
            return None
        trees = self._trees_of(checkout, [r.commit for r in records])
        same = [r for r in records if trees.get(r.commit) == tree]
        if not same:
            return None
        return min(same, key=lambda r: (_rank(r.status), r.id))

    def _trees_of(self, checkout: Path, commits: list[str]) -> dict[str, str | None]:
        with self._lock:
            missing = sorted({c for c in commits if c not in self._trees})
        if missing:
            found = _cat_trees(checkout, missing)
            if found is None:
                return {}
            with self._lock:
                self._trees.update(found)
        with self._lock:
            return {c: self._trees.get(c) for c in commits}


def _is_commit_id(text: str) -> bool:
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)


def _rank(status: Status) -> int:
    return _PREFERRED.index(status) if status in _PREFERRED else len(_PREFERRED)


def _env(**extra: str) -> dict[str, str]:
    """The environment for git: none of the caller's `GIT_*` redirections, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_LITERAL_PATHSPECS="1", **extra)
    return env


def _git(checkout: Path, args: list[str], env: dict[str, str], stdin: bytes = b"") -> bytes | None:
    try:
        done = subprocess.run(
            ["git", *_safe_args(), "-C", str(checkout), *args],
            input=stdin,
            env=env,
            capture_output=True,
            timeout=_GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _candidate_tree(checkout: Path, files: dict[str, str]) -> str | None:
    """The tree id of the checkout's HEAD with `files` written over it, or None when git cannot tell."""
    head = _git(
        checkout,
        ["rev-parse", "--show-object-format", "--git-path", "objects", "--show-prefix", "HEAD"],
        _env(),
    )
    if head is None:
        return None
    lines = head.decode("utf-8", "replace").split("\n")
    if len(lines) < 4 or lines[2] != "":  # the checkout is a folder inside its repo: paths would differ
        return None
    algorithm, objects, commit = lines[0], (checkout / lines[1]).resolve(), lines[3]
    if algorithm not in ("sha1", "sha256"):
        return None
    modes = _modes(checkout, commit, list(files))
    if modes is None:
        return None
    entries = b""
    for path, text in files.items():
        mode = modes.get(path, _NEW_FILE)
        if mode not in _PLAIN_MODES:
            return None  # a link or a submodule: `write_files` writes through it, not over it
        data = text.encode("utf-8", "replace")  # as `write_files` writes it
        blob = hashlib.new(algorithm, b"blob %d\0" % len(data) + data).hexdigest()
        entries += f"{mode} {blob}\t{path}".encode("utf-8", "surrogateescape") + b"\0"
    with tempfile.TemporaryDirectory(prefix="strop-twins-") as scratch:
        env = _env(
            GIT_INDEX_FILE=str(Path(scratch) / "index"),
            GIT_OBJECT_DIRECTORY=str(Path(scratch) / "objects"),
            GIT_ALTERNATE_OBJECT_DIRECTORIES=str(objects),
        )
        (Path(scratch) / "objects").mkdir()
        if _git(checkout, ["read-tree", commit], env) is None:
            return None
        if _git(checkout, ["update-index", "-z", "--index-info"], env, entries) is None:
            return None
        tree = _git(checkout, ["write-tree", "--missing-ok"], env)
    return tree.decode().strip() if tree else None


def _modes(checkout: Path, commit: str, paths: list[str]) -> dict[str, str] | None:
    """The mode of each of `paths` in `commit` (absent: a new file), or None when git cannot tell."""
    listed = _git(checkout, ["ls-tree", "-z", commit, "--", *paths], _env())
    if listed is None:
        return None
    modes: dict[str, str] = {}
    for entry in listed.split(b"\0"):
        if b"\t" in entry:
            info, path = entry.split(b"\t", 1)
            modes[path.decode("utf-8", "surrogateescape")] = info.split(b" ")[0].decode()
    return modes


def _cat_trees(checkout: Path, commits: list[str]) -> dict[str, str | None] | None:
    """Each commit's tree id (None: not in the repo), in one `git cat-file --batch-check`."""
    asked = "".join(f"{c}^{{tree}}\n" for c in commits).encode()
    answer = _git(checkout, ["cat-file", "--batch-check"], _env(), asked)
    if answer is None:
        return None
    lines = answer.decode("utf-8", "replace").splitlines()
    if len(lines) != len(commits):
        return None
    trees: dict[str, str | None] = {}
    for commit, line in zip(commits, lines, strict=True):
        parts = line.split()
        trees[commit] = parts[0] if len(parts) == 3 and parts[1] == "tree" else None
    return trees
