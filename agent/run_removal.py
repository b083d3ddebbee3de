"""Run removal: what `strop rm` takes away of a run, in an order a kill cannot make harmful.

A run lives in four places: its folder in the home (`runs/RUN`: logs, checkpoints, the
evaluator's copy of the private data), its lane worktrees (`worktrees/KEY/RUN`), its refs in
the experiment repo (branches `strop/RUN/N`, the notes on their commits, the record under
`refs/strop/runs/RUN`) and its rows in the run index. `remove_run` takes them in this order:

1. the run's runner lock, held to the end: a run a strop process drives is refused, and no
   `strop resume` can start on it meanwhile;
2. its lane worktrees (`git worktree prune`);
3. the notes on its experiments' commits (a note whose record names another run stays);
4. its branches, then its run ref: from here `strop reindex` no longer finds it;
5. its index rows: from here `strop runs` no longer lists it;
6. its folder and what is left of its worktrees, each renamed into `trash/`, then deleted.

A kill between two steps leaves a run the index still lists whole (`strop runs`, `strop log`
read only the index) up to step 5, and `strop rm RUN` again finishes it: each step does
nothing when its part is gone. Notes go before branches because a branch is found by its
name, a note only through a branch. After step 5 only a folder can be left, which no command
lists (`Run.start` indexes a folder again only while git holds its run ref); `strop rm RUN`
finds it by its exact id, and a half-deleted folder is always in `trash/`, swept at the next
removal.

Only strop's own refs of that run go: never another branch, never HEAD (a run whose branch is
checked out in a worktree not strop's is refused), never a commit. A commit an adopt merged
into the user's branch stays in their history; the run's other commits become unreachable and
git's own gc frees them in its time (unreachable objects are kept two weeks by default).
Removal never runs `git gc`: in the user's repo, `--prune=now` would also drop what the user
left unreachable, and in any repo it races a run writing objects not yet referenced. A repo
strop manages (a plain folder's copy under `repos/`) that the removal leaves with no run is
removed whole, with its line in `repos.txt`: it holds nothing the user's folder lacks.

A run a nightly job warm-starts from may be removed, with a note (`nightly_notes`): the
nightly already starts cold, saying why, when last night's best commit is gone (see
`agent.nightly.warm`), so nothing breaks, and refusing would make a scheduled
`strop rm --older-than 30d` fail every night on the one run a job leans on.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from filelock import Timeout

from agent.errors import NotFoundError, RunError, UserError
from agent.experiments import ADOPTING, BRANCH_PREFIX, NOTES_REF, RUNS_REF, ExperimentRepo, git_said
from agent.records import RunRecord
from agent.run import RUNNER_LOCK, driven, runner_lock
from agent.run_index import REPOS, RunIndex

_OLDEST = 100 * 365.25 * 86400
"""The longest `--older-than` taken, in seconds."""

TRASH = "trash"
"""The home's folder where what is being deleted goes first (one rename), so a kill never leaves half a run folder."""

STATUSES = ("done", "stopped", "failed", "interrupted")
"""What `--status` selects: a run's recorded end, or `interrupted` (says running, no process drives it)."""

_CHUNK = 500  # refs or commits per git command: far below the argument limit


@dataclass(frozen=True)
class Target:
    """One run to remove, as found before anything is touched."""

    id: str
    record: RunRecord | None  # None: only its folder was left (a removal killed after its index rows)
    repo: Path | None  # its experiment repo; None when it has none any more
    experiments: int
    size: int  # bytes of its folder and its worktrees in the home
    commits: tuple[str, ...] = ()  # its experiments' commits as the index has them


@dataclass(frozen=True)
class Refusal:
    """A run left as it is, and why, in one line."""

    id: str
    reason: str


@dataclass
class Plan:
    """What a removal would do: the runs, the runs refused, the managed repos left empty, the notes."""

    targets: list[Target] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    emptied: dict[Path, int] = field(default_factory=dict)  # each managed repo left with no run: its bytes
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        """The bytes the removal frees at once: the runs' folders and the managed repos emptied."""
        return sum(target.size for target in self.targets) + sum(self.emptied.values())


@dataclass
class Outcome:
    """What a removal did: runs removed, runs refused at the last moment (a process took one since it
    was planned), bytes freed, managed repos removed, repos whose objects git's gc frees later."""

    removed: list[Target] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    freed: int = 0
    repos_removed: list[Path] = field(default_factory=list)
    repos_to_gc: list[Path] = field(default_factory=list)


# ------------------------------------------------------------------ selection
def parse_age(text: str) -> timedelta:
    """`30d`, `12h`, `2w`, `90m`, `1w2d` (`sandbox.units`' durations), or `UserError` saying how
    to write one. A bare number is refused: `--older-than 30` read as 30 seconds would select
    nearly every run, where the user most likely meant days."""
    from sandbox.units import UnitError, parse_duration

    hint = f"--older-than {text!r} is not an age: write e.g. 30d, 12h, 2w or 90m"
    if text.strip().replace(".", "", 1).isdigit():
        raise UserError(f"{hint} (a number needs its unit)")
    try:
        seconds = parse_duration(text)
    except UnitError as error:
        raise UserError(f"{hint} ({str(error).split(': ', 1)[0]})") from None
    if seconds > _OLDEST:  # `now - age` would leave the calendar (an OverflowError, not a line)
        raise UserError(f"--older-than {text!r} reaches back before any run: give at most 100 years")
    return timedelta(seconds=seconds)


def select(
    index: RunIndex,
    refs: list[str],
    older_than: timedelta | None,
    status: str | None,
    now: datetime,
) -> list[tuple[str, RunRecord | None]]:
    """The runs named (ids, prefixes, `latest`) or, with no name, those the filters select.

    A name the index lacks is looked for, by its exact id, in the known repos and the home's
    run folders: what a removal killed midway, or a crash before indexing, left behind.
    """
    if refs and (older_than is not None or status is not None):
        raise UserError("name runs, or select them with --older-than/--status, not both")
    if refs:
        chosen = [_named(index, ref) for ref in refs]
        return list({run_id: record for run_id, record in chosen}.items())
    if older_than is None and status is None:
        raise UserError(
            "name the runs to remove (`strop rm RUN`), or select them with --older-than or --status"
        )
    if status is not None and status not in STATUSES:
        raise UserError(f"--status {status!r}: use one of {', '.join(STATUSES)}")
    cutoff = now - older_than if older_than is not None else None
    return [
        (run.id, run)
        for run in index.runs()
        if (cutoff is None or _started(run) < cutoff)
        and (status is None or _status(run, index.home) == status)
    ]


def _named(index: RunIndex, ref: str) -> tuple[str, RunRecord | None]:
    try:
        run = index.find_run(ref)
        return run.id, run
    except NotFoundError:
        if not (ref.isascii() and ref.isalnum()):
            raise
        for path in index.known_repos():
            if (path / ".git").exists() and (repo := _open(path, index.home)) and repo.has_run(ref):
                return ref, replace(repo.read_run(ref), repo=str(path))  # where it is, not where it was
        if (index.home / "runs" / ref).is_dir():
            return ref, None
        raise


def _started(run: RunRecord) -> datetime:
    return datetime.fromisoformat(run.started.replace("Z", "+00:00"))


def _status(run: RunRecord, home: Path) -> str:
    """The run's status as `strop runs` says it: `interrupted` for a running one no process drives."""
    if run.status == "running" and driven(home / "runs" / run.id) is False:
        return "interrupted"
    return run.status


# ------------------------------------------------------------------- planning
def plan(index: RunIndex, chosen: list[tuple[str, RunRecord | None]], force: bool = False) -> Plan:
    """What removing `chosen` would do, and which of them are refused; changes nothing."""
    home = index.home
    result = Plan()
    repos: dict[Path, ExperimentRepo | None] = {}
    for run_id, record in chosen:
        repo = _repo_of(record, home, repos)
        if record is not None and repo is None:
            result.notes.append(
                f"run {run_id}'s experiment repo {record.repo} is gone: only the home's part goes"
            )
        reason = _refusal(run_id, record, repo, home, force)
        if reason is not None:
            result.refused.append(Refusal(run_id, reason))
            continue
        indexed = index.experiments(run_id)
        result.targets.append(
            Target(
                id=run_id,
                record=record,
                repo=repo.path if repo is not None else None,
                experiments=len(indexed) or (len(_branches(repo, run_id)) if repo is not None else 0),
                size=_size(_home_places(home, run_id)),
                commits=tuple(r.commit for r in indexed),
            )
        )
    going = {target.id for target in result.targets}
    for path, repo in repos.items():
        if repo is not None and _managed_in(repo, home) and set(_run_ids(repo)) <= going:
            result.emptied[path] = _size([path])
    places = {target.id: target.repo for target in result.targets}
    result.notes += nightly_notes(home, places, set(result.emptied))
    return result


def _repo_of(
    record: RunRecord | None, home: Path, cache: dict[Path, ExperimentRepo | None]
) -> ExperimentRepo | None:
    if record is None:
        return None
    path = Path(record.repo)
    if path not in cache:
        cache[path] = _open(path, home)
    return cache[path]


def _open(path: Path, home: Path) -> ExperimentRepo | None:
    """The experiment repo at `path`, or None when it is gone (its runs still go from the home)."""
    try:
        return ExperimentRepo.open(path, home)
    except RunError:
        return None


def _refusal(
    run_id: str, record: RunRecord | None, repo: ExperimentRepo | None, home: Path, force: bool
) -> str | None:
    """Why the run must stay, in one line; None when it may go."""
    state = driven(home / "runs" / run_id) if (home / "runs" / run_id).is_dir() else None
    if state:
        return (
            f"run {run_id} is running (a strop process holds its runner lock): `strop stop {run_id}` "
            "ends it; remove it after"
        )
    if state is None and record is not None and record.status == "running" and not force:
        return (
            f"run {run_id} says it is running and has no runner lock (a search, or an older strop's "
            "run): strop cannot tell whether a process drives it; add --force if none does"
        )
    if repo is not None:
        for branch, where in _checked_out(repo, run_id, home):
            return f"run {run_id}'s branch {branch} is checked out in {where}: switch that worktree to another branch first"
    return None


def _checked_out(repo: ExperimentRepo, run_id: str, home: Path) -> Iterator[tuple[str, str]]:
    """The run's branches checked out in a worktree that is not one of strop's lanes (HEAD included)."""
    prefix = f"branch refs/heads/{BRANCH_PREFIX}{run_id}/"
    lanes = (home / "worktrees").resolve()
    where = Path()
    for line in repo.git.worktree("list", "--porcelain").splitlines():
        if line.startswith("worktree "):
            where = Path(line.removeprefix("worktree "))
        elif line.startswith(prefix) and not where.resolve().is_relative_to(lanes):
            yield line.removeprefix("branch refs/heads/"), str(where)


def _managed_in(repo: ExperimentRepo, home: Path) -> bool:
    return repo.managed and repo.path.parent == home / REPOS


def _run_ids(repo: ExperimentRepo) -> list[str]:
    refs = repo.git.for_each_ref("--format=%(refname)", RUNS_REF).split()
    return [ref.removeprefix(RUNS_REF) for ref in refs]


def _branches(repo: ExperimentRepo, run_id: str) -> dict[str, str]:
    """The run's branches (full ref names) and the commit each names."""
    listing = repo.git.for_each_ref(
        "--format=%(refname) %(objectname)", f"refs/heads/{BRANCH_PREFIX}{run_id}/"
    )
    return dict(line.split() for line in listing.splitlines() if line.strip())


def _home_places(home: Path, run_id: str) -> list[Path]:
    """The run's folder and its worktrees' folder (one per repo key) in the home."""
    return [home / "runs" / run_id, *(home / "worktrees").glob(f"*/{run_id}")]


def _size(paths: Iterable[Path]) -> int:
    """Bytes of the files under `paths`, links not followed (a lane's link out is not the run's)."""
    total = 0
    for path in paths:
        for folder, _, files in os.walk(path):
            for name in files:
                with contextlib.suppress(OSError):  # gone meanwhile
                    total += os.lstat(os.path.join(folder, name)).st_size
    return total


def nightly_notes(home: Path, going: dict[str, Path | None], emptied: set[Path]) -> list[str]:
    """One line per nightly job that leans on a run being removed (`going`: each with its repo):
    its warm start, or the resume of its killed night."""
    if not (home / "nightly" / "history.json").exists() or not going:
        return []
    from agent.nightly.history import History

    try:
        history = History(home)
    except UserError:  # an unreadable history is `strop nightly`'s to report
        return []
    notes = []
    for job in dict.fromkeys(record.job for record in history.records):
        good = history.last_good(job)
        if good is not None and good.run in going:
            notes.append(
                f"nightly job {job} warm-starts from run {good.run}'s best (commit {good.commit[:12]}): its next "
                "night starts cold, from your workspace, once git no longer holds that commit"
                + (
                    " (at once: its repo goes too)"
                    if going[good.run] in emptied
                    else " (after git's gc prunes it)"
                )
            )
        last = history.last(job)
        if last is not None and last.status == "running" and last.run in going:
            notes.append(
                f"nightly job {job}'s killed night was to resume run {last.run}: that night finds it gone"
            )
    return notes


# ------------------------------------------------------------------- removing
def remove(index: RunIndex, planned: Plan) -> Outcome:
    """Remove each planned run (`remove_run`), then the managed repos left with no run."""
    home = index.home
    _sweep(home)
    outcome = Outcome()
    opened: dict[Path, ExperimentRepo | None] = {}
    touched: dict[Path, ExperimentRepo] = {}
    for target in planned.targets:
        if target.repo is not None and target.repo not in opened:
            opened[target.repo] = _open(target.repo, home)
        repo = opened.get(target.repo) if target.repo is not None else None
        reason = remove_run(index, target, repo)
        if reason is not None:
            outcome.refused.append(Refusal(target.id, reason))
            continue
        outcome.removed.append(target)
        outcome.freed += target.size
        if repo is not None:
            touched[repo.path] = repo
    for path, repo in touched.items():
        if path in planned.emptied and _drop_managed(index, repo):
            outcome.repos_removed.append(path)
            outcome.freed += planned.emptied[path]
        else:
            outcome.repos_to_gc.append(path)
    return outcome


def remove_run(index: RunIndex, target: Target, repo: ExperimentRepo | None) -> str | None:
    """Remove one run in the module's order; a refusal (it got a driver since it was planned), or None."""
    home = index.home
    folder = home / "runs" / target.id
    lock = runner_lock(folder) if (folder / RUNNER_LOCK).is_file() else None
    if lock is not None:
        try:
            lock.acquire()
        except Timeout:
            return f"run {target.id} started running again: `strop stop {target.id}` ends it; remove it after"
    try:
        if repo is not None:
            for branch, where in _checked_out(repo, target.id, home):  # checked out since it was planned
                return (
                    f"run {target.id}'s branch {branch} is checked out in {where}: switch that worktree first"
                )
            repo.remove_lanes(target.id)
            with repo.lock:
                _remove_notes(repo, target)
                _remove_refs(repo, target.id)
        index.forget_run(target.id)
    finally:
        if lock is not None:
            lock.release(force=True)
    for place in _home_places(home, target.id):
        discard(home, place)
    return None


def _remove_notes(repo: ExperimentRepo, target: Target) -> None:
    """Remove the notes of the run's experiments: those on its branches' commits (unless the note
    names another run) and those naming the run on the commits the index knows for it."""
    on_branches = set(_branches(repo, target.id).values())
    listing = repo.git.notes(f"--ref={NOTES_REF}", "list", with_exceptions=False) or ""
    notes = {commit: note for note, commit in (line.split() for line in listing.splitlines() if line.strip())}
    doomed = []
    for commit in sorted(on_branches | set(target.commits)):
        if commit not in notes:
            continue
        owner = _note_run(repo, notes[commit])
        if owner == target.id or (owner is None and commit in on_branches):
            doomed.append(commit)
    for chunk in _chunks(doomed):
        _git(repo, "notes", f"--ref={NOTES_REF}", "remove", "--ignore-missing", *chunk)


def _note_run(repo: ExperimentRepo, blob: str) -> str | None:
    """The run a note's record names; None when the note is not a record."""
    try:
        data = json.loads(repo.repo.odb.stream(bytes.fromhex(blob)).read())
    except (ValueError, OSError):
        return None
    run = data.get("run") if isinstance(data, dict) else None
    return run if isinstance(run, str) else None


def _remove_refs(repo: ExperimentRepo, run_id: str) -> None:
    """Delete the run's branches (`git branch -D`, which refuses one checked out anywhere), then its run ref."""
    names = [ref.removeprefix("refs/heads/") for ref in _branches(repo, run_id)]
    for chunk in _chunks(names):
        _git(repo, "branch", "-D", *chunk)
    if repo.has_run(run_id):
        _git(repo, "update_ref", "-d", RUNS_REF + run_id)


def _git(repo: ExperimentRepo, command: str, *args: str) -> None:
    """`git command args` in the repo (strop's safe config); a failure is one line with git's words."""
    status, out, said = getattr(repo.git, command)(*args, with_exceptions=False, with_extended_output=True)
    if status != 0:
        raise RunError(f"git {command.replace('_', '-')} failed in {repo.path}: {git_said(said or out)}")


def _drop_managed(index: RunIndex, repo: ExperimentRepo) -> bool:
    """Remove a managed repo left with no run: its registry line first (`strop reindex` must not
    meet a half-deleted repo), then the repo, then its worktrees folder. False when it is in use
    again (a run started in it, or an adopt writing the folder)."""
    with repo.lock:
        if _run_ids(repo) or _branches(repo, "") or (Path(repo.repo.git_dir) / ADOPTING).exists():
            return False
        index.forget_repo(repo.path)
        key = repo.key
        discard(index.home, repo.path)
    discard(index.home, index.home / "worktrees" / key)
    return True


def discard(home: Path, path: Path) -> None:
    """Delete `path`: renamed into the home's `trash/` first, so a kill never leaves it half there."""
    if not (path.exists() or path.is_symlink()):
        return
    trash = home / TRASH
    trash.mkdir(mode=0o700, exist_ok=True)
    aside = trash / f"{path.name}-{secrets.token_hex(4)}"
    try:
        path.rename(aside)
    except OSError:  # another file system (a linked `runs/`): delete in place
        aside = path
    if aside.is_dir() and not aside.is_symlink():
        shutil.rmtree(aside, ignore_errors=True)
    else:
        aside.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # kept while another removal uses it, or holds what one left
        trash.rmdir()


def _sweep(home: Path) -> None:
    """Finish the deletions a kill cut short."""
    trash = home / TRASH
    if not trash.is_dir():
        return
    for leftover in trash.iterdir():
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def size_text(size: int) -> str:
    """Bytes as a person reads them: 812 B, 14.2 KiB, 3.1 MiB, 1.0 GiB."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
