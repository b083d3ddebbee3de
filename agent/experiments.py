"""The experiment repo: every attempt is a branch `strop/<run>/<exp>`, its record a git note.

Git is the source of truth. An experiment's commit holds the candidate's change on
top of its parent's commit; its record (idea, parent, status, metrics, timings,
cost, evaluator fingerprint, log digest) is a JSON note under `refs/notes/strop`;
a run's record is a small commit under `refs/strop/runs/<run>`. Work happens in
one git worktree per lane, outside the user's tree, reused from experiment to
experiment and removed when the run ends.

A workspace that is the top of a git repo is used in place (strop adds branches,
notes and refs, and never touches the user's working tree or branch until
`strop adopt`, whose merge lives in agent/adoption.py). Any other folder is copied into a repo strop manages under
`$STROP_HOME/repos`, re-synced at each run, leaving out what its own .gitignore files ignore
(`git_ignored`; a repo around the folder is not asked: the folder is plain to strop).
strop's own commits are never signed, whatever the user's git config says (`_OWN_COMMITS`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import git
from filelock import FileLock

from agent.errors import DiskFull, NotFoundError, RunError, UnreadableRecord, WorkspaceError, disk_full
from agent.folder_mirror import mirror
from agent.records import ExperimentRecord, NotARecord, RunRecord

NOTES_REF = "strop"
RUNS_REF = "refs/strop/runs/"
BRANCH_PREFIX = "strop/"
MANAGED_BRANCH = "workspace"
ADOPTING = "strop-adopting.json"  # in a managed repo's git folder while an adopt writes the user's folder


@dataclass(frozen=True)
class CutAdopt:
    """An adopt into a plain folder between its merge (recorded) and its last file written."""

    experiment: str  # RUN/N
    before: str  # the managed branch's commit before the merge: what the folder held
    after: str  # the merge: what the folder is to hold


_IGNORED = shutil.ignore_patterns(".git", "__pycache__", "*.pyc", ".venv", ".strop", ".pytest_cache")
IDENTITY = {
    "GIT_AUTHOR_NAME": "strop",
    "GIT_AUTHOR_EMAIL": "strop@localhost",
    "GIT_COMMITTER_NAME": "strop",
    "GIT_COMMITTER_EMAIL": "strop@localhost",
}


def branch_name(run_id: str, exp_id: int) -> str:
    return f"{BRANCH_PREFIX}{run_id}/{exp_id}"


@dataclass(frozen=True)
class UnreadableNote:
    """An experiment branch whose note is not a record (edited or damaged by hand): where, and what is wrong."""

    branch: str
    commit: str
    problem: str

    def describe(self) -> str:
        """One clause naming the branch, its commit and what is wrong with the note."""
        return f"{self.branch} (commit {self.commit[:12]}) holds a note that is not a record ({self.problem})"

    @property
    def number(self) -> int | None:
        """The experiment number the branch name gives, if it is one."""
        last = self.branch.rpartition("/")[2]
        return int(last) if last.isascii() and last.isdigit() else None


@dataclass(frozen=True)
class RunNotes:
    """What a run's experiment branches hold: the records, and the notes that are not records.

    Readers show `records` and warn about `unreadable`; writers call `require`, since a run
    with a note they cannot read is a run whose experiment numbers they do not all know.
    """

    run: str
    repo: Path
    records: list[ExperimentRecord]
    unreadable: list[UnreadableNote]

    def require(self) -> list[ExperimentRecord]:
        """The records, or `UnreadableRecord` (one line: the first bad note, and what to do)."""
        if not self.unreadable:
            return self.records
        first = self.unreadable[0]
        more = f" (and {len(self.unreadable) - 1} more)" if len(self.unreadable) > 1 else ""
        raise UnreadableRecord(
            f"{first.describe()}{more}: run {self.run} is left as it is (a new experiment could take "
            f"its number and overwrite {first.branch}); `strop audit {self.run}` lists what is wrong; "
            f"restore the note from its history (`git -C {self.repo} log -p refs/notes/{NOTES_REF}`) "
            "and run the command again"
        )


def _key(path: Path) -> str:
    return hashlib.sha1(os.fsencode(path)).hexdigest()[:10]


_SAFE_CONFIG = (
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.attributesFile=/dev/null",
    "protocol.allow=never",
    "submodule.recurse=false",
)
"""Given to every git command strop runs on its own: no hook, no fsmonitor, no transport.

Candidate code never runs where host git reads (it runs on an export: see
`evaluators.scratch`); this is the second wall, should anything a candidate wrote
ever reach a lane.
"""


_NO_AUTO_MAINTENANCE = ("maintenance.auto=false", "gc.auto=0")
"""Also given to strop's git commands: no `git maintenance run --auto` / `gc --auto` from a commit.

Each `commit` used to start git's auto maintenance, which holds `objects/maintenance.lock`
while it runs; a SIGKILL of the run's process group then left that lock behind, and git
skips maintenance for as long as the file exists (it has no staleness check): the user's own
repo was never packed again. `ExperimentRepo.tidy` runs `gc --auto` once, when a run ends;
its `gc.pid` lock is one git recognises as stale after a crash.
"""


_OWN_COMMITS = (
    "commit.gpgSign=false",
    "tag.gpgSign=false",
    "core.safecrlf=false",
    "color.ui=false",
    "color.diff=false",
)
"""Also given to strop's git commands: its commits are its own, and so is its reading of git's output.

A user's `commit.gpgSign=true` made every experiment commit ask gpg for the user's key: with
no usable key the run died at its first commit ("gpg failed to sign the data"), with one
strop signed its experiments in the user's name. `core.safecrlf=true` refused a candidate's
file written with LF in a CRLF checkout (autocrlf): git stores the same text either way, so
the run stopped for nothing. `color.*=always` put escape sequences in what strop parses and
shows. `strop adopt`'s commit into the user's branch is the user's, and runs without these.
"""


def _config() -> list[str]:
    return [*_SAFE_CONFIG, *_NO_AUTO_MAINTENANCE, *_OWN_COMMITS]


def _safe_args() -> list[str]:
    return [arg for item in _config() for arg in ("-c", item)]


_ADVICE = ("hint:", "Not committing merge;")  # git's advice on what to do next: strop has undone it all


def git_said(text: str, limit: int = 400) -> str:
    """What git printed on failing, as one line: control characters dropped, git's advice left
    out, lines joined with "; ", cut at `limit` characters (git's `fatal:` line is never long)."""
    lines = ("".join(c if c.isprintable() else " " for c in line).strip() for line in text.splitlines())
    said = "; ".join(line for line in lines if line and not line.startswith(_ADVICE)) or "no message"
    return said if len(said) <= limit else said[: limit - 1] + "…"


def _git(path: Path, git_dir: Path | None = None) -> git.Git:
    """A git command runner for `path`; with `git_dir`, an explicit --git-dir/--work-tree pair."""
    command = git.Git(str(path))
    command.update_environment(**IDENTITY)
    options: dict[str, object] = {"c": _config()}
    if git_dir is not None:
        options.update(git_dir=str(git_dir), work_tree=str(path))
    command.set_persistent_git_options(**options)
    return command


@dataclass(frozen=True)
class _LaneState:
    """What this process last left in a lane: `commit`'s files and nothing else, HEAD on `branch`.

    `written`: files were written since (`lane_written`); `untidy`: one of those writes made
    a file git did not track, or deleted one (which may leave an empty folder behind).
    `extras` (after a commit): the tracked files are exactly `commit`'s, but files written
    before it that git ignores may remain (a `clean` removes them). `head` and `index` are the
    lane's HEAD file and index stat as git left them: anything that moved HEAD or touched the
    index since (a git command not ours) makes the state unknown again.
    """

    commit: str
    branch: str | None
    head: str
    index: tuple[int, int, int]
    extras: bool = False
    written: bool = False
    untidy: bool = False


_LANES: dict[str, _LaneState] = {}
"""Lane path → its known state, kept by this process only (a resumed run starts knowing nothing).

A lane is strop's own worktree, written only through `agent.run.write_files`, which says so
(`lane_written`). Knowing its state spares the git processes that would change nothing (they
were 11 of ~23 per experiment): the loop checks a lane out at the parent for the proposer,
again for the check, again on the new branch before committing, and again before evaluating,
each with a `clean`; and it staged with `add -A` what `commit -a` stages when the candidate
only changed files the parent has. A write that bypasses `write_files` is still committed
whole (`add -A`), but a checkout right after it, with no commit between, would not undo it.
"""


def lane_written(lane_path: Path, untidy: bool) -> None:
    """Files are being written into `lane_path` (`untidy`: a new file, or a deletion)."""
    key = os.path.abspath(lane_path)
    if key in _LANES:
        known = _LANES[key]
        _LANES[key] = replace(known, written=True, untidy=known.untidy or untidy)


def _take_state(lane_path: Path, admin: Path) -> _LaneState | None:
    """The lane's known state, removed (a failing git command leaves it unknown), if git agrees."""
    known = _LANES.pop(os.path.abspath(lane_path), None)
    if known is None or (known.head, known.index) != _head_and_index(admin):
        return None
    return known


def forget_lane(lane_path: Path) -> None:
    """`lane_path` is being removed or made again: nothing is known of it."""
    _LANES.pop(os.path.abspath(lane_path), None)


def _toplevel(path: Path) -> Path | None:
    try:
        return Path(git.Repo(path, search_parent_directories=True).working_tree_dir or "").resolve()
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None


class ExperimentRepo:
    """One experiment repo: the user's repo used in place, or a managed copy of a folder."""

    def __init__(self, path: Path, workspace: Path, managed: bool, home: Path) -> None:
        self.path = path
        self.workspace = workspace
        self.managed = managed
        self.home = home
        self.repo = git.Repo(path)
        self.git = _git(path, git_dir=Path(self.repo.git_dir)) if managed else _git(path)
        self.lock = FileLock(str(Path(self.repo.git_dir) / "strop.lock"), timeout=60)

    # ----------------------------------------------------------------- opening
    @classmethod
    def for_workspace(cls, workspace: Path, home: Path) -> ExperimentRepo:
        """Open the experiment repo for `workspace`, checking that it is safe to work on."""
        workspace = workspace.resolve()
        if not workspace.is_dir():
            raise WorkspaceError(f"workspace {workspace} does not exist or is not a folder")
        if _toplevel(workspace) == workspace:
            return cls._in_place(workspace, home)
        return cls._managed(workspace, home)

    @classmethod
    def open(cls, path: Path, home: Path) -> ExperimentRepo:
        """Open an existing experiment repo (as recorded in a run record)."""
        try:
            repo = git.Repo(path)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise RunError(f"experiment repo {path} is gone or is not a git repo") from None
        managed = repo.git.config("--get", "strop.workspace", with_exceptions=False) or ""
        workspace = Path(managed) if managed else path
        return cls(path, workspace, bool(managed), home)

    @classmethod
    def _in_place(cls, workspace: Path, home: Path) -> ExperimentRepo:
        repo = git.Repo(workspace)
        if not repo.head.is_valid():
            raise WorkspaceError(f"the git repo at {workspace} has no commits yet: commit your files first")
        if repo.head.is_detached:
            raise WorkspaceError(f"HEAD of {workspace} is detached: check out a branch first")
        if repo.git.rev_parse(
            "--verify", "-q", f"refs/heads/{BRANCH_PREFIX.rstrip('/')}", with_exceptions=False
        ):
            name = BRANCH_PREFIX.rstrip("/")
            raise WorkspaceError(
                f"the repo at {workspace} has a branch named `{name}`, and strop keeps each experiment on a "
                f"branch `{name}/RUN/N`, which git cannot make beside it: rename yours first "
                f"(`git branch -m {name} {name}-work`)"
            )
        made = cls(workspace, workspace, False, home)
        if changed := made.user_changes():  # strop's own git: GitPython's is_dirty ran fsmonitor
            raise WorkspaceError(
                f"the workspace {workspace} has uncommitted changes ({shown(changed)}): commit or stash "
                "them first (strop never works on a dirty tree)"
            )
        return made

    @classmethod
    def _managed(cls, workspace: Path, home: Path) -> ExperimentRepo:
        path = home / "repos" / f"{workspace.name}-{_key(workspace)}"
        if not (path / ".git").exists():
            path.mkdir(parents=True, exist_ok=True)
            repo = git.Repo.init(path, initial_branch=MANAGED_BRANCH)
            repo.git.config("strop.workspace", str(workspace))
        made = cls(path, workspace, True, home)
        made.sync_workspace()
        return made

    def sync_workspace(self) -> None:
        """Make the managed repo's `workspace` branch hold exactly the folder's files.

        Not while an adopt into the folder is cut short (`cut_adopt`): recording the half-written
        folder would make that adopt's merge look done, and `strop adopt` then said "no file
        changed" with the old files in place.
        """
        if cut := self.cut_adopt():
            raise WorkspaceError(
                f"an adopt of {cut.experiment} into {self.workspace} is not finished (it was killed, "
                f"or a file could not be written, while writing its files): run `strop adopt {cut.experiment}` "
                "to finish it; nothing was recorded"
            )
        with self.lock:
            self.git.checkout("-f", "-B", MANAGED_BRANCH, with_exceptions=False)
            ignore = _copy_ignore(self.workspace, git_ignored(self.workspace, Path(self.repo.git_dir)))
            try:
                mirror(self.workspace, self.path, ignore, keep=frozenset({".git"}))  # only what changed
            except shutil.SpecialFileError as error:  # a FIFO or socket a dev server left: one line
                raise WorkspaceError(
                    f"{error} in {self.workspace}: an experiment cannot hold it (git keeps no pipes, sockets "
                    "or devices); remove it or list it in the folder's .gitignore"
                ) from None
            self._checked(self.git, self.path, "add", "-A")
            if self.git.status("--porcelain") or not self.repo.head.is_valid():
                message = f"strop: workspace {self.workspace}"
                self._checked(
                    self.git, self.path, "commit", "--allow-empty", "-q", "--no-verify", "-m", message
                )

    def cut_adopt(self) -> CutAdopt | None:
        """The adopt into the plain folder that began writing files and did not finish, if any."""
        path = Path(self.repo.git_dir) / ADOPTING
        try:
            return CutAdopt(**json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as error:
            raise WorkspaceError(f"{path} (an adopt cut short) cannot be read: {error}") from None

    def begin_adopt(self, cut: CutAdopt) -> None:
        """Say, before the first file is written, which adopt is writing into the folder."""
        path = Path(self.repo.git_dir) / ADOPTING
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(cut.__dict__))
        os.replace(partial, path)

    def end_adopt(self) -> None:
        (Path(self.repo.git_dir) / ADOPTING).unlink(missing_ok=True)

    # ------------------------------------------------------------------- state
    @property
    def key(self) -> str:
        return _key(self.path)

    def head(self) -> tuple[str, str]:
        """The user's branch and its commit: the base of a new run."""
        return self.repo.active_branch.name, self.repo.head.commit.hexsha

    def user_changes(self) -> list[str]:
        """The paths the user changed since strop last recorded the workspace (sorted; empty when
        none): a plain folder against its recorded snapshot, a git checkout's uncommitted tracked files."""
        if self.managed:
            return self._folder_changes_from(self.repo.commit(MANAGED_BRANCH))
        # strop's own git, not GitPython's index diff: that one ran the repo's fsmonitor
        plain = ("--name-only", "-z", "--no-ext-diff", "--no-textconv", "--no-color")
        staged = self.git.diff("--cached", *plain, "HEAD") if self.repo.head.is_valid() else ""
        unstaged = self.git.diff(*plain)
        return sorted({name for name in f"{staged}\0{unstaged}".split("\0") if name})

    def _folder_changes_from(self, commit: git.Commit) -> list[str]:
        tracked = {item.path: item for item in commit.tree.traverse() if item.type == "blob"}
        above = git_ignored(self.workspace, Path(self.repo.git_dir))
        present = {
            p.relative_to(self.workspace).as_posix()
            for p in self.workspace.rglob("*")
            if (p.is_file() or p.is_symlink())
            and not _ignored(p.relative_to(self.workspace))
            and not above.holds(p.relative_to(self.workspace).as_posix())
        }
        changed = {
            rel for rel, blob in tracked.items() if rel in present and not holds(self.workspace / rel, blob)
        }
        return sorted(changed | (present ^ set(tracked)))

    # -------------------------------------------------------------------- runs
    def write_run(self, record: RunRecord) -> None:
        """Store the run record as a commit under refs/strop/runs/<id> (history kept)."""
        payload = json.dumps(record.to_dict(), indent=1, sort_keys=True)
        with self.lock:
            blob = self._git_input(["hash-object", "-w", "--stdin"], payload)
            task_blob = self._git_input(["hash-object", "-w", "--stdin"], record.task_source)
            entries = f"100644 blob {blob}\trun.json\n100644 blob {task_blob}\ttask.toml\n"
            tree = self._git_input(["mktree"], entries)
            ref = RUNS_REF + record.id
            previous = self.git.rev_parse("--verify", "-q", ref, with_exceptions=False)
            parents = ["-p", previous] if previous else []
            commit = self.git.commit_tree(tree, *parents, "-m", f"strop run {record.id}: {record.status}")
            self.git.update_ref(ref, commit)

    def _git_input(self, args: list[str], text: str) -> str:
        """A git plumbing command fed `text` on stdin; its stdout, stripped."""
        done = subprocess.run(
            ["git", *_safe_args(), *args],
            cwd=self.path,
            input=text.encode(),
            capture_output=True,
            check=False,
            env={**os.environ, **IDENTITY},
        )
        if done.returncode != 0:
            raise self._failure(args[0], self.path, done.stderr.decode(errors="replace"))
        return done.stdout.decode().strip()

    def _checked(self, runner: git.Git, where: Path, command: str, *args: str) -> str:
        """`git command args` run by `runner`; a failure is one line naming it with git's words.

        A commit git refuses (a lock held, a config it rejects) stopped the run with GitPython's
        seven lines ("Cmd('git') failed due to: exit code(128) … stderr: '…'") as an internal error.
        """
        status, out, said = getattr(runner, command)(*args, with_exceptions=False, with_extended_output=True)
        if status != 0:
            raise self._failure(command, where, said or out)
        return str(out)

    def _failure(self, command: str, where: Path, said: str) -> RunError:
        """The error for a git command that failed in `where`: `DiskFull` when a disk is full."""
        failure = RunError(f"git {command} failed in {where}: {git_said(said)}")
        if disk_full(failure, places=(Path(self.repo.common_dir),)):
            last = said.strip().splitlines()[-1] if said.strip() else "no message"  # git's `fatal:` line
            return DiskFull(f"git {command} could not write in {where}, its disk is full: {git_said(last)}")
        return failure

    def read_runs(self) -> list[RunRecord]:
        refs = self.git.for_each_ref("--format=%(refname)", RUNS_REF).split()
        return [self.read_run(ref.removeprefix(RUNS_REF)) for ref in refs]

    def has_run(self, run_id: str) -> bool:
        """Whether this repo holds a record of run `run_id` (one `rev-parse`, no `show`)."""
        ref = f"{RUNS_REF}{run_id}"
        return bool(self.git.rev_parse("--verify", "-q", ref, with_exceptions=False))

    def read_run(self, run_id: str) -> RunRecord:
        data = self.git.show(f"{RUNS_REF}{run_id}:run.json", with_exceptions=False)
        if not data:
            raise NotFoundError(f"no run {run_id!r} in {self.path}")
        try:
            return RunRecord.from_stored(data)
        except NotARecord as error:
            raise UnreadableRecord(
                f"run {run_id}'s record in {self.path} (run.json on {RUNS_REF}{run_id}) is not one: {error}; "
                "it was edited or damaged"
            ) from None

    # ------------------------------------------------------------- experiments
    def lane(self, run_id: str, lane: int) -> Path:
        """The worktree of one lane, created on first use (or again when it fails its check)."""
        path = self.home / "worktrees" / self.key / run_id / f"lane-{lane}"
        if self._lane_git_dir(path) is None:
            with self.lock:
                forget_lane(path)
                if path.exists() or path.is_symlink():
                    _remove(path)
                self.git.worktree("prune")
                path.parent.mkdir(parents=True, exist_ok=True)
                self.git.worktree("add", "--detach", "-f", str(path), "HEAD")
        return path

    def _lane_git_dir(self, lane_path: Path) -> Path | None:
        """The lane's own admin folder in this repo, or None when the lane is missing or not ours.

        The lane's `.git` file must be a regular file naming a folder of this repo's
        `worktrees/` whose `gitdir` points back at it; anything else (a symlink, a
        pointer elsewhere: a fake git folder with hooks of its own) is never used.
        """
        marker = lane_path / ".git"
        if lane_path.is_symlink() or not marker.is_file() or marker.is_symlink():
            return None
        text = marker.read_text(errors="replace").strip()
        if not text.startswith("gitdir: "):
            return None
        admin = Path(text.removeprefix("gitdir: ").strip())
        worktrees = Path(self.repo.common_dir).resolve() / "worktrees"
        if admin.is_symlink() or admin.resolve().parent != worktrees:
            return None
        back = admin / "gitdir"
        if not back.is_file() or Path(back.read_text().strip()).resolve() != marker.resolve():
            return None
        return admin

    def _lane(self, lane_path: Path) -> tuple[Path, git.Git]:
        """A lane's checked admin folder and git with it as --git-dir; a lane that fails the check is rebuilt."""
        admin = self._lane_git_dir(lane_path)
        if admin is None:
            raise RunError(f"lane {lane_path} is not a worktree of {self.path}; it will be recreated")
        return admin, _git(lane_path, git_dir=admin)

    def checkout(self, lane_path: Path, branch: str, parent_commit: str) -> None:
        """Point `branch` at the parent's commit and check it out, clean, in the lane."""
        self._put(lane_path, parent_commit, branch)

    def checkout_detached(self, lane_path: Path, commit: str) -> None:
        """The lane holds `commit`'s files, clean, on no branch (for reading, or the base snapshot)."""
        self._put(lane_path, commit, None)

    def _put(self, lane_path: Path, commit: str, branch: str | None) -> None:
        """Check `commit` out in the lane (on `branch`, or detached), clean, doing only what is needed.

        A lane in a known state (`_LaneState`) skips the `clean` (nothing untracked can be
        there: a forced checkout from one exact tree to another leaves an exact tree), and
        the checkout too when it already holds `commit` on the same HEAD; the state after a
        commit needs only the clean. Anything unknown gets both, as always.
        """
        admin, lane = self._lane(lane_path)
        known = _take_state(lane_path, admin)
        if known is not None and known.written:
            known = None
        commit = self._full_commit(commit)
        same_head = known is not None and known.commit == commit and known.branch == branch
        if not same_head:
            target = ["-B", branch] if branch is not None else ["--detach"]
            lane.checkout("-q", "-f", *target, commit)
        if known is None or known.extras:
            lane.clean("-q", "-ffdx")
        _LANES[os.path.abspath(lane_path)] = _LaneState(commit, branch, *_head_and_index(admin))

    def _head_commit(self, admin: Path) -> str | None:
        """A lane's HEAD commit read from its files (HEAD, a loose branch ref), or None if not there.

        A loose ref file, when there is one, is always the branch's value (git writes every
        update there; packing removes it), so this spares a `rev-parse` per experiment.
        """
        text = (admin / "HEAD").read_text(errors="replace").strip()
        if text.startswith("ref: refs/heads/"):
            ref = Path(self.repo.common_dir) / text.removeprefix("ref: ")
            text = ref.read_text(errors="replace").strip() if ref.is_file() else ""
        return text if _is_commit_id(text) else None

    def _full_commit(self, commit: str) -> str:
        """The full id of a commit id (records hold full ids; anything else is resolved once)."""
        return commit if _is_commit_id(commit) else self.resolve_commit(commit)

    def resolve_commit(self, ref: str) -> str:
        """The commit id a branch, tag or commit-ish names in this repo (a run's warm-start base)."""
        sha = self.git.rev_parse("--verify", "-q", f"{ref}^{{commit}}", with_exceptions=False)
        if not sha:
            raise NotFoundError(f"no commit {ref!r} in {self.path}")
        return str(sha).strip()

    def commit(self, lane_path: Path, message: str) -> str:
        """Commit everything in the lane (even nothing) and return the commit id.

        When the lane's state says `write_files` changed only tracked files, `commit -a`
        stages them (one git process, and nothing is left to clean); otherwise `add -A`.
        """
        message = commit_message_text(message)  # it quotes the LLM's idea: no control character in git
        admin, lane = self._lane(lane_path)
        before = _take_state(lane_path, admin)
        # only `write_files` wrote, and only files the commit tracks: `commit -a` stages them all
        tidy = before is not None and before.written and not (before.untidy or before.extras)
        if tidy:
            self._checked(
                lane, lane_path, "commit", "-a", "-q", "--allow-empty", "--no-verify", "-m", message
            )
        else:
            self._checked(lane, lane_path, "add", "-A")
            self._checked(lane, lane_path, "commit", "-q", "--allow-empty", "--no-verify", "-m", message)
        sha = self._head_commit(admin) or lane.rev_parse("HEAD")
        if before is not None:  # HEAD moved on; files `add -A` skipped (ignored ones) may remain
            state = _LaneState(sha, before.branch, *_head_and_index(admin), extras=not tidy)
            _LANES[os.path.abspath(lane_path)] = state
        return sha

    def write_record(self, record: ExperimentRecord, branch: str | None = None) -> None:
        """Attach the experiment's record to its commit as a note (replacing an older one).

        With `branch`, then point that branch at the commit: a reader that finds the branch
        (`read_records`, `reindex`, `adopt`) always finds the record with it, crash or not.
        """
        payload = json.dumps(record.to_dict(), sort_keys=True)
        with self.lock:  # on stdin: an argument holds at most 128 KiB (a scorer printing 50,000 metrics)
            self._git_input(["notes", f"--ref={NOTES_REF}", "add", "-f", "-F", "-", record.commit], payload)
            if branch is not None:
                self.git.update_ref(f"refs/heads/{branch}", record.commit)

    def read_records(self, run_id: str) -> list[ExperimentRecord]:
        """Every experiment of a run, for a writer: `UnreadableRecord` if a note is not a record."""
        return self.read_notes(run_id).require()

    def read_notes(self, run_id: str) -> RunNotes:
        """Every experiment of a run from its branches and their notes, and the notes that are not records.

        A branch without a note is left out, as it always was: strop makes a branch only once
        its note is written, so only a hand removed it (`strop audit` names such a branch).
        """
        listing = self.git.for_each_ref(
            "--format=%(refname:short) %(objectname)", f"refs/heads/{BRANCH_PREFIX}{run_id}/"
        )
        notes = self._notes_by_commit()
        records, unreadable = [], []
        for line in listing.splitlines():
            branch, commit = line.split()
            note = notes.get(commit)
            if note is None:
                continue
            try:
                records.append(ExperimentRecord.from_note(self._blob(note)))
            except NotARecord as error:
                unreadable.append(UnreadableNote(branch, commit, str(error)))
        return RunNotes(run_id, self.path, sorted(records, key=lambda r: r.id), unreadable)

    def read_note(self, commit: str) -> ExperimentRecord | None:
        """The record `commit`'s note holds (None: no note); `NotARecord` when the note is not one."""
        note = self.git.notes(f"--ref={NOTES_REF}", "list", commit, with_exceptions=False)
        return ExperimentRecord.from_note(self._blob(note.strip())) if note else None

    def _notes_by_commit(self) -> dict[str, str]:
        listing = self.git.notes(f"--ref={NOTES_REF}", "list", with_exceptions=False) or ""
        pairs = (line.split() for line in listing.splitlines())
        return {commit: note for note, commit in pairs}

    def _blob(self, sha: str) -> bytes:
        return bytes(self.repo.odb.stream(bytes.fromhex(sha)).read())

    def diff(self, parent: str, commit: str, stat: bool = False) -> str:
        """The change from `parent` to `commit`, as git's own text: never the user's diff program
        (`diff.external`, a textconv filter) nor colour, which `strop report` and `show` embedded."""
        args = ["--stat"] if stat else []
        return self.git.diff("--no-ext-diff", "--no-textconv", "--no-color", *args, parent, commit, "--")

    def remove_lanes(self, run_id: str) -> None:
        """Remove a run's worktrees; the branches stay."""
        folder = self.home / "worktrees" / self.key / run_id
        with self.lock:
            if folder.exists():
                for lane in folder.iterdir():
                    forget_lane(lane)
                    self.git.worktree("remove", "--force", str(lane), with_exceptions=False)
                shutil.rmtree(folder, ignore_errors=True)
            self.git.worktree("prune")

    def tidy(self) -> None:
        """`git gc --auto` once (strop's own commands never start it: `_NO_AUTO_MAINTENANCE`).

        It packs only past git's thresholds (the user's `gc.auto` is honoured), and its failure
        is not the run's: the experiments are already recorded.
        """
        with self.lock:
            subprocess.run(
                ["git", *[arg for item in _SAFE_CONFIG for arg in ("-c", item)], "gc", "--auto", "--quiet"],
                cwd=self.path,
                capture_output=True,
                check=False,
                env={**os.environ, **IDENTITY, "GIT_DIR": self.repo.git_dir},
            )

    def discard_run(self, run_id: str) -> None:
        """Remove every trace of a run that failed to start (lanes, branches, run ref)."""
        self.remove_lanes(run_id)
        with self.lock:
            refs = self.git.for_each_ref(
                "--format=%(refname)", f"refs/heads/{BRANCH_PREFIX}{run_id}/"
            ).split()
            for ref in [*refs, RUNS_REF + run_id]:
                self.git.update_ref("-d", ref, with_exceptions=False)


def shown(paths: list[str], most: int = 5) -> str:
    """The first `most` paths, and how many more: a list of files in one line of a message."""
    return ", ".join(paths[:most]) + (f" and {len(paths) - most} more" if len(paths) > most else "")


@dataclass(frozen=True)
class IgnoredPaths:
    """What git ignores in a folder: files, and folders ignored whole (`git ls-files --directory`)."""

    files: frozenset[str]
    folders: tuple[str, ...]  # each ends with "/"

    def holds(self, relative: str) -> bool:
        """Whether the folder-relative posix path `relative` is ignored (itself or a folder above it)."""
        return relative in self.files or relative.startswith(self.folders)


def git_ignored(folder: Path, copy: Path) -> IgnoredPaths:
    """The paths git ignores in the plain folder `folder` by its own .gitignore files (and the
    user's excludes file), as its managed copy's git folder `copy` reads them: what the copy's
    `add -A` leaves out, so no experiment has them.

    A file so left out (a plain folder's own `*.log`) was a "change" of the folder forever:
    `strop adopt` refused it. The rules of a repo *around* the folder are not asked: a task
    folder inside a repo is a plain folder to strop, and what that repo ignores is often what
    the evaluator reads (`data/`: experiment 0 failed on a missing `data/train.csv` when they
    were applied). strop's own git, fsmonitor off: `ls-files` runs no hook, filter or pager.
    """
    listing = ["ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory"]
    argv = ["git", *_safe_args(), f"--git-dir={copy}", f"--work-tree={folder}", *listing]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    done = subprocess.run(argv, cwd=folder, capture_output=True, check=False, env=env)
    if done.returncode != 0:
        return IgnoredPaths(frozenset(), ())
    paths = [os.fsdecode(p) for p in done.stdout.split(b"\0") if p]
    return IgnoredPaths(
        frozenset(p for p in paths if not p.endswith("/")), tuple(p for p in paths if p.endswith("/"))
    )


def _copy_ignore(root: Path, above: IgnoredPaths) -> Callable[[str, list[str]], set[str]]:
    """`shutil.copytree`'s `ignore` for copying `root`: strop's own patterns (`_IGNORED`), and
    what git ignores there (`above`, paths relative to `root`)."""

    def ignore(source: str, names: list[str]) -> set[str]:
        skipped = set(_IGNORED(source, names))
        if above.files or above.folders:
            where = Path(os.path.relpath(source, root)).as_posix()
            prefix = "" if where == "." else where + "/"
            skipped |= {
                name for name in names if above.holds(prefix + name) or above.holds(prefix + name + "/")
            }
        return skipped

    return ignore


def commit_message_text(text: str) -> str:
    """An experiment's commit message as git keeps it: newlines and tabs kept, a `\\r\\n` a newline,
    every other control, invisible or format character (C0, DEL, C1 such as CSI `\\x9b` and NEL
    `\\x85`, a right-to-left override, a zero-width space, U+2028) written as its escape.

    The message quotes the LLM's idea; `git log` prints it raw to the user's terminal, where a
    CSI would recolour or move, a bidi override reorder, and an invisible character hide text.
    Whoever compares a record's idea with its commit's message cleans the idea the same way.
    """
    import unicodedata

    text = text.replace("\r\n", "\n")
    if text.isascii() and all(char in "\t\n" or " " <= char <= "~" for char in text):
        return text
    shown = []
    for char in text:
        if char not in "\t\n" and unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Cs"):
            code = ord(char)
            char = (
                f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
            )
        shown.append(char)
    return "".join(shown)


def _is_commit_id(text: str) -> bool:
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)


def _head_and_index(admin: Path) -> tuple[str, tuple[int, int, int]]:
    """A lane's HEAD (its file's text) and its index's (inode, size, mtime): what git commands change."""
    head = (admin / "HEAD").read_text(errors="replace")
    try:
        stat = (admin / "index").stat()
    except FileNotFoundError:
        return head, (0, 0, 0)
    return head, (stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    else:
        shutil.rmtree(path)


def holds(path: Path, blob: git.Blob) -> bool:
    """Whether `path` is what `blob` records; a link is compared as a link, never followed.

    `sync_workspace` copies a link as a link, so git records its target's name (mode 120000):
    reading through it compared the target's bytes with that name, and every folder holding a
    link was "changed" forever. A link repointed, or turned into a file, is a change.
    """
    if path.is_symlink():
        return blob.mode == blob.link_mode and os.fsencode(os.readlink(path)) == blob.data_stream.read()
    return blob.mode != blob.link_mode and path.read_bytes() == blob.data_stream.read()


def _ignored(rel: Path) -> bool:
    return bool(_IGNORED(str(rel.parent), [rel.name])) or any(_IGNORED("", [part]) for part in rel.parts[:-1])
