"""A `Run`: one execution of a task, and the bookkeeping of each experiment in it.

This is the engine room every front end shares (`strop eval`, the run loop, the
benchmarks): start or reopen a run, commit a candidate on its branch, evaluate it
in the sandbox, record the verdict in git and in the index, finish with the
hidden-test phase on the best. Proposers and search live above it; the sandbox
and evaluators below.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from agent.errors import UserError
from agent.experiments import ExperimentRepo, branch_name, lane_written
from agent.home import run_dir
from agent.records import Cost, ExperimentRecord, RunRecord, best_experiment, now_iso
from agent.run_index import RunIndex
from agent.task import Task, load_task
from evaluators.command import CommandEvaluator
from evaluators.integrity import ProtectedFiles, expand
from evaluators.spec import FOLDS_WITH_LLM_WARNING, FORGEABLE_WARNING
from evaluators.staged import StagedEvaluator
from evaluators.trusted import TrustedFiles
from evaluators.verdict import Status, Verdict

Evaluator = CommandEvaluator | StagedEvaluator
log = logging.getLogger("strop.run")


@dataclass
class Candidate:
    """What a proposer hands over: new file contents on top of the parent, and the idea in words.

    `files` maps workspace-relative paths to their whole new text (None deletes the file).
    """

    idea: str
    files: dict[str, str | None] = field(default_factory=dict)
    proposer: str = ""
    params: dict[str, object] | None = None
    cost: Cost = field(default_factory=Cost)
    turns: int = 0
    decisions: list[str] = field(default_factory=list)
    mode: str = ""  # how the proposer asked for it: text | structured | params (LLM), offline (fallback)


class UnsafePathError(ValueError):
    """A candidate's path that leaves the workspace, enters .git, or configures host git."""


GIT_CONTROL_PREFIX = ".git"
"""`.git*` names (.gitattributes, .gitmodules, .gitignore, …), any case: through them a tree tells host
git to run drivers, fetch, or leave files out of a commit; never written by a candidate. The check
ignores case because git does on case-insensitive file systems and refuses `.GIT/` paths anyway."""
MAX_NAME_BYTES = 255  # one path component, as Linux file systems allow
# a workspace-relative path. Not PATH_MAX (4096): the same path is written under strop's own folders
# (the lane, each evaluation's scratch copy, a container's mount), and a 4,040-byte one fit the lane
# but not the copy, failing every evaluation and every resume of the run. Nor 1,400 folders deep:
# creating them recursed past Python's limit. No source tree needs either.
MAX_PATH_BYTES = 1024
MAX_PATH_DEPTH = 64


def safe_path(root: Path, relative: str) -> Path:
    """`root / relative`, refused when it resolves outside `root`, is a `.git*` path, or no file can have it."""
    if any(ord(c) < 32 or c == "\x7f" for c in relative):
        raise UnsafePathError(f"path {relative!r} has a NUL or control character")
    parts = Path(relative).parts
    if len(relative.encode("utf-8", "replace")) > MAX_PATH_BYTES or any(
        len(part.encode("utf-8", "replace")) > MAX_NAME_BYTES for part in parts
    ):
        raise UnsafePathError(
            f"path {relative[:80]!r}… is too long (at most {MAX_PATH_BYTES} bytes, {MAX_NAME_BYTES} a name)"
        )
    if len(parts) > MAX_PATH_DEPTH:
        raise UnsafePathError(f"path {relative[:80]!r}… is too deep (at most {MAX_PATH_DEPTH} folders)")
    target = (root / relative).resolve()
    if not target.is_relative_to(root.resolve()) or Path(relative).is_absolute():
        raise UnsafePathError(f"path {relative!r} is outside the workspace")
    if any(part.lower().startswith(GIT_CONTROL_PREFIX) for part in parts):
        raise UnsafePathError(
            f"path {relative!r} is a .git* path (git's own files); candidates may not write it"
        )
    return target


def write_files(root: Path, files: dict[str, str | None]) -> None:
    """Write (or delete, for None) each file under `root`; paths are checked first, all of them."""
    targets = {relative: safe_path(root, relative) for relative in files}
    # a new file, or a deletion (it may empty a folder), leaves what git does not track behind:
    # the lane's next commit stages with `add -A` and its next checkout cleans (agent.experiments)
    created_or_deleted = [(text is None) == targets[relative].exists() for relative, text in files.items()]
    lane_written(root, untidy=any(created_or_deleted))
    for relative, text in files.items():
        target = targets[relative]
        if text is None:
            target.unlink(missing_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(text.encode("utf-8", "replace"))  # a lone surrogate becomes "?", not a crash


def new_run_id(repo: ExperimentRepo) -> str:
    existing = {run.id for run in repo.read_runs()}
    while True:
        run_id = secrets.token_hex(3)
        if run_id not in existing and not run_id.isdigit():
            return run_id


class Run:
    def __init__(
        self, task: Task, record: RunRecord, repo: ExperimentRepo, index: RunIndex, home: Path
    ) -> None:
        self.task = task
        self.record = record
        self.repo = repo
        self.index = index
        self.home = home
        self.folder = run_dir(record.id)
        self.runner_lock = runner_lock(self.folder)
        """Held by the one process driving the run (`start` takes it, the loop's driver keeps it)."""
        self._evaluator: Evaluator | None = None
        # The driver is its run's only writer (the run lock), so the records read from git
        # stay true until its own next `save_record`: the loop reads them at every node.
        self._records: list[ExperimentRecord] | None = None
        self._records_lock = threading.Lock()

    # --------------------------------------------------------------- lifecycle
    @classmethod
    def start(
        cls,
        task: Task,
        home: Path,
        index: RunIndex,
        base: str | None = None,
        prepare: Callable[[Path], None] | None = None,
    ) -> Run:
        """A new run of `task`; experiment 0 is the user's HEAD, or the commit-ish `base` (warm start).

        `prepare(folder)` writes what the run folder must hold before the run can be found and
        resumed (the command line's overrides): a crash right after the run is recorded then
        resumes it as it was asked for.

        The run is recorded in git before anything of it is made outside its folder (lane 0's
        worktree, the evaluator's snapshot with the private data): a SIGKILL in between left a
        worktree registered in the user's repo and a copy of the private data that no run owned,
        so that nothing listed, resumed or removed them. Now such a run is listed as interrupted
        and `strop resume` finishes it, lanes and all; one that fails to start leaves nothing.
        The runner lock is held from before the record on (`runner_lock`): the process starting a
        run is its driver, so a run killed as it starts reads "interrupted", not "running".
        """
        repo = ExperimentRepo.for_workspace(task.workspace, home)
        _index_orphans(repo, index)
        base_branch, base_commit = repo.head()
        if base is not None:
            base_commit = repo.resolve_commit(base)
        record = RunRecord(
            id=new_run_id(repo),
            task=task.name,
            task_path=str(task.path),
            repo=str(repo.path),
            workspace=str(task.workspace),
            base_branch=base_branch,
            base_commit=base_commit,
            metric=task.evaluator.metric,
            direction=task.evaluator.direction,
            task_source=task.source,
            base_given=base is not None,
        )
        run = cls(task, record, repo, index, home)
        run.runner_lock.acquire()  # a fresh id: free; held until the driver is done (or the process ends)
        try:
            if prepare is not None:
                prepare(run.folder)
            index.register_repo(repo.path)  # before the record: `strop reindex` then finds it, crash or not
            repo.write_run(record)
            index.put_run(record)
            run.evaluator()  # snapshot protected files now, before any candidate exists
        except BaseException:
            for undo in (repo.discard_run, index.forget_run):
                with contextlib.suppress(Exception):  # a full disk may refuse it too: the cause matters
                    undo(record.id)
            run.runner_lock.release(force=True)
            shutil.rmtree(run.folder, ignore_errors=True)  # it may hold a copy of the private data
            raise
        return run

    @classmethod
    def reopen(cls, ref: str | None, home: Path, index: RunIndex) -> Run:
        """The run as git holds it; the index, which a crash may have left behind git, is healed."""
        indexed = index.find_run(ref)
        repo = ExperimentRepo.open(Path(indexed.repo), home)
        record = repo.read_run(indexed.id)
        task = load_task(record.task_path) if Path(record.task_path).exists() else None
        if task is None or task.source != record.task_source:
            task = _task_from_snapshot(record)
        run = cls(task, record, repo, index, home)
        run.stored_records()  # a note that is not a record refuses here (`UnreadableRecord`), before any write
        if indexed != record:  # killed between the run's end in git and in the index: it said running
            run.heal_index()
        return run

    def heal_index(self) -> None:
        """Make the index say what git says of this run and its experiments."""
        self.index.put_run(self.record)
        indexed = {(r.id, r.commit): r for r in self.index.experiments(self.record.id)}
        for record in self.stored_records():
            if indexed.get((record.id, record.commit)) != record:
                self.index.put_experiment(record)

    def save(self) -> None:
        self.repo.write_run(self.record)
        self.index.put_run(self.record)

    def evaluator(self) -> Evaluator:
        """The run's evaluator, over the pristine files snapshotted at the run's start.

        Two-stage tasks get a `StagedEvaluator` (scorer, private and public data copied
        into the run's folder first); one-stage tasks the legacy `CommandEvaluator`.
        """
        if self._evaluator is None:
            from sandbox import open_sandbox

            spec = self.task.evaluator
            store = self.folder / "evaluator"
            trusted = None
            sources = self.task.trusted_sources()
            if sources is not None:
                trusted = TrustedFiles.load(store / "trusted") or TrustedFiles.snapshot(
                    sources, store / "trusted"
                )
            protected = ProtectedFiles.load(store) or self._snapshot_protected(store)
            sandbox = _opened(open_sandbox, spec.sandbox, "sandbox")
            logs = self.folder / "logs"
            if trusted is not None:
                from sandbox.backends import open_scorer_sandbox

                if spec.folds > 1 and self._llm_proposes():
                    log.warning("warning: %s", FOLDS_WITH_LLM_WARNING)
                scorer = _opened(open_scorer_sandbox, spec.score_sandbox, "score_sandbox", sandbox)
                self._evaluator = StagedEvaluator(
                    spec, protected, trusted, sandbox, logs, self.folder, scorer
                )
            else:
                log.warning("warning: %s", FORGEABLE_WARNING)
                self._evaluator = CommandEvaluator(spec, protected, sandbox, logs, self.folder)
        return self._evaluator

    def _llm_proposes(self) -> bool:
        kind = self.task.spec.proposer.kind
        return kind == "llm" or (kind == "auto" and self.task.spec.llm is not None)

    def _snapshot_protected(self, store: Path) -> ProtectedFiles:
        """Take the protected files from the base commit itself, in lane 0 (detached: no branch moves)."""
        spec = self.task.evaluator
        base = self.repo.lane(self.record.id, 0)
        self.repo.checkout_detached(base, self.record.base_commit)
        missing = [p for p in spec.files if not expand(base, [p])]
        if missing:
            raise UserError(f"evaluator file pattern {missing[0]!r} matches no file in the workspace")
        return ProtectedFiles.snapshot(base, spec.files, store)

    def records(self) -> list[ExperimentRecord]:
        """Every experiment of the run (copies: a caller may change its own)."""
        return [record.copy() for record in self.stored_records()]

    def stored_records(self) -> list[ExperimentRecord]:
        """The records as kept, not copies: never change one. `save_record` puts a new object in
        place of a record that changed, so a caller may keep copies of these by identity."""
        with self._records_lock:
            if self._records is None:
                self._records = self.repo.read_records(self.record.id)
            return list(self._records)

    @property
    def made_evaluator(self) -> Evaluator | None:
        """The evaluator if this process has made it (`evaluator()` copies the trusted files first)."""
        return self._evaluator

    def best(self, records: list[ExperimentRecord] | None = None) -> ExperimentRecord | None:
        return best_experiment(
            records if records is not None else self.records(), self.record.metric, self.record.direction
        )

    # ------------------------------------------------------------- experiments
    def commit_candidate(
        self, exp_id: int, parent: ExperimentRecord | None, candidate: Candidate, lane: int = 0
    ) -> ExperimentRecord:
        """Check out the parent in the lane, apply the candidate, commit it on its own branch.

        The commit is made on a detached HEAD and its branch is created only after its record
        (`save_record(publish=True)`): a branch made first pointed at the parent's commit until
        the commit, then at a commit with no record until the note, so a SIGKILL in between left
        `strop/<run>/<exp>` naming the parent (git held the parent's record twice) or nothing.
        """
        self.evaluator()  # the pristine snapshot must exist before any candidate touches a lane
        lane_path = self.repo.lane(self.record.id, lane)
        branch = branch_name(self.record.id, exp_id)
        self.repo.checkout_detached(lane_path, parent.commit if parent else self.record.base_commit)
        write_files(lane_path, candidate.files)
        subject = candidate.idea.strip().splitlines()[0][:72] if candidate.idea.strip() else "no change"
        parent_name = parent.name if parent else f"{self.record.base_branch}@{self.record.base_commit[:10]}"
        commit = self.repo.commit(
            lane_path,
            f"strop {self.record.id}/{exp_id}: {subject}\n\nparent: {parent_name}\n\n{candidate.idea}",
        )
        record = ExperimentRecord(
            run=self.record.id,
            id=exp_id,
            parent=parent.id if parent else None,
            branch=branch,
            commit=commit,
            idea=candidate.idea,
            proposer=candidate.proposer,
            mode=candidate.mode,
            params=candidate.params,
            cost=candidate.cost,
            turns=candidate.turns,
            decisions=list(candidate.decisions),
        )
        self.save_record(record, publish=True)
        return record

    def evaluate(
        self, record: ExperimentRecord, lane: int = 0, deadline: float | None = None
    ) -> ExperimentRecord:
        """Evaluate a committed experiment (its lane must hold its commit) and record the verdict.

        `deadline` (epoch seconds) clamps the evaluation to the run's time left.
        """
        lane_path = self.repo.lane(self.record.id, lane)
        verdict = self.evaluator().evaluate(lane_path, name=str(record.id), deadline=deadline)
        return self.conclude(record, verdict)

    def conclude(self, record: ExperimentRecord, verdict: Verdict) -> ExperimentRecord:
        done = replace(
            record,
            status=verdict.status,
            metrics=verdict.metrics,
            reason=verdict.reason,
            feedback=verdict.feedback[-2000:],
            finished=now_iso(),
            eval_seconds=verdict.wall_time,
            fingerprint=verdict.fingerprint,
            log_path=verdict.log_path,
            log_digest=verdict.log_digest,
            backend=verdict.backend,
        )
        self.save_record(done)
        return done

    def reject(self, record: ExperimentRecord, reason: str, feedback: str = "") -> ExperimentRecord:
        """Refuse a committed candidate before evaluation (constraints, bad edit)."""
        verdict = Verdict(status=Status.REJECTED, reason=reason, feedback=feedback or reason)
        return self.conclude(record, verdict)

    def save_record(self, record: ExperimentRecord, publish: bool = False) -> None:
        """Store the record in git (its note) and in the index, and keep `records()` up to date.

        `publish`: the record's commit is new; its branch is pointed at it once the note is
        written, so every experiment branch always names a commit that holds its record.

        The driver is the run's only writer, so what it wrote is what git now holds: the
        cached records take the new one in place of reading every note again (that was
        ~5 `git` processes per experiment). A record equal to the one git holds is not
        written again (the loop's `record` node re-saves each one: it heals the index).
        """
        stored = ExperimentRecord.from_dict(json.loads(json.dumps(record.to_dict())))
        with self._records_lock:
            known = {r.id: r for r in self._records} if self._records is not None else None
            if publish or known is None or known.get(record.id) != stored:
                self._records = None  # unknown until the note is written
                self.repo.write_record(record, branch=record.branch if publish else None)
                if known is not None:
                    known[record.id] = stored
                    self._records = sorted(known.values(), key=lambda r: r.id)
        self.index.put_experiment(record)

    # ------------------------------------------------------------------ finish
    def finish(
        self, status: str = "done", reason: str = "", deadline: float | None = None
    ) -> ExperimentRecord | None:
        """Run the hidden-test phase once on the best, store the run's end, remove the lanes."""
        records = self.records()
        best = self.best(records)
        if best is not None and self.task.evaluator.has_final and best.final_metrics is None:
            lane_path = self.repo.lane(self.record.id, 0)
            self.repo.checkout_detached(lane_path, best.commit)
            verdict = self.evaluator().evaluate(
                lane_path, name=str(best.id), phase="final", deadline=deadline
            )
            best = replace(
                best,
                final_metrics=verdict.metrics if verdict.status is Status.OK else {},
                final_reason="" if verdict.status is Status.OK else verdict.reason,
                final_log_path=verdict.log_path,
                final_log_digest=verdict.log_digest,
            )
            self.save_record(best)
        self.repo.remove_lanes(self.record.id)
        self.repo.tidy()
        self.record.status = status
        self.record.stop_reason = reason
        self.record.finished = now_iso()
        self.record.best = best.id if best else None
        self.save()
        return best


def _opened(opener: Callable[..., Any], name: str, key: str, *more: Any) -> Any:
    """A sandbox backend the task names, or `UserError`: one that cannot start here (dockerd down,
    bwrap missing) is the machine's state or the task's choice, not a bug of strop's."""
    from sandbox.execution import SandboxError

    try:
        return opener(name, *more)
    except SandboxError as error:
        raise UserError(
            f"[evaluator] {key} = {name!r} cannot be used here: {error} "
            "(`strop sandbox check` says which backends work)"
        ) from None


RUNNER_LOCK = "runner.lock"


def runner_lock(folder: Path) -> FileLock:
    """The lock of the run whose folder is `folder`: held by the process starting or driving it."""
    return FileLock(str(folder / RUNNER_LOCK), timeout=0)


def driven(folder: Path) -> bool | None:
    """Whether a process holds the run's runner lock; None when the run never had one (a search,
    a run started before strop took the lock at the start). The lock is taken for an instant
    to find out: a `strop resume` started in that instant is told the run is busy."""
    if not (folder / RUNNER_LOCK).is_file():
        return None
    lock = runner_lock(folder)
    try:
        lock.acquire()
    except (Timeout, OSError):  # held; or unreadable, which says nothing of a process: alive
        return True
    lock.release()
    return False


def _index_orphans(repo: ExperimentRepo, index: RunIndex) -> None:
    """Put into the index the repo's runs it lacks whose folder is in this home: a run killed
    between its record in git and its index entry could be neither listed nor resumed (only
    `strop reindex` found it). Runs another home made in the same repo are left to `reindex`,
    and so is a run another process is still starting (it holds its runner lock)."""
    known = index.run_ids()
    folders = (index.home / "runs").glob("*")
    ours = [path for path in folders if path.name.isalnum() and path.name not in known]
    missing = [repo.read_run(path.name) for path in ours if repo.has_run(path.name) and not driven(path)]
    if missing:
        index.register_repo(repo.path)
    for run in missing:
        index.put_run(run)
        notes = repo.read_notes(run.id)
        for record in notes.records:
            index.put_experiment(record)
        for note in notes.unreadable:  # the index had nothing of the run: leaving one out loses nothing
            log.warning("warning: %s: not indexed; `strop audit %s` says more", note.describe(), run.id)


def _task_from_snapshot(record: RunRecord) -> Task:
    """The task as it was when the run started (the file may have moved or changed since)."""
    import tomllib

    from agent.task import TaskFile

    spec = TaskFile.model_validate(tomllib.loads(record.task_source))
    return Task(path=Path(record.task_path), spec=spec, source=record.task_source)
