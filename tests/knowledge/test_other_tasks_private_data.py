"""A source folder that holds another task's scorer or private data leaves them out.

The store is shared by every task: `sources = ["../projects"]` in task A's file (or `strop knowledge
add projects/`) ingested task B's `private/answers.csv`, which B's task file names as its hidden
answers, and B's runs then found them in their prompts.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from knowledge.embedder import HashingEmbedder
from knowledge.sources import collect_files
from knowledge.store import KnowledgeStore

TASK = """[task]
name = "b"
goal = "g"
workspace = "ws"
[evaluator]
run = "python t.py"
score = "python s.py"
scorer = "{scorer}"
private = "private"
final_private = "../held-out"
metric = "score"
direction = "maximize"
"""
ANSWERS = "id,label\n1,cat\n2,dog\n"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True, capture_output=True
    )


def _projects(root: Path, scorer: str = "scorer") -> Path:
    """A folder of projects: task B's, with its workspace, scorer, private data and (beside its
    folder) final private data; and notes anyone may read."""
    projects = root / "projects"
    task = projects / "b"
    for folder in ("ws", "scorer", "private", "notes"):
        (task / folder).mkdir(parents=True)
    (projects / "held-out").mkdir()
    (task / "ws" / "t.py").write_text("print('train')\n")
    (task / "scorer" / "s.py").write_text("# Scorer\nprint('score', 0.9)\n")
    (task / "private" / "answers.csv").write_text(ANSWERS)
    (projects / "held-out" / "final.csv").write_text(ANSWERS)
    (task / "notes" / "tips.md").write_text("# Tips\nHalve the learning rate when the loss diverges.\n")
    (task / "task.toml").write_text(TASK.format(scorer=scorer))
    return projects


def _reasons(skipped: list[tuple[str, str]]) -> dict[str, str]:
    return {Path(path).name: reason for path, reason in skipped}


def test_a_folder_of_projects_leaves_out_each_tasks_scorer_and_private_data(
    tmp_path: Path, hashing: HashingEmbedder
) -> None:
    projects = _projects(tmp_path)
    store = KnowledgeStore.open(tmp_path / "store", embedder=hashing)
    report = store.add([projects])
    named = f"a task's scorer or private data, named by {projects / 'b' / 'task.toml'}"
    assert {Path(p).name: r for p, r in report.unsupported} == {
        "scorer": named, "private": named, "held-out": named
    }  # fmt: skip
    sources = {Path(s.source).relative_to(projects).as_posix() for s in store.list_sources()}
    assert sources == {"b/task.toml", "b/ws/t.py", "b/notes/tips.md"}
    assert not any("cat" in hit.text for hit in store.search("id label cat dog answers", k=10))


def test_a_git_repo_of_projects_leaves_them_out_too_and_drops_what_was_ingested(
    tmp_path: Path, hashing: HashingEmbedder
) -> None:
    """Tracked by git or not; and private data a store took in before the task file named it
    leaves the store on the next add."""
    projects = _projects(tmp_path)
    task_file = projects / "b" / "task.toml"
    text = task_file.read_text()
    task_file.unlink()
    _git(projects, "init", "-q")
    _git(projects, "add", "-A")
    _git(projects, "commit", "-qm", "init")
    store = KnowledgeStore.open(tmp_path / "store", embedder=hashing)
    store.add([projects])
    assert str(projects / "b" / "private" / "answers.csv") in {s.source for s in store.list_sources()}
    task_file.write_text(text)  # untracked, not ignored: git lists it
    report = store.add([projects])
    assert set(_reasons(list(report.unsupported))) == {"scorer", "private", "held-out"}
    sources = {Path(s.source).relative_to(projects).as_posix() for s in store.list_sources()}
    assert sources == {"b/task.toml", "b/ws/t.py", "b/notes/tips.md"}


def test_a_symlink_into_private_data_is_left_out_and_a_broken_task_file_guards_nothing(
    tmp_path: Path,
) -> None:
    projects = _projects(tmp_path)
    (projects / "b" / "notes" / "answers.csv").symlink_to(projects / "b" / "private" / "answers.csv")
    (projects / "c").mkdir()
    (projects / "c" / "task.toml").write_text('[evaluator\nprivate = "data"\n')
    (projects / "c" / "data").mkdir()
    (projects / "c" / "data" / "readme.md").write_text("# Data\nPublic.\n")
    collected = collect_files(projects)
    files = {f.relative_to(projects).as_posix() for f in collected.files}
    assert files == {"b/task.toml", "b/ws/t.py", "b/notes/tips.md", "c/task.toml", "c/data/readme.md"}
    assert set(_reasons(collected.skipped)) == {"scorer", "private", "held-out"}


def test_a_scorer_that_is_the_task_folder_leaves_out_the_whole_task(tmp_path: Path) -> None:
    projects = _projects(tmp_path, scorer=".")
    (projects / "readme.md").write_text("# Projects\n")
    collected = collect_files(projects)
    assert [f.name for f in collected.files] == ["readme.md"]
    assert set(_reasons(collected.skipped)) == {"b", "held-out"}
