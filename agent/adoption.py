"""Adopting an experiment: bringing the commit that was scored into the user's branch or folder.

The one step where strop changes what the user owns, so it refuses rather than guesses: a dirty
workspace, a commit that is gone, a merge that conflicts each leave everything as it was. A
git workspace gets a real merge (or a squash); a plain folder gets the same three-way merge done
in strop's managed repo, then its files written.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import git

from agent.errors import NotFoundError, WorkspaceError
from agent.experiments import IDENTITY, MANAGED_BRANCH, ExperimentRepo
from agent.records import ExperimentRecord


def adopt(repo: ExperimentRepo, record: ExperimentRecord, squash: bool) -> str:
    """Bring an experiment into the user's branch; returns what was done, in words.

    What is merged is the commit the record names, the one that was scored, not whatever
    its branch names now: a branch moved since the run (a commit on it, a reset) would
    otherwise bring in code no scorer has seen. A moved branch is said.
    """
    try:
        repo.resolve_commit(record.commit)
    except NotFoundError:
        raise NotFoundError(
            f"experiment {record.name}'s commit {record.commit[:12]} is no longer in {repo.path} "
            "(its run was deleted, or the repo rewritten): nothing was changed"
        ) from None
    done = _adopt(repo, record, squash)
    head = repo.git.rev_parse("--verify", "-q", f"refs/heads/{record.branch}", with_exceptions=False)
    if head != record.commit:
        where = f"now names {head[:12]}" if head else "is gone"
        done += (
            f"; note: the branch {record.branch} {where}, not the scored commit "
            f"{record.commit[:12]}: the scored commit was adopted"
        )
    return done


def _adopt(repo: ExperimentRepo, record: ExperimentRecord, squash: bool) -> str:
    if repo.user_is_dirty():
        raise WorkspaceError(
            f"the folder {repo.workspace} has changed since strop last recorded it: run `strop eval` "
            "on the task to record it as it is, or undo the changes, before adopting"
            if repo.managed
            else f"the workspace {repo.workspace} has uncommitted changes: commit or stash them before adopting"
        )
    if repo.managed:
        return _adopt_into_folder(repo, record)
    branch = repo.repo.active_branch.name
    user = git.Git(str(repo.path))
    if not _changes(user, record.commit):
        return f"nothing to adopt: {record.branch} (commit {record.commit[:12]}) changes nothing in {branch}"
    env = {} if user.config("--get", "user.email", with_exceptions=False) else IDENTITY
    with user.custom_environment(**env):
        _merge(user, record, squash, branch)
    merged = f"merged {record.branch} (commit {record.commit[:12]}) into {branch}"
    return merged + (" (squashed)" if squash else "")


def _adopt_into_folder(repo: ExperimentRepo, record: ExperimentRecord) -> str:
    """Merge the experiment into the folder's recorded state, then write the result into it.

    The folder's edits since the run started (recorded by a later `eval` or run) are kept: the
    merge is the same three-way merge a git workspace gets, done in the managed repo; on a
    conflict nothing in the folder changes.
    """
    with repo.lock:
        repo.git.checkout("-q", "-f", MANAGED_BRANCH)
        before = repo.repo.commit(MANAGED_BRANCH)
        _merge(repo.git, record, False, f"the folder {repo.workspace}")
        after = repo.repo.commit(MANAGED_BRANCH)
    was = {item.path: (item.hexsha, item.mode) for item in before.tree.traverse() if item.type == "blob"}
    removed = [path for path in was if not _in_tree(after, path)]
    for path in removed:
        with contextlib.suppress(FileNotFoundError):
            (repo.workspace / path).unlink()
    written = []
    for item in after.tree.traverse():
        if item.type == "blob":
            path = repo.workspace / item.path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(item.data_stream.read())
            os.chmod(path, item.mode & 0o777)
            if was.get(item.path) != (item.hexsha, item.mode):
                written.append(item.path)
    return _applied(record, repo.workspace, written, removed)


def _applied(record: ExperimentRecord, folder: Path, written: list[str], removed: list[str]) -> str:
    """What adopting into a plain folder did, in words: files, not a git merge (the folder has no git)."""

    def names(paths: list[str]) -> str:
        shown = ", ".join(sorted(paths)[:5])
        return shown + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")

    done = [f"wrote {names(written)}"] if written else []
    done += [f"removed {names(removed)}"] if removed else []
    what = "; ".join(done) if done else "no file changed (the folder had its changes already)"
    return f"applied {record.branch} to {folder} (a plain folder: its files written, no git merge): {what}"


def _changes(runner: git.Git, commit: str) -> bool:
    """Whether `commit` changes anything since it left the checked-out branch (a merge would bring something)."""
    base = runner.merge_base("HEAD", commit, with_exceptions=False)
    if not base:
        return True
    return runner.diff("--quiet", base, commit, with_exceptions=False, with_extended_output=True)[0] != 0


def _merge(runner: git.Git, record: ExperimentRecord, squash: bool, into: str) -> None:
    """Merge `record`'s commit into the checked-out branch; on a conflict undo it and refuse."""
    if squash:
        outcome = runner.merge("--squash", record.commit, with_exceptions=False, with_extended_output=True)
        if outcome[0] == 0:
            runner.commit(
                "-q", "--allow-empty", "-m", f"strop: adopt {record.name} (squashed)\n\n{record.idea}"
            )
    else:
        outcome = runner.merge(
            "--no-ff",
            "-m",
            f"strop: adopt {record.name}\n\n{record.idea}",
            record.commit,
            with_exceptions=False,
            with_extended_output=True,
        )
    if outcome[0] != 0:
        runner.merge("--abort", with_exceptions=False)
        runner.reset("--hard", "-q", "HEAD", with_exceptions=False)
        raise WorkspaceError(f"adopting {record.name} conflicts with {into}: nothing was changed")


def _in_tree(commit: git.Commit, path: str) -> bool:
    try:
        commit.tree[path]
    except KeyError:
        return False
    return True
