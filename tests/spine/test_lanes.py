"""A lane's checkouts do only what changes something, and the driver's records stay git's (issue 13).

The driver's serial work per experiment caps `--parallel`: these tests pin the two savings
(a lane in a known state is not checked out or cleaned again; a run's records are not read
back from git after its own writes) and that neither ever leaves a lane or a record wrong.
Real git repos; git processes counted through GitPython's `Git.execute`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from enum import Enum
from pathlib import Path

import git as gitpython
import pytest

from agent.experiments import ExperimentRepo
from agent.home import strop_home
from agent.loop import Overrides, start_run
from agent.records import Cost, ExperimentRecord
from agent.run import Run, write_files
from agent.run_index import RunIndex
from agent.task import load_task
from evaluators.verdict import Status
from tests.loop.conftest import make_task
from tests.spine.conftest import git


@contextmanager
def counting_git(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The git subcommands GitPython runs inside the block, in order."""
    seen: list[str] = []
    execute = gitpython.cmd.Git.execute

    def counted(self: gitpython.cmd.Git, command: list[str], *args: object, **kwargs: object) -> object:
        seen.append(next(part for part in command[1:] if not part.startswith("-") and "=" not in part))
        return execute(self, command, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(gitpython.cmd.Git, "execute", counted)
        yield seen


def test_a_lane_is_checked_out_only_when_that_changes_it(make_workspace, monkeypatch) -> None:
    ws = make_workspace(value="0.5")
    (ws.path / ".gitignore").write_text("*.log\n")
    (ws.path / "sub").mkdir()
    (ws.path / "sub" / "extra.txt").write_text("only file of its folder")
    git(ws.path, "add", "-A")
    git(ws.path, "commit", "-qm", "ignore logs")
    repo = ExperimentRepo.for_workspace(ws.path, strop_home())
    base = repo.head()[1]
    lane = repo.lane("r1", 0)

    with counting_git(monkeypatch) as seen:
        repo.checkout_detached(lane, base)
        assert seen == ["checkout", "clean"]  # a lane this process knows nothing of: both
        repo.checkout_detached(lane, base)
        assert seen == ["checkout", "clean"], "the lane already held the base: nothing to do"

    write_files(lane, {"value.txt": "0.9", "new.txt": "junk"})
    repo.checkout_detached(lane, base)
    assert (lane / "value.txt").read_text() == "0.5" and not (lane / "new.txt").exists()

    repo.checkout(lane, "strop/r1/1", base)
    write_files(lane, {"value.txt": "0.7", "train.log": "ignored by git, never committed"})
    commit = repo.commit(lane, "one")
    assert commit == git(lane, "rev-parse", "HEAD") == git(ws.path, "rev-parse", "strop/r1/1")
    with counting_git(monkeypatch) as seen:
        repo.checkout(lane, "strop/r1/1", commit)
        assert seen == ["clean"], "after a commit only what git ignored can differ"
    assert (lane / "value.txt").read_text() == "0.7" and not (lane / "train.log").exists()

    with counting_git(monkeypatch) as seen:
        repo.checkout_detached(lane, base)
        assert seen == ["checkout"], "from a known tree a forced checkout leaves nothing to clean"
    assert (lane / "value.txt").read_text() == "0.5"

    repo.checkout(lane, "strop/r1/2", base)
    write_files(lane, {"value.txt": "0.8"})  # only a file the parent tracks
    with counting_git(monkeypatch) as seen:
        tidy = repo.commit(lane, "two")
        repo.checkout(lane, "strop/r1/2", tidy)
        assert seen == ["commit"], "`commit -a` stages it; then the lane holds exactly the commit"
    assert git(ws.path, "show", f"{tidy}:value.txt") == "0.8"
    assert git(lane, "status", "--porcelain", "--ignored", "--untracked-files=all") == ""

    repo.checkout(lane, "strop/r1/3", base)
    write_files(lane, {"sub/extra.txt": None})
    deleted = repo.commit(lane, "three")
    repo.checkout(lane, "strop/r1/3", deleted)
    assert not (lane / "sub").exists(), "the folder the deletion emptied is cleaned away"
    assert "sub/extra.txt" not in git(ws.path, "ls-tree", "-r", "--name-only", deleted)

    git(lane, "checkout", "-q", "--detach", commit)  # a git command not strop's: state unknown
    (lane / "stray.txt").write_text("x")
    with counting_git(monkeypatch) as seen:
        repo.checkout_detached(lane, base)
        assert seen == ["checkout", "clean"]
    assert (lane / "value.txt").read_text() == "0.5" and not (lane / "stray.txt").exists()
    assert git(lane, "status", "--porcelain", "--ignored", "--untracked-files=all") == ""


def test_a_runs_records_are_gits_after_the_loop_and_unchanged_ones_are_not_rewritten(
    tmp_path: Path,
) -> None:
    """Two lanes, constraint repairs (which write into a lane and check it out again), finals."""
    task = load_task(make_task(tmp_path / "tiny", experiments=6, parallel=2))
    index = RunIndex(strop_home())
    result = start_run(task, strop_home(), index, Overrides())
    assert len(result.records) == 6

    repo = ExperimentRepo.open(Path(index.find_run(result.run_id).repo), strop_home())
    from_git = repo.read_records(result.run_id)
    assert result.records == from_git
    assert index.experiments(result.run_id) == from_git
    assert [r.status.value for r in from_git].count("pending") == 0

    run = Run.reopen(result.run_id, strop_home(), index)
    notes = git(Path(repo.path), "rev-parse", "refs/notes/strop")
    run.save_record(run.records()[1])
    assert git(Path(repo.path), "rev-parse", "refs/notes/strop") == notes, (
        "an unchanged record is not written"
    )
    changed = run.records()[1]
    changed.decisions = [*changed.decisions, "looked at again"]
    run.save_record(changed)
    assert git(Path(repo.path), "rev-parse", "refs/notes/strop") != notes
    assert repo.read_records(result.run_id)[1] == changed == run.records()[1]


def test_a_record_copy_shares_nothing_mutable() -> None:
    """`Run.records()` hands out `ExperimentRecord.copy()`s: a caller's change stays its own."""
    record = ExperimentRecord(
        run="r1", id=3, parent=1, branch="strop/r1/3", commit="a" * 40, idea="x up",
        status=Status.OK, metrics={"score": 1.0}, params={"x": 1.5, "layers": [1, 2]},
        cost=Cost(prompt_tokens=5), decisions=["search: improve"], final_metrics={"score": 0.9},
    )  # fmt: skip
    copied = record.copy()
    assert copied == record
    for name in (f.name for f in fields(record)):
        value = getattr(record, name)
        if not isinstance(value, str | int | float | Enum | None):
            assert getattr(copied, name) is not value, f"{name} is shared"
    copied.params["layers"].append(3)
    assert record.params == {"x": 1.5, "layers": [1, 2]}


def test_a_record_copy_of_plain_params_does_not_deep_copy(monkeypatch) -> None:
    """Every loop node copies every record of the run: at 1,000 experiments `copy.copy` and
    `deepcopy` of the params were half the driver's time. Scalars are shared, not deep-copied."""
    import agent.records

    calls = []
    real = agent.records.deepcopy
    monkeypatch.setattr(agent.records, "deepcopy", lambda value: (calls.append(value), real(value))[1])
    record = ExperimentRecord(
        run="r1", id=3, parent=1, branch="strop/r1/3", commit="a" * 40, status=Status.OK,
        metrics={"score": 1.0}, params={"x": 1.5, "n": 3, "mode": "b", "on": True, "k": None},
    )  # fmt: skip
    copied = record.copy()
    assert copied == record and copied.params is not record.params and copied.cost is not record.cost
    assert calls == []
    record.params = {"layers": [1, 2]}
    assert record.copy().params["layers"] is not record.params["layers"] and len(calls) == 1
