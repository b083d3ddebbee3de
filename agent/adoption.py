"""Adopting an experiment: bringing the commit that was scored into the user's branch or folder.

The one step where strop changes what the user owns, so it refuses rather than guesses: a dirty
workspace, a commit that is gone, a merge that conflicts each leave everything as it was. A
git workspace gets a real merge (or a squash); a plain folder gets the same three-way merge done
in strop's managed repo, then its files written: links as links, never written through, and
no new link leading out of the folder. A file or folder it may not write is refused before the
first file is written; a write that fails anyway (a full disk) puts back what was written.

An experiment that changes a file making tools run code on the user's machine or CI
(`TOOL_CONFIG`: `.pre-commit-config.yaml`, `.github/`…) is refused unless the user says
`--allow-config-files`: the LLM's path guard refuses them, but a candidate made by an older
strop, or by another route, would otherwise run its code at the user's next commit or push.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import git

from agent.edits.guard import tool_config
from agent.errors import NotFoundError, WorkspaceError
from agent.experiments import IDENTITY, MANAGED_BRANCH, CutAdopt, ExperimentRepo, git_said, holds, shown
from agent.records import ExperimentRecord
from evaluators.verdict import Status

_EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's tree with nothing in it
MERGING = "merging"  # a `CutAdopt.after` while the merge runs: no file of the folder written yet


def adopt(
    repo: ExperimentRepo, record: ExperimentRecord, squash: bool, allow_config_files: bool = False
) -> str:
    """Bring an experiment into the user's branch; returns what was done, in words.

    What is merged is the commit the record names, the one that was scored, not whatever
    its branch names now: a branch moved since the run (a commit on it, a reset) would
    otherwise bring in code no scorer has seen. A moved branch is said. An experiment that
    changes a tool's configuration (`TOOL_CONFIG`) is refused unless `allow_config_files`.
    """
    try:
        repo.resolve_commit(record.commit)
    except NotFoundError:
        raise NotFoundError(
            f"experiment {record.name}'s commit {record.commit[:12]} is no longer in {repo.path} "
            "(its run was deleted, or the repo rewritten): nothing was changed"
        ) from None
    if record.status is Status.TAMPERED:
        raise WorkspaceError(
            f"experiment {record.name} changed the evaluator's protected files and was never scored: "
            "nothing was adopted (adopting it would bring that change into your branch)"
        )
    done = _adopt(repo, record, squash, allow_config_files)
    head = repo.git.rev_parse("--verify", "-q", f"refs/heads/{record.branch}", with_exceptions=False)
    if head != record.commit:
        where = f"now names {head[:12]}" if head else "is gone"
        done += (
            f"; note: the branch {record.branch} {where}, not the scored commit "
            f"{record.commit[:12]}: the scored commit was adopted"
        )
    return done


def _adopt(repo: ExperimentRepo, record: ExperimentRecord, squash: bool, allow_config_files: bool) -> str:
    if not repo.workspace.is_dir():  # it was told "changed since strop last recorded it: run strop eval"
        raise WorkspaceError(
            f"the workspace {repo.workspace} does not exist (moved or deleted): nothing was adopted; "
            "put it back where it was, then adopt"
        )
    cut = repo.cut_adopt() if repo.managed else None
    if cut is not None and cut.after == MERGING:  # killed before any file was written: undo its merge
        with repo.lock:
            _undo_merge(repo, cut.before)
        cut = None
    if cut is not None:
        finished = _finish_cut_adopt(repo, cut)
        return (
            finished
            if cut.experiment == record.name
            else f"{finished}; then {_adopt(repo, record, squash, allow_config_files)}"
        )
    if not repo.managed:
        _check_branch(repo)
    if changed := repo.user_changes():
        raise WorkspaceError(
            f"the folder {repo.workspace} has changed since strop last recorded it ({shown(changed)}): run "
            "`strop eval` on the task to record it as it is, or undo the changes, before adopting"
            if repo.managed
            else f"the workspace {repo.workspace} has uncommitted changes ({shown(changed)}): commit or stash "
            "them before adopting"
        )
    if not allow_config_files and (
        found := _tool_config_changes(repo, record.commit, _task_file(repo, record))
    ):
        raise WorkspaceError(
            f"experiment {record.name} changes files that make tools run code on your machine or CI "
            f"({shown(found)}): nothing was adopted; if you have read them and trust them, "
            f"`strop adopt {record.name} --allow-config-files`"
        )
    if repo.managed:
        return _adopt_into_folder(repo, record)
    branch = repo.repo.active_branch.name
    user = git.Git(str(repo.path))
    if not _changes(user, record.commit):
        return f"nothing to adopt: {record.branch} (commit {record.commit[:12]}) changes nothing in {branch}"
    env = {} if user.config("--get", "user.email", with_exceptions=False) else IDENTITY
    with user.custom_environment(**env):
        if not _merge(user, Path(repo.repo.git_dir), record, squash, branch):  # a squash adopted already
            return (
                f"nothing to adopt: {record.branch} (commit {record.commit[:12]}) changes nothing in {branch}"
            )
    merged = f"merged {record.branch} (commit {record.commit[:12]}) into {branch}"
    return merged + (" (squashed)" if squash else "")


def _check_branch(repo: ExperimentRepo) -> None:
    """The user's repo has a branch checked out, with a commit: what a merge goes into.

    A detached HEAD stopped adopt with "internal error: TypeError: HEAD is a detached symbolic
    reference"; on a branch with no commit yet (`git checkout --orphan`) the dirty check saw
    nothing staged and the merge's rollback (`reset --hard HEAD`) would empty the user's index.
    """
    head = repo.repo.head
    if head.is_detached:
        raise WorkspaceError(
            f"HEAD of {repo.path} is detached: check out the branch to adopt into first; nothing was changed"
        )
    if not head.is_valid():
        raise WorkspaceError(
            f"the branch {head.reference.name} of {repo.path} has no commits yet: commit your files first, "
            "or check out another branch; nothing was changed"
        )


def _adopt_into_folder(repo: ExperimentRepo, record: ExperimentRecord) -> str:
    """Merge the experiment into the folder's recorded state, then write the result into it.

    The folder's edits since the run started (recorded by a later `eval` or run) are kept: the
    merge is the same three-way merge a git workspace gets, done in the managed repo; on a
    conflict nothing in the folder changes.
    """
    with repo.lock:
        repo.git.checkout("-q", "-f", MANAGED_BRANCH)
        before = repo.repo.commit(MANAGED_BRANCH)
        repo.begin_adopt(CutAdopt(record.name, before.hexsha, MERGING))  # killed in the merge: undone next
        try:
            _merge(repo.git, Path(repo.repo.git_dir), record, False, f"the folder {repo.workspace}")
            after = repo.repo.commit(MANAGED_BRANCH)
            change = _folder_change(repo.workspace, before, after)
            _check_writable(repo.workspace, change, "nothing was adopted")
        except WorkspaceError:
            _undo_merge(repo, before.hexsha)  # the folder was not written: neither is its record
            raise
        if change.write or change.remove:  # killed while writing, the next adopt finishes it
            repo.begin_adopt(CutAdopt(record.name, before.hexsha, after.hexsha))
        else:
            repo.end_adopt()
    made = _missing_folders(repo.workspace, change)
    try:
        _apply(repo.workspace, change)
    except OSError as error:
        _roll_back(repo, record, before, change, made, error)
    repo.end_adopt()
    return _applied(record.branch, repo.workspace, [blob.path for blob in change.write], change.remove)


def _undo_merge(repo: ExperimentRepo, before: str) -> None:
    """The managed branch back at `before` (what the folder holds), and no adopt under way. Under its lock."""
    repo.git.checkout("-q", "-f", MANAGED_BRANCH)
    repo.git.reset("--hard", "-q", before)
    repo.end_adopt()


def _roll_back(
    repo: ExperimentRepo,
    record: ExperimentRecord,
    before: git.Commit,
    change: _FolderChange,
    made: list[Path],
    error: OSError,
) -> None:
    """Undo an adopt whose writing failed (a disk full, a file made read-only since the check): put
    back the files already written, forget the merge, say which file failed and why.

    The failed adopt left its "cut short" mark, and every later `run` or `eval` of the task was
    refused with "killed while writing its files: run `strop adopt`", which failed the same way
    each time. Only where a file cannot be put back does the mark stay: the folder is then half
    adopted, and the next `strop adopt`, once the cause is fixed, finishes it.
    """
    failed = _where(repo.workspace, error)
    left = _put_back(repo.workspace, before, change, made)
    if left:
        raise WorkspaceError(
            f"could not write {failed} in {repo.workspace} ({error.strerror or error}), nor put back "
            f"{', '.join(left[:5])}: the folder is half adopted; make it writable, then `strop adopt "
            f"{record.name}` finishes the adopt"
        ) from None
    with repo.lock:
        _undo_merge(repo, before.hexsha)
    raise WorkspaceError(
        f"could not write {failed} in {repo.workspace} ({error.strerror or error}): nothing was adopted "
        "(the files written before it were put back)"
    ) from None


def _where(folder: Path, error: OSError) -> str:
    """The file `error` is about, relative to `folder` where it lies in it."""
    name = os.fsdecode(error.filename) if error.filename is not None else "a file"
    with contextlib.suppress(ValueError):
        return Path(name).relative_to(folder).as_posix()
    return name


def _put_back(folder: Path, before: git.Commit, change: _FolderChange, made: list[Path]) -> list[str]:
    """Each file `change` touches back to what `before` holds (the folder held it, checked), the
    folders `_apply` made removed; the paths that could not be put back, with why."""
    was = {blob.path: blob for blob in _blobs(before)}
    left: list[str] = []
    for path in [*change.remove, *(blob.path for blob in change.write)]:
        blob, target = was.get(path), folder / path
        if _holds_or_lacks(target, blob):
            continue
        try:
            if blob is None:
                target.unlink()
            else:
                _write(target, blob)
        except OSError as error:
            left.append(f"{path} ({error.strerror or error})")
    for made_folder in sorted(made, key=lambda path: len(path.parts), reverse=True):
        with contextlib.suppress(OSError):  # not empty: something else was put there
            made_folder.rmdir()
    return left


def _missing_folders(folder: Path, change: _FolderChange) -> list[Path]:
    """The folders `_apply` will make for `change`'s new files: what a rollback removes."""
    missing: set[Path] = set()
    for blob in change.write:
        for parent in (folder / blob.path).parents:
            if parent == folder or os.path.lexists(parent):
                break
            missing.add(parent)
    return sorted(missing)


def _check_writable(folder: Path, change: _FolderChange, outcome: str) -> None:
    """Refuse, before the first file is written, a change this process may not write whole: a
    read-only file, a folder it may not add files to, a read-only file system. `outcome` says
    what was done ("nothing was adopted")."""
    refused = _unwritable(folder, change)
    if refused:
        listed = ", ".join(refused[:5]) + (f" and {len(refused) - 5} more" if len(refused) > 5 else "")
        raise WorkspaceError(
            f"cannot write {listed} in {folder}: {outcome}; make {'it' if len(refused) == 1 else 'them'} "
            "writable, then adopt again"
        )


def _unwritable(folder: Path, change: _FolderChange) -> list[str]:
    """The paths of `change` this process may not write or remove, each with why.

    An existing file is rewritten in place (it needs write permission); a new file, a link
    replaced or a removal needs the folder that holds it to take changes.
    """
    refused: dict[str, str] = {}
    for path in change.remove:
        _check_folder_of(folder, path, refused)
    for blob in change.write:
        target = folder / blob.path
        in_place = target.is_file() and not target.is_symlink() and blob.mode != blob.link_mode
        if not in_place:
            _check_folder_of(folder, blob.path, refused)
        elif not os.access(target, os.W_OK):
            refused[blob.path] = f"{blob.path} ({_why(target, 'read-only: no permission to write it')})"
    return list(refused.values())


def _check_folder_of(folder: Path, path: str, refused: dict[str, str]) -> None:
    """Note in `refused` the folder nearest `path` (that exists) when files may not be added to or removed from it."""
    parent = (folder / path).parent
    while not parent.is_dir() and parent != parent.parent:
        parent = parent.parent
    if os.access(parent, os.W_OK | os.X_OK):
        return
    name = "the folder itself" if parent == folder else f"{parent.relative_to(folder).as_posix()}/"
    refused.setdefault(str(parent), f"{name} ({_why(parent, 'no permission to add or remove files in it')})")


def _why(path: Path, otherwise: str) -> str:
    """Why `path` may not be written: its file system is read-only, else `otherwise`."""
    with contextlib.suppress(OSError):
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return "on a read-only file system"
    return otherwise


def _apply(folder: Path, change: _FolderChange) -> None:
    """Write `change` into `folder`; an OSError names the file it failed on (a full disk names none)."""
    for path in change.remove:
        with contextlib.suppress(FileNotFoundError):
            (folder / path).unlink()
    for blob in change.write:
        try:
            _write(folder / blob.path, blob)
        except OSError as error:
            error.filename = error.filename or str(folder / blob.path)
            raise


def _finish_cut_adopt(repo: ExperimentRepo, cut: CutAdopt) -> str:
    """Finish the adopt into the plain folder `cut` names, killed while writing its files.

    Its merge was already recorded, so the folder looked changed by the user and, once `strop
    eval` recorded it, the merge looked done: the experiment's files were never written. Each
    file the adopt touches must still hold what it held before or what the adopt writes; one
    the user changed since is not overwritten, and the adopt is refused naming it.
    """
    before, after = repo.repo.commit(cut.before), repo.repo.commit(cut.after)
    change = _folder_change(repo.workspace, before, after)
    was = {blob.path: blob for blob in _blobs(before)}
    now = {blob.path: blob for blob in _blobs(after)}
    paths = [blob.path for blob in change.write] + change.remove
    edited = [
        path
        for path in paths
        if not _holds_or_lacks(repo.workspace / path, was.get(path))
        and not _holds_or_lacks(repo.workspace / path, now.get(path))
    ]
    if edited:
        raise WorkspaceError(
            f"an adopt of {cut.experiment} into {repo.workspace} was cut short, and "
            f"{', '.join(sorted(edited)[:5])} changed since: nothing was written; put those files back "
            f"as they were (or as {cut.experiment} has them), then adopt again"
        )
    left = _FolderChange(
        [blob for blob in change.write if not _holds_or_lacks(repo.workspace / blob.path, blob)],
        [path for path in change.remove if os.path.lexists(repo.workspace / path)],
    )
    unfinished = f"the adopt of {cut.experiment} cut short earlier is still not finished"
    _check_writable(repo.workspace, left, unfinished)
    try:
        _apply(repo.workspace, left)
    except OSError as error:  # the folder stays half adopted, and says so: the next adopt goes on
        raise WorkspaceError(
            f"could not write {_where(repo.workspace, error)} in {repo.workspace} "
            f"({error.strerror or error}): {unfinished}; make it writable, then `strop adopt "
            f"{cut.experiment}` again"
        ) from None
    repo.end_adopt()
    written = [blob.path for blob in left.write]
    return "finished the adopt cut short earlier: " + _applied(
        f"strop/{cut.experiment}", repo.workspace, written, left.remove
    )


def _holds_or_lacks(path: Path, blob: git.Blob | None) -> bool:
    """Whether `path` holds `blob`, or is absent where `blob` is None."""
    if blob is None:
        return not os.path.lexists(path)
    try:
        return holds(path, blob)
    except OSError:  # absent, a folder, unreadable: not that file
        return False


@dataclass(frozen=True)
class _FolderChange:
    """What adopting writes into a plain folder: the files and links that differ, the paths to remove."""

    write: list[git.Blob]
    remove: list[str]


def _folder_change(folder: Path, before: git.Commit, after: git.Commit) -> _FolderChange:
    """What turns `folder` (which holds `before`, checked) into `after`, refused when it is unsafe.

    Only what differs is written: rewriting every file wrote through each of the folder's links
    (a link `data -> /home/me/data.csv` had the text `/home/me/data.csv` written into that file,
    and its mode set to 000). Nothing is written through a link to a folder (`.venv -> /usr`), and
    no new link may lead out of the folder: the user's next write through it would land there.
    """
    was = {blob.path: (blob.hexsha, blob.mode) for blob in _blobs(before)}
    now = {blob.path: blob for blob in _blobs(after)}
    remove = [path for path in was if path not in now]
    write = [blob for path, blob in now.items() if was.get(path) != (blob.hexsha, blob.mode)]
    for path in [*remove, *(blob.path for blob in write)]:
        if link := _link_on_the_way(folder, path, set(remove)):
            raise WorkspaceError(
                f"adopting would write {path} through the link {link} in {folder}: nothing was changed"
            )
    for blob in write:
        if blob.mode == blob.link_mode and _leads_outside(folder, blob):
            target = os.fsdecode(blob.data_stream.read())
            raise WorkspaceError(
                f"the experiment makes {blob.path} a link to {target!r}, outside {folder}: nothing was changed"
            )
    return _FolderChange(write, remove)


def _blobs(commit: git.Commit) -> list[git.Blob]:
    return [item for item in commit.tree.traverse() if item.type == "blob"]


def _link_on_the_way(folder: Path, path: str, removed: set[str]) -> str | None:
    """The first folder of `path` that is a link in `folder` (and stays one), or None."""
    parts = PurePosixPath(path).parts
    for depth in range(1, len(parts)):
        above = PurePosixPath(*parts[:depth]).as_posix()
        if (folder / above).is_symlink() and above not in removed:
            return above
    return None


def _leads_outside(folder: Path, link: git.Blob) -> bool:
    """Whether the link `link` records would lead out of `folder`, through the links already there."""
    target = os.fsdecode(link.data_stream.read())
    lands = os.path.realpath(os.path.join(folder, os.path.dirname(link.path), target))
    return not Path(lands).is_relative_to(os.path.realpath(folder))


def _write(path: Path, blob: git.Blob) -> None:
    """Write `blob` at `path`: a link as a link; a file replaces a link there rather than writing through it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = blob.data_stream.read()
    if path.is_symlink() or (blob.mode == blob.link_mode and path.is_file()):
        path.unlink()
    if blob.mode == blob.link_mode:
        os.symlink(os.fsdecode(data), path)
        return
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
        os.fchmod(file.fileno(), blob.mode & 0o777)


def _tool_config_changes(repo: ExperimentRepo, commit: str, task_file: str | None = None) -> list[str]:
    """The paths `commit` changes that configure tools (`TOOL_CONFIG`), or are the run's own task
    file (`task_file`, relative to the repo, whatever its name), against where it left the branch
    it would be merged into; against nothing when the two share no history."""
    into = MANAGED_BRANCH if repo.managed else "HEAD"
    base = repo.git.merge_base(into, commit, with_exceptions=False) or _EMPTY_TREE
    names = repo.git.diff("--name-only", "-z", "--no-renames", "--no-ext-diff", "--no-textconv", base, commit)
    return sorted(name for name in names.split("\0") if name and (tool_config(name) or name == task_file))


def _task_file(repo: ExperimentRepo, record: ExperimentRecord) -> str | None:
    """The run's task file relative to the repo, when it lies in it: the judge's own configuration
    (its scorer, sandbox, mounts, direction), which an experiment must not bring in unasked."""
    root = repo.workspace if repo.managed else Path(repo.path)  # what the diff's names are relative to
    try:
        path = Path(repo.read_run(record.run).task_path).resolve()
        return path.relative_to(root.resolve()).as_posix()
    except (NotFoundError, ValueError, OSError):  # an unreadable record is a ValueError too
        return None


def _applied(branch: str, folder: Path, written: list[str], removed: list[str]) -> str:
    """What adopting into a plain folder did, in words: files, not a git merge (the folder has no git)."""

    def names(paths: list[str]) -> str:
        shown = ", ".join(sorted(paths)[:5])
        return shown + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")

    done = [f"wrote {names(written)}"] if written else []
    done += [f"removed {names(removed)}"] if removed else []
    what = "; ".join(done) if done else "no file changed (the folder had its changes already)"
    return f"applied {branch} to {folder} (a plain folder: its files written, no git merge): {what}"


def _changes(runner: git.Git, commit: str) -> bool:
    """Whether `commit` changes anything since it left the checked-out branch (a merge would bring something)."""
    base = runner.merge_base("HEAD", commit, with_exceptions=False)
    if not base:
        return True
    quiet = ("--quiet", "--no-ext-diff", "--no-textconv")  # the user's diff program is not asked
    return runner.diff(*quiet, base, commit, with_exceptions=False, with_extended_output=True)[0] != 0


_MERGE_STATE = ("MERGE_HEAD", "MERGE_MSG", "MERGE_MODE", "SQUASH_MSG", "AUTO_MERGE")
"""The files a merge leaves in the git folder while it is under way."""


def _merge(runner: git.Git, git_dir: Path, record: ExperimentRecord, squash: bool, into: str) -> bool:
    """Merge `record`'s commit into the checked-out branch; if git fails, undo it all and say why.
    False (nothing changed) when a squash stages nothing: its changes are in the branch already.

    A squash never moves the merge base `_changes` compares with, so a second `--squash` of the
    same experiment got past it, and the commit that followed was empty ("merged … (squashed)").

    Into the user's branch the merge (or the squash's commit) is the user's own commit: their
    hooks run and their `commit.gpgSign` signs it. A hook or gpg that fails left a squash
    half-done (its files staged, `.git/SQUASH_MSG` written: the next adopt refused the dirty
    tree), and every failure was called a conflict. Now whatever failed is rolled back and
    git's own words given; only unmerged paths are a conflict.
    """
    lock = git_dir / "index.lock"
    if lock.exists():  # git says only "Unable to write index", after writing MERGE_HEAD
        raise WorkspaceError(
            f"{lock} exists: another git process is running in that repo (or one crashed and left the "
            f"file: then remove it); nothing was adopted into {into}"
        )
    present = {name for name in _MERGE_STATE if (git_dir / name).exists()}
    if squash:
        outcome = runner.merge("--squash", record.commit, with_exceptions=False, with_extended_output=True)
        staged = runner.diff("--cached", "--quiet", with_exceptions=False, with_extended_output=True)[0] != 0
        if outcome[0] == 0 and not staged:  # nothing to commit: undo what the squash left (SQUASH_MSG)
            _forget_merge(git_dir, present)
            return False
        if outcome[0] == 0:
            outcome = runner.commit(
                "-q",
                "-m",
                f"strop: adopt {record.name} (squashed)\n\n{record.idea}",
                with_exceptions=False,
                with_extended_output=True,
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
    if outcome[0] == 0:
        return True
    conflicted = bool(runner.ls_files("-u", with_exceptions=False))
    runner.merge("--abort", with_exceptions=False)
    runner.reset("--hard", "-q", "HEAD", with_exceptions=False)
    _forget_merge(git_dir, present)  # what the abort could not remove (it needs the index, which was locked)
    if conflicted:
        raise WorkspaceError(f"adopting {record.name} conflicts with {into}: nothing was changed")
    raise WorkspaceError(
        f"git could not adopt {record.name} into {into}, and nothing was changed; "
        f"git said: {git_said(outcome[2] or outcome[1])}"
    )


def _forget_merge(git_dir: Path, present: set[str]) -> None:
    """Remove the merge-state files (`_MERGE_STATE`) a merge left, keeping those there before it."""
    for name in _MERGE_STATE:
        if name not in present:
            (git_dir / name).unlink(missing_ok=True)
