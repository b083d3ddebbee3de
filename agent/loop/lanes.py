"""The run's lanes (git worktrees) and what a crash may leave in them.

A SIGKILL can land in the middle of a git command: a lane may hold a stale
`index.lock`, a ref a stale `.lock`. Before a run resumes (holding the run's
runner lock and the repo's strop lock, so no live strop process owns them),
`clear_stale_locks` removes exactly those lock files that belong to this run's
lanes and refs, and prunes worktrees whose folders are gone.

`restore_evaluator` rebuilds the run's evaluator from the pristine snapshot taken
when the run started (in the run folder), rather than re-snapshotting from the
base commit, which would also move experiment 0's branch (a spine quirk of
`Run.evaluator`: it checks lane 0 out as `strop/<run>/0`).
"""

from __future__ import annotations

from pathlib import Path

import git

from agent.experiments import BRANCH_PREFIX, NOTES_REF, RUNS_REF, ExperimentRepo
from agent.run import Run


def checkout_detached(lane: Path, commit: str) -> None:
    """The lane holds `commit`'s files, clean, on no branch (for reading a parent)."""
    command = git.Git(str(lane))
    command.checkout("-q", "-f", "--detach", commit)
    command.clean("-q", "-ffdx")


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


def restore_evaluator(run: Run) -> None:
    """Give a reopened run its evaluator from the snapshot taken at its start."""
    if run._evaluator is not None:  # noqa: SLF001 — see the module docstring
        return
    store = run.folder / "evaluator"
    spec = run.task.evaluator
    if not store.is_dir() and spec.files:
        run.evaluator()
        return
    from evaluators.command import CommandEvaluator
    from evaluators.integrity import ProtectedFiles, _digest_of, expand
    from sandbox import open_sandbox

    digests = {rel: _digest_of(store / rel) for rel in expand(store, spec.files)} if store.is_dir() else {}
    protected = ProtectedFiles(patterns=tuple(spec.files), store=store, digests=digests)
    run._evaluator = CommandEvaluator(  # noqa: SLF001
        spec, protected, open_sandbox(spec.sandbox), run.folder / "logs"
    )
