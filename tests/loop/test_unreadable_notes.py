"""A note that is not a record, met by the real commands on real runs of the tiny task.

Anyone with the repo can damage an experiment's note (bytes that are not text, a JSON list,
an object without the fields, an `id` of the wrong type). `strop audit` reports it; every
other command used to stop on it with an "internal error" (`reindex`, `resume`, and `run`
when it indexed an orphaned run). Now a reader says it in one warning line and goes on, and
a writer refuses in one line, before it writes anything: a resume that skipped the note
could give a new experiment its number and overwrite its branch.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.experiments import ExperimentRepo
from agent.home import strop_home
from agent.records import ExperimentRecord, NotARecord
from agent.run_index import RunIndex

from .conftest import make_task
from .test_audit_cli import Made, strop


def _ill_typed(note: bytes) -> bytes:
    return json.dumps({**json.loads(note), "id": "3"}).encode()


CORRUPTIONS: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "garbage bytes": (lambda note: b"\xff\xfe\x00\x9c not text", "not UTF-8 text"),
    "a JSON array": (lambda note: b"[1, 2]", "JSON a list, not an object"),
    "an object missing fields": (lambda note: b'{"run": "x"}', "missing id, parent, branch, commit"),
    "an ill-typed id": (_ill_typed, "id is the string '3' (input should be a valid integer"),
}


@pytest.fixture
def made(tmp_path: Path) -> Made:
    task = make_task(tmp_path / "t", experiments=5)
    done = strop("run", str(task), "--json")
    assert done.returncode == 0, done.stderr
    run = RunIndex(strop_home()).find_run(json.loads(done.stdout)["run"])
    repo = ExperimentRepo.open(Path(run.repo), strop_home())
    return Made(run.id, repo, run.best or 0, strop_home() / "runs" / run.id / "logs")


def corrupt(made: Made, exp: int, kind: str) -> tuple[str, bytes]:
    """Replace experiment `exp`'s note as `kind` says; its commit and its note as it was."""
    commit = made.commit(exp)
    git = ["git", "notes", "--ref=strop"]
    note = subprocess.run([*git, "show", commit], cwd=made.repo.path, capture_output=True, check=True).stdout
    changed = CORRUPTIONS[kind][0](note)
    subprocess.run([*git, "add", "-f", "-F", "-", commit], cwd=made.repo.path, input=changed, check=True)
    return commit, note


def refs(made: Made) -> str:
    """Every ref of the repo and what it names: branches, notes, run records."""
    return made.git("for-each-ref", "--format=%(refname) %(objectname)")


def one_line(done: subprocess.CompletedProcess[str], starts: str) -> str:
    """The single line of stderr that starts with `starts`, with no traceback nor internal error."""
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith(starts)]
    assert len(lines) == 1, done.stderr
    return lines[0]


def says(line: str, made: Made, exp: int, commit: str, kind: str) -> bool:
    """Whether a line names the branch, the commit, what is wrong, and `strop audit RUN`."""
    words = (f"strop/{made.id}/{exp}", commit[:12], CORRUPTIONS[kind][1], f"`strop audit {made.id}`")
    return all(word in line for word in words)


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_reindex_and_the_readers_go_on_with_a_warning(made: Made, kind: str, tmp_path: Path) -> None:
    commit, _ = corrupt(made, 3, kind)
    before = refs(made)
    done = strop("reindex")
    assert done.returncode == 0, done.stderr
    assert says(one_line(done, "warning: "), made, 3, commit, kind)
    assert "the index keeps its copy" in done.stderr  # the only intact copy of the record may be there
    assert "reindexed 1 run, 5 experiments" in done.stdout
    for path in strop_home().glob("index.sqlite*"):  # the index lost: git is all there is
        path.unlink()
    done = strop("reindex")
    assert done.returncode == 0 and "reindexed 1 run, 4 experiments" in done.stdout, done.stderr
    assert says(one_line(done, "warning: "), made, 3, commit, kind) and "not indexed" in done.stderr
    logged = strop("log", made.id, "--json")
    assert logged.returncode == 0, logged.stderr
    assert [e["id"] for e in json.loads(logged.stdout)["experiments"]] == [0, 1, 2, 4]
    for command in (["log", made.id], ["report", made.id, "-o", str(tmp_path / "r.html")]):
        shown = strop(*command)
        assert shown.returncode == 0 and "Traceback" not in shown.stderr, shown.stderr
    missing = strop("adopt", f"{made.id}/3")
    assert missing.returncode == 2 and f"run {made.id} has no experiment 3" in missing.stderr
    assert refs(made) == before


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_resume_refuses_and_overwrites_no_branch(made: Made, kind: str) -> None:
    """The last experiment's note: a resume that skipped it would make a new experiment 4."""
    commit, note = corrupt(made, 4, kind)
    before = refs(made)
    for more in (["--experiments", "8"], []):
        done = strop("resume", made.id, *more)
        assert done.returncode == 1, done.stdout + done.stderr
        line = one_line(done, "error: ")
        assert says(line, made, 4, commit, kind) and "log -p refs/notes/strop" in line, line
        assert refs(made) == before
    assert RunIndex(strop_home()).find_run(made.id).status == "done"
    made.git("notes", "--ref=strop", "add", "-f", "-m", note.decode().strip(), commit)  # restored
    assert strop("resume", made.id, "--experiments", "7").returncode == 0
    assert made.commit(4) == commit
    assert [r.id for r in made.repo.read_records(made.id)] == list(range(7))


def test_a_new_run_indexes_an_orphaned_run_but_its_unreadable_note(made: Made, tmp_path: Path) -> None:
    """A run killed before the index knew it is indexed by the next run in the repo, note by note."""
    commit, _ = corrupt(made, 2, "a JSON array")
    with sqlite3.connect(strop_home() / "index.sqlite") as db:
        db.execute("DELETE FROM runs")
        db.execute("DELETE FROM experiments")
    done = strop("run", str(tmp_path / "t" / "task.toml"), "-n", "1", "--quiet")
    assert done.returncode == 0, done.stderr
    line = one_line(done, "warning: strop/")
    assert says(line, made, 2, commit, "a JSON array") and "not indexed" in line, line
    assert [r.id for r in RunIndex(strop_home()).experiments(made.id)] == [0, 1, 3, 4]


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_a_note_is_read_as_a_record_or_said_what_is_wrong(kind: str) -> None:
    record = ExperimentRecord(run="r", id=3, parent=0, branch="strop/r/3", commit="c" * 40, metrics={"s": 1})
    note = json.dumps(record.to_dict()).encode()
    assert ExperimentRecord.from_note(note) == record
    with pytest.raises(NotARecord, match=re.escape(CORRUPTIONS[kind][1])):
        ExperimentRecord.from_note(CORRUPTIONS[kind][0](note))


def test_an_edited_run_record_is_a_problem_of_the_audit_and_one_line_elsewhere(made: Made) -> None:
    """run.json on refs/strop/runs/ID is in the user's repo: `"schema": "2"` crashed `strop audit`
    with a bare TypeError (the schema was compared with an int)."""
    ref = f"refs/strop/runs/{made.id}"
    data = json.loads(made.git("show", f"{ref}:run.json"))
    data["schema"] = "2"
    git = ["git", "-C", str(made.repo.path)]
    blob = subprocess.run([*git, "hash-object", "-w", "--stdin"], input=json.dumps(data), text=True,
                          capture_output=True, check=True).stdout.strip()  # fmt: skip
    tree = subprocess.run([*git, "mktree"], input=f"100644 blob {blob}\trun.json\n", text=True,
                          capture_output=True, check=True).stdout.strip()  # fmt: skip
    commit = made.git("commit-tree", tree, "-p", ref, "-m", "edited")
    made.git("update-ref", ref, commit)
    audited = strop("audit", made.id)
    assert audited.returncode == 1, audited.stdout + audited.stderr
    assert "Traceback" not in audited.stderr and "internal error" not in audited.stderr, audited.stderr
    assert "run.json" in audited.stdout and "schema is the string '2'" in audited.stdout, audited.stdout
    resumed = strop("resume", made.id)
    assert resumed.returncode != 0
    assert "schema is the string '2'" in one_line(resumed, "error:")


def test_a_damaged_index_is_one_line_and_reindex_rebuilds_it(made: Made) -> None:
    """Bytes that are not a database in index.sqlite failed every command with a bare DatabaseError,
    `strop reindex` (the remedy the README names) included."""
    index = strop_home() / "index.sqlite"
    for journal in strop_home().glob("index.sqlite-*"):
        journal.unlink()
    index.write_bytes(b"\x8a not a database " * 50)
    listed = strop("runs")
    assert listed.returncode != 0
    assert "`strop reindex` moves it aside" in one_line(listed, "error:")
    rebuilt = strop("reindex")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "the run index was damaged: moved aside to" in rebuilt.stderr
    assert [path.name for path in strop_home().glob("index.damaged-*.sqlite")]
    again = strop("runs")
    assert again.returncode == 0 and made.id in again.stdout, again.stderr
