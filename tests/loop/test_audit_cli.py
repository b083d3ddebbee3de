"""`strop audit RUN` on real runs of the tiny task: whole runs pass, each corruption is named.

Every corruption below is one a reader of the record could not see in `strop log`: a lost
note, a branch moved, a note edited (metric, status, parent, hidden-test score), a log
edited, a hidden test run on an experiment that was not the best. Each test asserts the line
of the check that catches it, so it fails if that check were missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from agent.experiments import ExperimentRepo
from agent.home import strop_home
from agent.records import best_experiment
from agent.run_index import RunIndex

from .conftest import make_task

ROOT = Path(__file__).resolve().parents[2]


def strop(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    command = [sys.executable, "-W", "ignore", "-c", "from agent.cli import main; main()", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@dataclass
class Made:
    """A finished run of the tiny task, and ways to tamper with its record as a user could."""

    id: str
    repo: ExperimentRepo
    best: int
    logs: Path

    def git(self, *args: str) -> str:
        done = subprocess.run(["git", *args], cwd=self.repo.path, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    def commit(self, exp: int) -> str:
        return self.git("rev-parse", f"strop/{self.id}/{exp}")

    def edit_note(self, exp: int, change: Callable[[dict], None]) -> None:
        commit = self.commit(exp)
        note = json.loads(self.git("notes", "--ref=strop", "show", commit))
        change(note)
        self.git("notes", "--ref=strop", "add", "-f", "-m", json.dumps(note), commit)

    def forget_history(self) -> None:
        """The notes ref as one commit of the notes it holds now: as if they had always been so
        (an older strop's records, or a history rewritten: the audit cannot see past it)."""
        tree = self.git("rev-parse", "refs/notes/strop^{tree}")
        identity = ["-c", "user.name=x", "-c", "user.email=x@x"]
        self.git("update-ref", "refs/notes/strop", self.git(*identity, "commit-tree", tree, "-m", "notes"))

    def record(self, exp: int) -> dict:
        return json.loads(self.git("notes", "--ref=strop", "show", self.commit(exp)))

    def other(self) -> int:
        """A scored experiment other than the best and experiment 0."""
        return next(n for n in range(1, 5) if n != self.best and self.record(n)["status"] == "ok")


def audit(run: str, *more: str) -> subprocess.CompletedProcess[str]:
    return strop("audit", run, *more)


@pytest.fixture
def made(tmp_path: Path) -> Made:
    task = make_task(tmp_path / "t", experiments=5)
    done = strop("run", str(task), "--json")
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["run"]
    index = RunIndex(strop_home())
    run = index.find_run(run_id)
    best = best_experiment(index.experiments(run_id), run.metric, run.direction)
    assert best is not None and best.id != 0 and run.best == best.id
    repo = ExperimentRepo.open(Path(run.repo), strop_home())
    return Made(run_id, repo, best.id, strop_home() / "runs" / run_id / "logs")


def test_a_whole_run_passes_by_prefix_and_in_json(made: Made) -> None:
    done = audit(made.id[:4])
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"run {made.id} is whole: 5 experiments, 5 evaluation logs checked" in done.stdout
    assert "one-stage evaluator" in done.stderr  # what the audit cannot vouch for is said
    report = json.loads(audit(made.id, "--json").stdout)
    assert report["whole"] is True and report["problems"] == [] and report["logs_checked"] == 5
    resumed = strop("resume", made.id, "--experiments", "9")  # a resumed run is whole too
    assert resumed.returncode == 0, resumed.stderr
    again = audit(made.id, "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["experiments"] == 9, again.stdout


def test_help_teaches_what_is_checked() -> None:
    done = strop("audit", "--help")
    assert done.returncode == 0
    for words in ("strop resume", "strop reindex", "sha256", "hidden-test", "does not prove"):
        assert words in " ".join(done.stdout.split()), words


def problems(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return [line for line in done.stdout.splitlines() if line.startswith("problem: ")]


def has(lines: list[str], *words: str) -> bool:
    return any(all(word in line for word in words) for line in lines)


def test_a_deleted_note(made: Made) -> None:
    made.git("notes", "--ref=strop", "remove", made.commit(1))
    lines = problems(audit(made.id))
    assert has(lines, f"strop/{made.id}/1 names commit", "which holds no record (no note)", "reflog")


def test_a_branch_moved_to_another_experiments_commit(made: Made) -> None:
    made.git("update-ref", f"refs/heads/strop/{made.id}/3", made.commit(1))
    lines = problems(audit(made.id))
    assert has(lines, f"strop/{made.id}/3 names commit", f"whose note is the record of {made.id}/1")


def test_a_branch_moved_to_a_commit_of_another_line(made: Made) -> None:
    """Its note moved with it (as `git notes copy` would): only the ancestry check sees it."""
    exp = made.other()
    note = made.record(exp)
    other = next(n for n in range(5) if n not in (exp, note["parent"]))
    tree = made.git("rev-parse", f"{made.commit(exp)}^{{tree}}")
    identity = ["-c", "user.name=x", "-c", "user.email=x@x"]
    moved = made.git(*identity, "commit-tree", tree, "-p", made.commit(other), "-m", "moved")
    made.git("update-ref", f"refs/heads/strop/{made.id}/{exp}", moved)
    made.git("notes", "--ref=strop", "add", "-f", "-m", json.dumps({**note, "commit": moved}), moved)
    lines = problems(audit(made.id))
    assert has(lines, f"{made.id}/{exp}'s record names", f"descends from {made.id}/{other}'s commit first"), (
        lines
    )


def test_an_edited_metric(made: Made) -> None:
    """Lowered (the best stays the best): only the log comparison sees it."""
    exp = made.other()
    made.edit_note(exp, lambda note: note["metrics"].update(score=note["metrics"]["score"] - 1))
    lines = problems(audit(made.id))
    assert has(
        lines, f"{made.id}/{exp}'s recorded metrics are not its evaluation log's", "recorded", "logged"
    )
    assert not has(lines, "the run reports")


def test_an_edited_log(made: Made) -> None:
    exp = made.other()
    log = made.logs / f"{exp}-validate.log"
    log.write_text(log.read_text().replace('{"score": ', '{"score": 1e3, "was": '))
    lines = problems(audit(made.id))
    assert has(lines, f"{made.id}/{exp}'s evaluation log", "changed after it was recorded")


def test_a_missing_log(made: Made) -> None:
    (made.logs / "0-validate.log").unlink()
    assert has(problems(audit(made.id)), f"{made.id}/0's evaluation log", "is missing")


def test_an_experiment_left_pending(made: Made) -> None:
    exp = made.other()
    made.edit_note(exp, lambda note: note.update(status="pending", metrics={}))
    lines = problems(audit(made.id))
    assert has(lines, f"experiments left pending: [{exp}]", f"strop resume {made.id}")


def test_an_edited_parent(made: Made) -> None:
    exp = made.other()
    parent = made.record(exp)["parent"]
    made.edit_note(exp, lambda note: note.update(parent=None if parent is not None else exp - 1))
    lines = problems(audit(made.id))
    assert has(lines, f"{made.id}/{exp}") and (
        has(lines, "does not descend from") or has(lines, "as its parent, but its commit descends")
    ), lines
    made.edit_note(exp, lambda note: note.update(parent=exp + 1))
    assert has(problems(audit(made.id)), f"{made.id}/{exp}'s parent {exp + 1} is not an earlier experiment")


def test_a_best_that_is_not_the_best(made: Made) -> None:
    run = made.repo.read_run(made.id)
    run.best = made.other()
    made.repo.write_run(run)
    lines = problems(audit(made.id))
    assert has(
        lines,
        f"the run reports {made.id}/{run.best}",
        f"best scored experiment by maximize score is {made.id}/{made.best}",
    )


def test_a_hidden_test_score_on_another_experiment(made: Made) -> None:
    exp = made.other()
    made.edit_note(exp, lambda note: note.update(final_metrics={"score": 0.5}))
    lines = problems(audit(made.id))
    assert has(lines, f"{made.id}/{exp} holds a hidden-test score but was never the run's best")


def test_a_hidden_test_score_changed_or_run_twice(made: Made) -> None:
    made.edit_note(made.best, lambda note: note.update(final_metrics={"score": 99.0}))
    lines = problems(audit(made.id))
    assert has(lines, f"{made.id}/{made.best}'s hidden-test score changed after it was first recorded")
    assert has(lines, f"{made.id}/{made.best}'s recorded hidden-test score is not its log's")


def test_a_hidden_test_run_on_an_experiment_without_its_score(made: Made) -> None:
    exp = made.other()
    (made.logs / f"{exp}-final.log").write_text("")
    lines = problems(audit(made.id))
    assert has(lines, f"the hidden test was run on {made.id}/{exp}", "no score of it is recorded")


def test_an_edited_hidden_test_log(made: Made) -> None:
    """A line added after the scorer's output leaves the score as logged: only the sha256 the
    record keeps of the hidden-test log sees it (before, the final log had none)."""
    log = made.logs / f"{made.best}-final.log"
    log.write_text(log.read_text() + "# edited\n")
    lines = problems(audit(made.id))
    assert has(lines, f"{made.id}/{made.best}'s hidden-test log", "changed after it was recorded"), lines


def _as_older_strop(note: dict) -> None:
    """A note as a strop of record schema 1 wrote it: no name or sha256 of the hidden-test log."""
    for key in ("final_log_path", "final_log_digest"):
        note.pop(key, None)
    note["schema"] = 1


def test_a_record_of_an_older_strop_without_the_hidden_test_logs_digest_is_whole(made: Made) -> None:
    made.edit_note(made.best, _as_older_strop)
    made.forget_history()  # else the audit sees the note's edit in the notes' history
    made.repo.write_run(replace(made.repo.read_run(made.id), schema=1))
    done = audit(made.id)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"note: {made.id}/{made.best}'s record names no hidden-test log and holds no sha256" in done.stderr
    log = made.logs / f"{made.best}-final.log"  # still compared with the score
    log.write_text(log.read_text().replace('{"score": ', '{"score": 1e3, "was": '))
    assert has(
        problems(audit(made.id)), f"{made.id}/{made.best}'s recorded hidden-test score is not its log's"
    )


def test_the_hidden_test_logs_name_taken_out_of_a_note_is_not_read_as_an_older_strop(made: Made) -> None:
    """Stripping the two fields made a record look like one of an older strop (a note, exit 0): the
    record's schema says it always names the log, and so does its run's when the note says 1."""
    made.edit_note(
        made.best, lambda note: [note.pop(key, None) for key in ("final_log_path", "final_log_digest")]
    )
    stripped = f"{made.id}/{made.best}'s record names no hidden-test log"
    assert has(problems(audit(made.id)), stripped, "yet the record is schema 2")
    made.edit_note(made.best, _as_older_strop)  # the note's schema lowered too: the run's still says 2
    assert has(problems(audit(made.id)), stripped, "yet its run is schema 2")


CUT_FINAL = """#!/bin/sh
# the real git, but the first note written once a hidden-test log exists SIGKILLs the caller's
# process group: the final phase cut short after its log, before its score reached the record
case "$*" in
  *"notes --ref=strop add"*)
    if ls "$STROP_HOME"/runs/*/logs/*-final*.log >/dev/null 2>&1; then
      kill -9 -$(ps -o pgid= $$ | tr -d ' ')
    fi ;;
esac
exec "$REAL_GIT" "$@"
"""


def test_a_final_phase_cut_short_then_resumed_keeps_both_logs(tmp_path: Path) -> None:
    """The resume scores the hidden test again: it used to overwrite the first attempt's log, so
    nobody could tell the hidden answers were read twice. Both logs stay, the record names the
    second with its sha256, and the audit says it (a note: the run is whole)."""
    task = make_task(tmp_path / "t", experiments=5)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").write_text(CUT_FINAL)
    (bin_dir / "git").chmod(0o755)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    env["REAL_GIT"] = shutil.which("git") or "git"
    command = [sys.executable, "-W", "ignore", "-c", "from agent.cli import main; main()", "run", str(task)]
    killed = subprocess.run(
        [*command, "--quiet"], cwd=ROOT, env=env, capture_output=True, start_new_session=True, timeout=300
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    run = RunIndex(strop_home()).runs()[0]
    logs = strop_home() / "runs" / run.id / "logs"
    first = sorted(logs.glob("*-final*.log"))
    assert len(first) == 1, first
    kept = first[0].read_bytes()
    resumed = strop("resume", run.id)
    assert resumed.returncode == 0, resumed.stderr
    best = RunIndex(strop_home()).find_run(run.id).best
    assert first[0].name == f"{best}-final.log" and first[0].read_bytes() == kept
    second = logs / f"{best}-final-2.log"
    repo = ExperimentRepo.open(Path(run.repo), strop_home())
    record = next(r for r in repo.read_records(run.id) if r.id == best)
    assert (record.final_log_path, record.final_log_digest) == (
        str(second),
        hashlib.sha256(second.read_bytes()).hexdigest(),
    )
    done = audit(run.id)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"the hidden test was run 2 times on {run.id}/{best}" in " ".join(done.stderr.split())


def test_a_run_in_progress_is_said_as_such_with_its_own_status(tmp_path: Path) -> None:
    """An audit of a live run listed four or five 'problems' true of every run in progress (its
    status, its lanes, its held lock, its pending experiments) with `strop resume` as the remedy,
    which refuses a live run; once, `git fsck` reading the notes ref mid-update said the repo was
    damaged. A held run is one line, exit 3, nothing checked; the same run once ended is whole."""
    task = make_task(tmp_path / "t", experiments=4, sleep=1.5)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [
        sys.executable,
        "-W",
        "ignore",
        "-c",
        "from agent.cli import main; main()",
        "run",
        str(task),
        "-q",
    ]
    running = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        seen = None
        for _ in range(600):  # the run records its first experiment, then evaluates the next (1.5 s each)
            runs = RunIndex(strop_home()).runs() if (strop_home() / "index.sqlite").exists() else []
            if runs and RunIndex(strop_home()).experiments(runs[0].id):
                seen = audit(runs[0].id)
                break
            time.sleep(0.05)
        assert running.poll() is None, "the run ended before it was audited"
    finally:
        _, stderr = running.communicate(timeout=300)
    assert running.returncode == 0, stderr
    assert seen is not None and seen.returncode == 3, seen and seen.stdout + seen.stderr
    assert "problem:" not in seen.stdout + seen.stderr
    said = " ".join(seen.stderr.split())
    assert f"run {runs[0].id} is in progress" in said and "nothing checked" in said, said
    done = audit(runs[0].id)
    assert done.returncode == 0 and "is whole" in done.stdout, done.stdout + done.stderr
