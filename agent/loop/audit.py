"""An audit of a run: is its record whole, and does it say what its evaluations said?

Two parts, both read-only and cheap (a few git processes and the run's log files):

`audit_run` checks what crash safety promises, from the outside (git, the index, the
file system): experiment ids are contiguous from 0 with none left pending (one the run's
time budget left, as designed, when the run says it ended on that budget, is said as a
note: `strop resume` evaluates it); the number
evaluated is what the budget allowed; the index says what git says; `git fsck` finds no
error; no lane worktree, lock file or held lock is left behind. The crash tests and the
crash benchmark call it after every resume.

`audit_provenance` (`agent.loop.provenance`, which lists its checks) checks what a
sceptical reader of the record would: each branch's note, the parents, every score
against its log and that log's sha256, the best, and the hidden test on the best only.

What a passing audit proves: the record is consistent with itself, with git's history
of it (every version of every note: `agent.loop.record_history`), with the experiments'
commits and with the logs on this machine; nobody removed or edited a note, moved a
branch, lost an experiment or changed a log after it was written (short of rewriting
a note, its log and the notes' history together, which anyone who can write to both
the repo and `$STROP_HOME` can do; even then a record's idea and params must match its
commit, and a result hidden by a note leaves its log behind). What it does not prove: that the scorer, the private
data, the task file or strop itself were not tampered with before or during the run
(the scorer's own output is taken as true); that the sandbox held (with `local` it does
not); that a one-stage (`command`) task's metric was not forged by the candidate in
the process that printed it; that a metric is more than one noisy draw; nor that the
hidden answers were read only as often as the final logs say (each final phase keeps its
own log, written and fsync'd as "started" before the hidden answers are copied out, so one
killed mid-way is listed as started, never finished; but a deleted log is not missed).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from filelock import FileLock, Timeout

from agent.experiments import ExperimentRepo
from agent.home import run_dir
from agent.loop.findings import Audit, Problem
from agent.loop.provenance import audit_provenance, provenance_audit
from agent.records import RunRecord
from agent.report.data import is_interrupted
from agent.run_index import RunIndex
from evaluators.verdict import Status

TIME_SPENT = "time budget spent"  # how `agent.budget.Budget.decide` words the end of a run's time

__all__ = ["Audit", "Problem", "audit", "audit_provenance", "audit_run", "provenance_audit"]


def audit(run_ref: str | None, home: Path, index: RunIndex) -> Audit:
    """Both audits of the run `run_ref` (an id, a prefix, or None for the latest)."""
    run = index.find_run(run_ref)
    report = Audit(run=run)
    if held_by_a_process(run.id):
        report.in_progress = True
        report.experiments = len(index.experiments(run.id))
        return report
    try:
        report.problems.extend(_whole_run(run.id, home, index, None, report.unchecked))
    except (ValueError, TypeError, KeyError, AttributeError) as error:  # a note that is not a record
        report.problems.append(
            Problem(
                f"a note of the run is not a record ({type(error).__name__}: {error}): the whole-run checks "
                "could not read the records",
                "see the line about the branch whose note it is",
            )
        )
    provenance_audit(run.id, home, index, report)
    return report


def held_by_a_process(run_id: str) -> bool:
    """Whether a strop process runs the run now (it holds `runner.lock`): its record is being
    written, so a pending experiment, a lane or a held lock is no fault, and `git fsck` reading
    the notes ref mid-update reported a missing commit once. False where the home is read-only."""
    lock = FileLock(str(run_dir(run_id) / "runner.lock"), timeout=0)
    try:
        lock.acquire()
        lock.release()
    except Timeout:
        return True
    except OSError:
        return False
    return False


def cut_by_time(run: RunRecord) -> bool:
    """Whether a pending experiment of the run is one its time budget left (by design, see
    `agent.loop.nodes`: an evaluation the time left cannot finish is not started, and the run
    ends on its time budget): the run ended, and says that is why. A run that ended otherwise,
    or has not ended, with an experiment pending lost an evaluation."""
    return run.status in ("done", "stopped") and run.stop_reason.startswith(TIME_SPENT)


def audit_run(run_id: str, home: Path, index: RunIndex, evaluated: int | None = None) -> list[str]:
    """Problems found, in words; an empty list means the run is whole."""
    return _whole_run(run_id, home, index, evaluated, [])


def _whole_run(
    run_id: str, home: Path, index: RunIndex, evaluated: int | None, notes: list[str]
) -> list[str]:
    """The whole-run checks' problems; what is said but is no fault is added to `notes`."""
    problems: list[str] = []
    run = index.find_run(run_id)
    repo = ExperimentRepo.open(Path(run.repo), home)
    if run.status == "failed":  # an error stopped it (`agent.loop.graph.FAILED`): no process to wait for
        problems.append(
            Problem(
                f"run status is 'failed' (an error stopped it: {run.stop_reason})",
                f"`strop resume {run_id}` continues it once that error is fixed",
            )
        )
    elif run.status == "running" and is_interrupted(run, home):  # the word `strop runs` and `log` use
        problems.append(
            Problem(
                "run status is 'interrupted': no strop process is running it (killed or crashed)",
                f"`strop resume {run_id}` continues it",
            )
        )
    elif run.status not in ("done", "stopped"):
        problems.append(
            Problem(
                f"run status is {run.status!r}",
                f"if its process is gone, `strop resume {run_id}` finishes it; else wait for it to end",
            )
        )
    records = repo.read_records(run_id)
    ids = [record.id for record in records]
    if ids != list(range(len(ids))):
        problems.append(
            Problem(
                f"experiment ids are not 0..{len(ids) - 1}: {ids}",
                "an experiment's branch or note is gone (see the lines about branches)",
            )
        )
    pending = [record.id for record in records if record.status is Status.PENDING]
    if pending and cut_by_time(run):
        notes.append(
            f"experiments left pending: {pending}: the run ended on its time budget before it could "
            f"evaluate them (by design, not a fault); `strop resume {run_id} --time …` evaluates them"
        )
    elif pending:
        problems.append(
            Problem(f"experiments left pending: {pending}", f"`strop resume {run_id}` evaluates them")
        )
    scored = sum(1 for record in records if record.status not in (Status.PENDING, Status.REJECTED))
    if evaluated is not None and scored != evaluated:
        problems.append(Problem(f"{scored} experiments evaluated, expected {evaluated}"))
    cached = {(r.id, r.status, r.commit) for r in index.experiments(run_id)}
    if cached != {(r.id, r.status, r.commit) for r in records}:
        problems.append(
            Problem("the run index disagrees with git", "`strop reindex` rebuilds the index from git")
        )
    branches = repo.git.for_each_ref("--format=%(refname)", f"refs/heads/strop/{run_id}/").split()
    if len(branches) != len(records):
        problems.append(
            Problem(
                f"{len(branches)} branches but {len(records)} recorded experiments",
                "a branch names a commit without its note (see the lines about branches)",
            )
        )
    fsck = subprocess.run(["git", "fsck", "--no-progress"], cwd=repo.path, capture_output=True, text=True)
    bad = [line for line in (fsck.stdout + fsck.stderr).splitlines() if not line.startswith("dangling")]
    if fsck.returncode != 0 or bad:
        problems.append(
            Problem(
                f"git fsck: {' | '.join(bad) or fsck.returncode}",
                f"the experiment repo is damaged: see `git -C {repo.path} fsck --full`",
            )
        )
    lanes = home / "worktrees" / repo.key / run_id
    listing = repo.git.worktree("list", "--porcelain").splitlines()
    # this run's only: another run of the same repo may be going, or killed and not yet resumed
    left = [line for line in listing if line.startswith(f"worktree {lanes}/")]
    resume = f"`strop resume {run_id}` removes them when it ends"
    if left:
        problems.append(Problem(f"{len(left)} worktree(s) of the run left: {left}", resume))
    if lanes.exists():
        problems.append(Problem("the run's lane folder is still there", resume))
    git_dir = Path(repo.repo.git_dir)
    stale = [str(p.relative_to(git_dir)) for p in git_dir.rglob("*.lock") if p.name != "strop.lock"]
    if stale:
        problems.append(
            Problem(
                f"stale git lock files: {stale}",
                f"when no git or strop process works in {repo.path}, remove them",
            )
        )
    for lock_path in (git_dir / "strop.lock", run_dir(run_id) / "runner.lock"):
        lock = FileLock(str(lock_path), timeout=0)
        try:
            lock.acquire()
            lock.release()
        except Timeout:
            problems.append(
                Problem(
                    f"{lock_path.name} is still held",
                    f"a strop process is still at work: let it end, or `strop stop {run_id}`",
                )
            )
        except OSError:  # a read-only home (a copy, a mount): the audit reads; who holds it is unknowable
            continue
    return problems
