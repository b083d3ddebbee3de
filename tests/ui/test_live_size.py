"""A long run's live part: the table holds the newest experiments, not every one of them."""

from __future__ import annotations

from jinja2 import Environment, FileSystemLoader

from agent.records import ExperimentRecord, RunRecord
from agent.ui import views
from agent.ui.app import HERE
from evaluators.verdict import Status


def _render(records: list[ExperimentRecord], run: RunRecord) -> str:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
    env.globals["metric_text"] = views.metric_text
    live = views.Progress(run, records, records[-1], {"ok": len(records)})
    return env.get_template("progress.html").render(p=live, run=run, children=views.tree(records))


def test_the_live_table_shows_the_newest_experiments_and_the_tree_every_one() -> None:
    """Sent whole on every change, the table of a 1,400-experiment run was ~0.35 MB an update."""
    run = RunRecord.from_dict(
        {"id": "r1", "task": "t", "metric": "score", "direction": "maximize", "task_path": "task.toml",
         "repo": "repo", "workspace": "ws", "base_branch": "main", "base_commit": "b" * 40}
    )  # fmt: skip
    records = [
        ExperimentRecord(
            run="r1", id=i, parent=None if i == 0 else 0, branch=f"strop/r1/{i}", commit="a" * 40,
            idea=f"model: x={i}", status=Status.OK, metrics={"score": float(i)},
        )
        for i in range(1000)
    ]  # fmt: skip
    html = _render(records, run)
    table, tree = html.split('<div class="tree"')
    assert table.count('class="exp-link"') == views.LIVE_ROWS
    assert 'href="/runs/r1/999">999</a>' in table and 'href="/runs/r1/899">' not in table
    assert f"the {views.LIVE_ROWS} newest of 1000 experiments" in table
    assert tree.count("<li>") == 1000
    few = _render(records[:12], run)
    assert few.split('<div class="tree"')[0].count('class="exp-link"') == 12 and "newest of" not in few
