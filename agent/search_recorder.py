"""An evolutionary search recorded in git: each new Pareto point is an experiment.

The engine evaluates thousands of candidates; git keeps what matters. Every
`ParetoPointFound` becomes a commit on its own branch `strop/<run>/<n>` (the
point's code and genome as files, its objectives as the note's metrics) in a repo
strop manages under `$STROP_HOME/searches/<name>`; every `CheckpointWritten` is
noted on the run record; the baselines the search ran beside it are kept for its
report (`keep_baselines`). So `strop runs`, `strop log` and `strop show` work on
searches exactly as on task runs. The engine itself knows nothing of git: this
recorder is just an observer the CLI passes in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.experiments import ExperimentRepo, branch_name
from agent.nightly.announce import announce_run
from agent.records import ExperimentRecord, RunRecord, now_iso
from agent.run import new_run_id, write_files
from agent.run_index import RunIndex
from evaluators.metric import Direction
from evaluators.verdict import Status


@dataclass(frozen=True)
class PointRecord:
    """How a domain shows one Pareto point in git: the idea, its files, its numbers."""

    idea: str
    files: dict[str, str]
    metrics: dict[str, float]
    params: dict[str, Any] | None = None


@dataclass
class SearchRecorder:
    """Observer of an engine run that writes Pareto points and checkpoints into git."""

    home: Path
    name: str  # e.g. "numerics-exp2-float32": the search folder and the run's task name
    metric: str  # the primary metric of the records (the one `strop log` shows)
    direction: Direction
    render: Callable[[Any], PointRecord]  # Individual -> PointRecord, given by the domain
    description: str = ""
    run: RunRecord | None = None
    count: int = 0
    checkpoints: list[str] = field(default_factory=list)

    def start(self) -> RunRecord:
        folder = self.home / "searches" / self.name
        folder.mkdir(parents=True, exist_ok=True)
        readme = folder / "README.md"
        if not readme.exists():
            readme.write_text(
                f"# {self.name}\n\n{self.description}\n\nEach experiment is one Pareto point.\n"
            )
        self.repo = ExperimentRepo.for_workspace(folder, self.home)
        self.index = RunIndex(self.home)
        base_branch, base_commit = self.repo.head()
        self.run = RunRecord(
            id=new_run_id(self.repo),
            task=self.name,
            task_path="",
            repo=str(self.repo.path),
            workspace=str(folder),
            base_branch=base_branch,
            base_commit=base_commit,
            metric=self.metric,
            direction=self.direction,
            task_source=self.description,
        )
        self._save_run()
        self.index.register_repo(self.repo.path)
        self.lane = self.repo.lane(self.run.id, 0)
        announce_run(self.run.id)  # to a nightly that runs this search (`strop nightly`), at once
        return self.run

    def __call__(self, event: object) -> None:
        from agent.evolution.events import CheckpointWritten, ParetoPointFound

        if self.run is None:
            return
        if isinstance(event, ParetoPointFound):
            self.record_point(event.individual, event.generation, carried=event.carried)
        elif isinstance(event, CheckpointWritten):
            self.run.stop_reason = f"last checkpoint: generation {event.generation} at {event.path}"
            self._save_run()

    def record_point(self, individual: Any, generation: int, carried: bool = False) -> ExperimentRecord:
        """One Pareto point as an experiment; `carried`: on the front the saved search began with
        (a nightly's warm start), said so in its decisions and commit, not claimed as found now."""
        assert self.run is not None
        point = self.render(individual)
        exp_id = self.count
        self.count += 1
        branch = branch_name(self.run.id, exp_id)
        self.repo.checkout(self.lane, branch, self.run.base_commit)
        write_files(self.lane, dict(point.files))
        found = (
            f"carried from the saved search (found in its generation {generation})"
            if carried
            else f"found in generation {generation}"
        )
        commit = self.repo.commit(self.lane, f"strop {self.run.id}/{exp_id}: {point.idea}\n\n{found}")
        record = ExperimentRecord(
            run=self.run.id,
            id=exp_id,
            parent=None,
            branch=branch,
            commit=commit,
            idea=point.idea,
            status=Status.OK,
            metrics=dict(point.metrics),
            proposer="evolve",
            params=point.params,
            finished=now_iso(),
            decisions=[found],
        )
        self.repo.write_record(record)
        self.index.put_experiment(record)
        return record

    def keep_baselines(self, baselines: Any) -> None:
        """The baselines as the search's `--json` lists them, kept in `runs/RUN/baselines.json` for
        `strop report`: a search run by hand drew its front with none (only the nightly kept them)."""
        from agent.report.data import write_baselines

        if self.run is not None:
            write_baselines(self.home, self.run.id, baselines)

    def finish(self, status: str = "done", reason: str = "") -> None:
        if self.run is None:
            return
        from agent.records import best_experiment

        self.repo.remove_lanes(self.run.id)
        best = best_experiment(self.index.experiments(self.run.id), self.metric, self.direction)
        self.run.status = status
        self.run.finished = now_iso()
        self.run.best = best.id if best else None
        if reason:
            self.run.stop_reason = reason
        self._save_run()

    def _save_run(self) -> None:
        assert self.run is not None
        self.repo.write_run(self.run)
        self.index.put_run(self.run)
