"""An audit of a finished run: is anything lost, duplicated, stale or broken?

What crash safety promises, checked from the outside (git, the index, the file
system): experiment ids are contiguous from 0 with none left pending; the number
evaluated is what the budget allowed; the index says what git says; `git fsck`
finds no error; no lane worktree, lock file or held lock is left behind.
The crash tests and the crash benchmark call it after every resume.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from filelock import FileLock, Timeout

from agent.experiments import ExperimentRepo
from agent.home import run_dir
from agent.run_index import RunIndex
from evaluators.verdict import Status


def audit_run(run_id: str, home: Path, index: RunIndex, evaluated: int | None = None) -> list[str]:
    """Problems found, in words; an empty list means the run is whole."""
    problems: list[str] = []
    run = index.find_run(run_id)
    repo = ExperimentRepo.open(Path(run.repo), home)
    if run.status not in ("done", "stopped"):
        problems.append(f"run status is {run.status!r}")
    records = repo.read_records(run_id)
    ids = [record.id for record in records]
    if ids != list(range(len(ids))):
        problems.append(f"experiment ids are not 0..{len(ids) - 1}: {ids}")
    pending = [record.id for record in records if record.status is Status.PENDING]
    if pending:
        problems.append(f"experiments left pending: {pending}")
    scored = sum(1 for record in records if record.status not in (Status.PENDING, Status.REJECTED))
    if evaluated is not None and scored != evaluated:
        problems.append(f"{scored} experiments evaluated, expected {evaluated}")
    cached = {(r.id, r.status, r.commit) for r in index.experiments(run_id)}
    if cached != {(r.id, r.status, r.commit) for r in records}:
        problems.append("the run index disagrees with git")
    branches = repo.git.for_each_ref("--format=%(refname)", f"refs/heads/strop/{run_id}/").split()
    if len(branches) != len(records):
        problems.append(f"{len(branches)} branches but {len(records)} recorded experiments")
    fsck = subprocess.run(["git", "fsck", "--no-progress"], cwd=repo.path, capture_output=True, text=True)
    bad = [line for line in (fsck.stdout + fsck.stderr).splitlines() if not line.startswith("dangling")]
    if fsck.returncode != 0 or bad:
        problems.append(f"git fsck: {' | '.join(bad) or fsck.returncode}")
    lanes = home / "worktrees" / repo.key / run_id
    listing = repo.git.worktree("list", "--porcelain").splitlines()
    # this run's only: another run of the same repo may be going, or killed and not yet resumed
    left = [line for line in listing if line.startswith(f"worktree {lanes}/")]
    if left:
        problems.append(f"{len(left)} worktree(s) of the run left: {left}")
    if lanes.exists():
        problems.append("the run's lane folder is still there")
    git_dir = Path(repo.repo.git_dir)
    stale = [str(p.relative_to(git_dir)) for p in git_dir.rglob("*.lock") if p.name != "strop.lock"]
    if stale:
        problems.append(f"stale git lock files: {stale}")
    for lock_path in (git_dir / "strop.lock", run_dir(run_id) / "runner.lock"):
        lock = FileLock(str(lock_path), timeout=0)
        try:
            lock.acquire()
            lock.release()
        except Timeout:
            problems.append(f"{lock_path.name} is still held")
    return problems
