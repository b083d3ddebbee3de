"""An evolutionary search recorded in git: each new Pareto point is an experiment.

The engine evaluates thousands of candidates; git keeps what matters. Every
`ParetoPointFound` becomes a commit on its own branch `strop/<run>/<n>` (the
point's code and genome as files, its objectives as the note's metrics) in a repo
strop manages under `$STROP_HOME/searches/<name>`; every `CheckpointWritten` is
noted on the run record; the baselines the search ran beside it are kept for its
report (`keep_baselines`), and so is the search's own final verdict (`keep_summary`: the
config the command chose, where it came from, its held-out score, the strongest baseline
and the paired margin over it). A search's Pareto points are ranked on the score it
selected by (validation), searched hundreds of times: the highest of them is no result,
the command's choice is, so the run's `best` is the chosen config's experiment. So `strop runs`, `strop log` and `strop show` work on
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
    points: list[tuple[Any, ExperimentRecord]] = field(default_factory=list)  # (genome, its record)
    summary: dict[str, Any] | None = None  # the search's own verdict (`keep_summary`)

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
        self.points.append((getattr(individual, "genome", individual), record))
        return record

    def experiment_of(self, genome: Any) -> ExperimentRecord | None:
        """The first experiment that recorded `genome` (compared with ==), or None."""
        return next((record for kept, record in self.points if _same(kept, genome)), None)

    def experiment_matching(self, test: Callable[[Any], bool]) -> ExperimentRecord | None:
        """The first experiment whose genome passes `test`, or None."""
        return next((record for kept, record in self.points if test(kept)), None)

    def keep_baselines(self, baselines: Any) -> None:
        """The baselines as the search's `--json` lists them, kept in `runs/RUN/baselines.json` for
        `strop report`: a search run by hand drew its front with none (only the nightly kept them)."""
        from agent.report.data import write_baselines

        if self.run is not None:
            write_baselines(self.home, self.run.id, baselines)

    def keep_summary(self, summary: dict[str, Any]) -> None:
        """The search's own final report, kept in `runs/RUN/search.json` for `strop report` and the UI.

        `summary` (JSON-able): `experiment` (the chosen config's experiment id, or None when it is
        not one strop found: a baseline's own config), `adopt_note` (why there is nothing to adopt,
        when `experiment` is None or a baseline's), `headline` (one line: the command's verdict),
        `facts` ([label, text] rows the report shows first) and `selection` (what the recorded
        metric is: a selection score, not a result). The chosen experiment gets a decision saying
        so, which `strop log` prints under it; `finish` makes it the run's best.
        """
        from agent.search_summary import write_search_summary

        if self.run is None:
            return
        self.summary = dict(summary)
        write_search_summary(self.home, self.run.id, self.summary)
        chosen = self.summary.get("experiment")
        record = next((r for _, r in self.points if r.id == chosen), None)
        if record is not None and self.summary.get("headline"):
            note = f"chosen by the search: {self.summary['headline']}"
            if note not in record.decisions:
                record.decisions.append(note)
                self.repo.write_record(record)
                self.index.put_experiment(record)

    def finish(self, status: str = "done", reason: str = "") -> None:
        if self.run is None:
            return
        from agent.records import best_experiment

        self.repo.remove_lanes(self.run.id)
        best = best_experiment(self.index.experiments(self.run.id), self.metric, self.direction)
        self.run.status = status
        self.run.finished = now_iso()
        self.run.best = best.id if best else None
        if self.summary is not None:  # the command's choice, not the highest selection score
            chosen = self.summary.get("experiment")
            self.run.best = chosen if isinstance(chosen, int) and not isinstance(chosen, bool) else None
        if reason:
            self.run.stop_reason = reason
        self._save_run()

    def _save_run(self) -> None:
        assert self.run is not None
        self.repo.write_run(self.run)
        self.index.put_run(self.run)


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # a genome whose == is an array's (ambiguous truth): not the same
        return False
