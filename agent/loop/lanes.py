"""The run's lanes (git worktrees) and what a crash may leave in them.

A SIGKILL can land in the middle of a git command: a lane may hold a stale
`index.lock`, a ref a stale `.lock`. Before a run resumes (holding the run's
runner lock and the repo's strop lock, so no live strop process owns them),
`clear_stale_locks` removes exactly those lock files that belong to this run's
lanes and refs, and prunes worktrees whose folders are gone.
"""

from __future__ import annotations

from pathlib import Path

from agent.experiments import BRANCH_PREFIX, NOTES_REF, RUNS_REF, ExperimentRepo


def clear_stale_locks(repo: ExperimentRepo, run_id: str) -> list[str]:
    """Remove the lock files a killed run left behind; returns what was removed."""
    git_dir = Path(repo.repo.git_dir)
    candidates = [
        git_dir / "refs" / "notes" / f"{NOTES_REF}.lock",
        git_dir / f"{RUNS_REF}{run_id}.lock",
        git_dir / "packed-refs.lock",
    ]
    candidates += list((git_dir / "refs" / "heads" / BRANCH_PREFIX / run_id).glob("*.lock"))
    worktrees = git_dir / "worktrees"
    lanes_folder = repo.home / "worktrees" / repo.key / run_id
    if worktrees.is_dir():
        for admin in worktrees.iterdir():
            gitdir_file = admin / "gitdir"
            target = gitdir_file.read_text().strip() if gitdir_file.is_file() else ""
            if target.startswith(str(lanes_folder)):
                candidates += [admin / "index.lock", admin / "HEAD.lock"]
    removed = []
    with repo.lock:
        for path in candidates:
            if path.exists():
                path.unlink()
                removed.append(str(path.relative_to(git_dir)))
        repo.git.worktree("prune")
    return removed
