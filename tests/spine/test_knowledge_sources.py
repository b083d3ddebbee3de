"""`[knowledge] sources` may not show what candidates must not read.

The task's sources are ingested into the user's store and quoted into LLM prompts (this task's and
others'): `sources = ["."]` beside `scorer = "scorer"` quoted the scorer and the private labels
into the prompt. Like `[evaluator] mounts`, a source that is, holds or lies inside the scorer, the
private data or strop's home is refused when the task is loaded, in one line naming the line.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from agent.errors import TaskSpecError
from agent.task import load_task
from tests.spine.conftest import git, strop

TASK = """
[task]
name = "sources"
goal = "make the score high"
workspace = "workspace"

[evaluator]
run = "python train.py"
score = "python score.py"
scorer = "scorer"
private = "private/validate"
metric = "score"
direction = "maximize"

[knowledge]
sources = [{sources}]
"""


def _task(root: Path, *sources: str) -> Path:
    """A two-stage task beside its scorer and private labels, listing `sources`."""
    for folder in ("workspace", "scorer", "private/validate/labels", "docs", "scorer/notes"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "scorer" / "score.py").write_text("print('{\"score\": 1}')\n")
    (root / "private" / "validate" / "labels" / "k.txt").write_text("1 0 1\n")
    (root / "docs" / "tips.md").write_text("# Tips\nraise VALUE\n")
    if not (root / "workspace" / ".git").exists():  # a second task file reuses the folders
        (root / "workspace" / "train.py").write_text("print('trained')\n")
        git(root / "workspace", "init", "-q")
        git(root / "workspace", "add", "-A")
        git(root / "workspace", "commit", "-qm", "init")
    task = root / "task.toml"
    task.write_text(TASK.format(sources=", ".join(f'"{s}"' for s in sources)))
    return task


def _sources_line(task: Path) -> int:
    return next(n for n, line in enumerate(task.read_text().splitlines(), 1) if line.startswith("sources"))


@pytest.mark.parametrize(
    ("source", "said"),
    [
        (".", "holds {root}/scorer"),  # the task's folder: scorer, private data and all
        ("scorer", "holds {root}/scorer"),
        ("scorer/notes", "lies inside {root}/scorer"),
        ("private", "holds {root}/private/validate"),
        ("private/validate/labels", "lies inside {root}/private/validate"),
    ],
)
def test_a_source_showing_the_scorer_or_the_private_data_is_refused_naming_its_line(
    tmp_path: Path, source: str, said: str
) -> None:
    root = tmp_path / "t"
    task = _task(root, "docs", source)
    with pytest.raises(TaskSpecError) as refused:
        load_task(task)
    error = refused.value
    assert error.line == _sources_line(task) and error.key == "knowledge.sources[1]"
    assert said.format(root=root.resolve()) in str(error), str(error)
    assert "which the LLM (sources are quoted into its prompts) must not read" in str(error)


def test_a_source_around_or_inside_strops_home_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Strop's home holds other runs' records, kept outputs and the store itself."""
    home = tmp_path / "user" / "strop-home"
    (home / "runs").mkdir(parents=True)
    monkeypatch.setenv("STROP_HOME", str(home))
    for source, said in ((str(home.parent), f"holds {home}"), (str(home / "runs"), f"lies inside {home}")):
        with pytest.raises(TaskSpecError, match="must not read") as refused:
            load_task(_task(tmp_path / "t", source))
        assert said in str(refused.value)


def test_a_link_to_the_scorer_is_refused_and_plain_folders_are_accepted(tmp_path: Path) -> None:
    root = tmp_path / "t"
    task = _task(root, "docs", "workspace", str(root / "docs" / "tips.md"))
    assert load_task(task).spec.knowledge.sources == ["docs", "workspace", str(root / "docs" / "tips.md")]
    (root / "notes").symlink_to(root / "scorer")
    with pytest.raises(TaskSpecError, match=f"notes holds {root.resolve()}/scorer"):
        load_task(_task(root, "notes"))


def test_the_cli_says_so_in_one_line_before_anything_runs(tmp_path: Path) -> None:
    task = _task(tmp_path / "t", ".")
    result = strop("run", str(task))
    assert result.code == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line == textwrap.dedent(
        f"""error: {task}:{_sources_line(task)}: [knowledge.sources[0]] . holds {(tmp_path / "t").resolve()}/scorer, which the LLM (sources are quoted into its prompts) must not read: list the folders you need inside it"""
    ), line
    assert not (Path(os.environ["STROP_HOME"]) / "knowledge").exists()
