"""Warm start: whether tonight's run starts from last night's best commit, and if not, why.

    warm_start(jobs, name, previous, same_job, home, folder) -> Start(base, head, note)

A warm start continues last night's search: experiment 0 is the best commit it found. It is
the right start only while that commit still stands for the user's work, so the job starts
cold, from the user's workspace as it is, with a one-line note saying why, when

- the commit is gone from the workspace (its branches deleted and garbage-collected, or the
  workspace cloned again): a warm start then failed every later night with "no commit …",
  and nothing else moved the job on;
- the job's task changed since that night (`runner.job_identity`: another task file, its text, its
  scorer's or data's files): that night's best was found, and scored, for another task;
- the night's run was removed (`strop rm`): `runner._previous_good` passes over it, to the night
  before it;
- the user's work moved since that night (`head` differs: their branch, or a plain folder's files): what the user committed since
  (a fixed evaluator, new code) is not in last night's best, and every experiment of the
  night ran without it, unseen. Their branch wins; `strop adopt` brings last night's best in.

The check opens the job's experiment repo as the run will (the user's repo, or the managed copy
of a plain folder, synced with it; an mle job's working folder's), in the nightly's own process before the job starts, so that
the history says which start the night took.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agent.nightly.history import NightRecord
from agent.nightly.jobs import Jobs

if TYPE_CHECKING:
    from agent.experiments import ExperimentRepo


@dataclass(frozen=True)
class Start:
    """Tonight's start: `base` (None: cold, from the workspace), the user's branch `head` now
    ("" when unknown), and `note`, why a warm start was not taken ("" when it was, or not asked)."""

    base: str | None
    head: str = ""
    note: str = ""


def warm_start(
    jobs: Jobs,
    name: str,
    previous: NightRecord | None,
    same_job: bool,
    home: Path,
    folder: Path | None = None,
) -> Start:
    """How a run or mle job starts tonight; `previous` is its last night that found something,
    `same_job` whether that night ran the same task, data and arguments (another task's commit
    means nothing here), `folder` an mle job's working folder (`runner.mle_folder`)."""
    spec = jobs.spec.jobs[name]
    if spec.kind == "mle":
        repo = _mle_repo(folder, home) if folder is not None else None
    else:
        repo = _experiment_repo(jobs, name, home) if spec.kind == "run" else None
    head = _head(repo) if repo is not None and spec.kind == "run" else ""  # an mle folder is strop's own
    if not spec.warm_start or previous is None or not previous.commit:
        return Start(None, head)
    if not same_job:
        return Start(
            None,
            head,
            f"not warm-started: the job's task changed since {previous.night} (its task file, scorer or "
            "data, or the task it names); started from the workspace as it is",
        )
    if repo is None:
        if spec.kind == "mle":  # its folder (or its task) is gone: the best commit went with it
            return Start(
                None,
                head,
                f"not warm-started: last night's best commit {previous.commit[:12]} is gone with the "
                "job's working folder; started afresh",
            )
        return Start(previous.commit, head)  # a task that does not load fails in its job, saying why
    commit = previous.commit
    if not _has_commit(repo, commit):
        return Start(
            None,
            head,
            f"not warm-started: last night's best commit {commit[:12]} is no longer in {repo.workspace}'s "
            "experiment repo (its branches deleted, or the workspace cloned again); started from the "
            "workspace as it is",
        )
    if previous.head and head and head != previous.head:
        if _holds(repo, head, commit):  # the morning's `strop adopt` moved it: the best is in
            return Start(
                None, head, f"started from your branch, which holds {previous.night}'s best (adopted)"
            )
        adopt = f"; `strop adopt {previous.run}/{previous.best}` brings it in" if previous.run else ""
        return Start(
            None,
            head,
            f"not warm-started: your workspace changed since {previous.night} ({previous.head[:10]} -> "
            f"{head[:10]}); started from it, not from that night's best{adopt}",
        )
    return Start(commit, head)


def _experiment_repo(jobs: Jobs, name: str, home: Path) -> ExperimentRepo | None:
    """The repo the run job's experiments live in: the user's repo, or the managed copy of a plain
    folder (synced with the folder, as the run would at its start). None when the task does not
    load or its workspace is not fit to run on (a dirty tree): the job then fails, saying why."""
    from agent.experiments import ExperimentRepo
    from agent.task import load_task

    try:
        return ExperimentRepo.for_workspace(load_task(jobs.task_path(name)).workspace, home)
    except Exception:
        return None


def _mle_repo(folder: Path, home: Path) -> ExperimentRepo | None:
    """The experiment repo of an mle job's working folder (its prepared task's workspace, a managed
    copy in strop's home); None when the folder was never prepared or does not load."""
    from agent.experiments import ExperimentRepo
    from agent.task import load_task

    if not (folder / "task.toml").is_file():
        return None
    try:
        return ExperimentRepo.for_workspace(load_task(folder / "task.toml").workspace, home)
    except Exception:
        return None


def _head(repo: ExperimentRepo) -> str:
    """The commit standing for the user's work now: their branch's, or the managed copy's of the folder."""
    from git.exc import GitError

    from agent.experiments import MANAGED_BRANCH

    try:
        return repo.repo.commit(MANAGED_BRANCH).hexsha if repo.managed else repo.head()[1]
    except (ValueError, TypeError, GitError):
        return ""


def _holds(repo: ExperimentRepo, head: str, commit: str) -> bool:
    """Whether `head` has `commit` in its history (a merge of it, or it fast-forwarded to)."""
    from git.exc import GitError

    try:
        return bool(repo.repo.is_ancestor(commit, head))
    except (ValueError, GitError):
        return False


def _has_commit(repo: ExperimentRepo, commit: str) -> bool:
    from git.exc import GitError

    try:
        repo.repo.commit(commit)
    except (ValueError, GitError):
        return False
    return True
