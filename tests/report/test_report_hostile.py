"""`strop report` on odd and hostile runs: real runs (a hostile task, a killed run, nothing scored,
no experiment at all), real matplotlib, real CLI; what a reader sees is checked."""

from __future__ import annotations

import io
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from agent.report import gather, render_html, write_report
from agent.report.demo import build_demo_run
from agent.report.plots import STATUS_COLOURS, all_plots, metric_curve
from agent.run_index import RunIndex
from agent.search_recorder import PointRecord, SearchRecorder
from evaluators.metric import Direction
from evaluators.verdict import Status
from tests.report.hostile import killed_run, make_hostile_task, page_problems, run_task

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def strop(*args: str, home: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, "STROP_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
    )


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A real run of the hostile task (8 experiments, one failing with markup in its reason)."""
    home = tmp_path_factory.mktemp("hostile-home")
    task = make_hostile_task(tmp_path_factory.mktemp("hostile") / "task")
    return home, run_task(task, home)


def test_a_hostile_run_reports_inert_and_visible(hostile: tuple[Path, str], tmp_path: Path) -> None:
    home, run_id = hostile
    done = strop("report", run_id, "-o", str(tmp_path / "r.html"), home=home)
    assert done.returncode == 0, done.stderr
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert page_problems(html) == []
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "onerror=alert(1)&gt;" in html
    assert "evil={{7*7}}" in html  # data, never a template
    # the bidi override and zero-width space in an idea are shown, not obeyed
    assert "evil=a\\u202eb\\u200bc\\u2066d" in html
    assert "evil=\\x1b[31mred\\x1b[0m" in html
    # the best scored 1e308: said as is, drawn at the edge of the plot
    assert "score = 1e+308" in html


def test_infinite_nan_and_huge_metrics_are_drawn_not_raised(tmp_path: Path) -> None:
    """An index may hold what a scorer's 1e308 or an older record left: inf, NaN, ±1e308."""
    home = tmp_path / "home"
    run_id = build_demo_run(home, tmp_path / "repo", experiments=6, seed=1)
    index = RunIndex(home)
    values = [float("nan"), float("inf"), -float("inf"), 1e308, -1e308, 0.5]
    for record, value in zip(index.experiments(run_id), values, strict=True):
        index.put_experiment(
            replace(record, status=Status.OK, metrics={"score": value}, eval_seconds=float("nan"))
        )
    folder = home / "runs" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "thresholds.json").write_text('{"gold": NaN, "silver": Infinity, "bronze": 1' + "0" * 400 + "}")
    data = gather(index, run_id, home)
    assert data.thresholds == {}  # none of them is a number a plot can draw
    plots = write_report(data, tmp_path / "r.html", tmp_path / "png")
    assert [p.name for p in plots] == ["curve", "tree", "budget"]
    assert all(p.png.startswith(PNG_MAGIC) for p in plots)
    assert page_problems((tmp_path / "r.html").read_text()) == []


def test_a_search_front_with_non_finite_points_is_drawn(tmp_path: Path) -> None:
    def point(item: dict[str, float]) -> PointRecord:
        return PointRecord(idea="p", files={}, metrics=item)

    recorder = SearchRecorder(tmp_path, "odd-search", "max_ulp", Direction.MINIMIZE, point, "odd")
    run = recorder.start()
    for cost, ulp in [(3.0, 1e308), (4.0, -1e308), (5.0, 2.0), (1e308, 1.0)]:
        recorder.record_point({"cost": cost, "max_ulp": ulp}, generation=1)
    recorder.finish()
    index = RunIndex(tmp_path)
    record = index.experiments(run.id)[2]
    index.put_experiment(replace(record, metrics={"cost": float("nan"), "max_ulp": float("inf")}))
    data = gather(index, run.id, tmp_path)
    assert [p.name for p in all_plots(data)] == ["curve", "pareto", "budget"]


def _has_colour(png: bytes, hex_colour: str) -> bool:
    from matplotlib.image import imread

    pixels = imread(io.BytesIO(png), format="png")[..., :3]
    target = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    return bool((abs(pixels - target).max(axis=-1) < 0.02).any())


def test_a_run_where_nothing_scored_says_so_and_draws_its_failures(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run_id = build_demo_run(home, tmp_path / "repo", experiments=3, seed=0)
    index = RunIndex(home)
    for record in index.experiments(run_id):
        index.put_experiment(replace(record, status=Status.BUGGY, metrics={}, reason="exit 3"))
    data = gather(index, run_id, home)
    curve = metric_curve(data)
    assert curve is not None and _has_colour(curve.png, STATUS_COLOURS["buggy"])  # the failures are drawn
    html = render_html(data, all_plots(data))
    assert "nothing scored: all 3 experiments failed or never finished (3 buggy)" in html
    done = strop("report", run_id, "-o", str(tmp_path / "r.html"), home=home)
    assert done.returncode == 0 and "note: run" in done.stdout and "nothing scored" in done.stdout


def test_a_run_without_experiments_says_so(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run_id = build_demo_run(home, tmp_path / "repo", experiments=1, seed=0)
    index = RunIndex(home)
    index.put_run(replace(index.find_run(run_id), id="e0e0e0"))
    done = strop("report", "e0e0e0", "-o", str(tmp_path / "r.html"), "--png", str(tmp_path / "p"), home=home)
    assert done.returncode == 0, done.stderr
    assert "0 plots, 0 experiments" in done.stdout and "no experiment was recorded" in done.stdout
    html = (tmp_path / "r.html").read_text()
    assert "<td>none recorded</td>" in html and 'id="no-experiments"' in html and "0 ()" not in html


def test_a_killed_run_is_reported_as_interrupted(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run_id = killed_run(tmp_path / "task", home)
    data = gather(RunIndex(home), run_id, home)
    assert data.run.status == "running" and data.interrupted
    html = render_html(data, all_plots(data))
    assert f"interrupted: no strop process is running it (killed or crashed); `strop resume {run_id}`" in html
    # while a process drives it (holds its runner lock), it is running, not interrupted
    from filelock import FileLock

    with FileLock(str(home / "runs" / run_id / "runner.lock")):
        assert not gather(RunIndex(home), run_id, home).interrupted
    done = strop("report", run_id, "-o", str(tmp_path / "r.html"), home=home)
    assert done.returncode == 0 and f"strop resume {run_id}" in done.stdout


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    home = tmp_path_factory.mktemp("small-home")
    return home, build_demo_run(home, tmp_path_factory.mktemp("small") / "repo", experiments=3, seed=0)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["-o", "{tmp}"], "is a folder: name a file in it"),
        (["-o", "{tmp}/notes.txt"], "exists and is not a strop report"),
        (["-o", "{tmp}/notes.txt/r.html"], "is a file, not a folder"),
        (["-o", "/proc/version"], "exists and is not a strop report"),
        (["-o", "."], "--output needs a file name"),
        (["--png", "{tmp}/notes.txt"], "is a file, not a folder"),
        (["--no-html", "-o", "{tmp}/r.html", "--png", "{tmp}/p"], "contradict each other"),
    ],
)
def test_output_places_that_cannot_be_written_are_one_line(
    small: tuple[Path, str], tmp_path: Path, args: list[str], said: str
) -> None:
    home, run_id = small
    (tmp_path / "notes.txt").write_text("my notes\n")
    done = strop("report", run_id, *(a.format(tmp=tmp_path) for a in args), home=home, cwd=tmp_path)
    assert done.returncode == 2, done
    assert done.stderr.startswith("error:") and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert said in done.stderr
    assert (tmp_path / "notes.txt").read_text() == "my notes\n"  # never written over


@pytest.mark.parametrize(
    "page",
    [
        "<!doctype html>\n<html><head><title>Team notes</title></head><body>\n"
        "<p>Run <code>strop report RUN</code> and attach it.</p></body></html>\n",
        "<!doctype html>\n<html><head><title>strop report · how we read them</title></head></html>\n",
        '<!doctype html>\n<p>&lt;meta name="generator" content="strop report"&gt; marks a report</p>\n',
    ],
)
def test_a_users_html_page_that_mentions_strop_report_is_never_written_over(
    small: tuple[Path, str], tmp_path: Path, page: str
) -> None:
    """Only a page with the tag strop writes is replaced; words in a user's page are not that tag."""
    home, run_id = small
    notes = tmp_path / "notes.html"
    notes.write_text(page)
    done = strop("report", run_id, "-o", str(notes), home=home)
    assert done.returncode == 2, done
    assert done.stderr.strip().splitlines() == [
        f"error: --output {notes} exists and is not a strop report: choose another path, "
        "or delete it first (strop writes over its own pages only)"
    ]
    assert notes.read_text() == page


def test_an_earlier_report_is_replaced_and_odd_names_are_printed_as_given(
    small: tuple[Path, str], tmp_path: Path
) -> None:
    home, run_id = small
    target = tmp_path / "[bold]r.html"
    for _ in range(2):
        done = strop("report", run_id, "-o", str(target), home=home)
        assert done.returncode == 0, done.stderr
        assert f"wrote {target} (" in done.stdout  # rich markup in a file name is not markup
    assert target.read_text().startswith("<!doctype html>")
