"""`strop report`: real runs in real git repos, real matplotlib, the HTML read back and checked."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from agent.records import ExperimentRecord
from agent.report import Baseline, gather, render_html, write_report
from agent.report.demo import build_demo_run
from agent.report.plots import all_plots, tree_layout
from agent.run_index import RunIndex
from agent.search_recorder import PointRecord, SearchRecorder
from evaluators.metric import Direction, compared

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def strop(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One 24-experiment demo run (real commits and notes), shared by the read-only tests here."""
    home = tmp_path_factory.mktemp("report-home")
    run_id = build_demo_run(home, tmp_path_factory.mktemp("demo") / "repo", experiments=24, seed=3)
    return home, run_id


def test_html_is_self_contained_and_shows_every_part(demo: tuple[Path, str], tmp_path: Path) -> None:
    home, run_id = demo
    data = gather(RunIndex(home), run_id, home)
    plots = write_report(data, tmp_path / "r.html", tmp_path / "png")
    html = (tmp_path / "r.html").read_text()
    assert [p.name for p in plots] == ["curve", "tree", "budget"]
    images = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == 3
    assert all(base64.b64decode(image).startswith(PNG_MAGIC) for image in images)
    for plot in plots:
        assert (tmp_path / "png" / f"{plot.name}.png").read_bytes() == plot.png
    # nothing fetched from anywhere: no external scripts, styles or images
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<script" not in html
    # the winning diff against experiment 0, and the best row marked
    assert data.best is not None and data.best.id != 0
    assert 'class="add">+{' in html and "params.json" in html
    assert f"strop adopt {run_id}/{data.best.id}" in html
    assert html.count("<tr") >= len(data.records) + 1
    assert "turns: granted" in html  # budget and turn decisions are listed
    gain = data.improvement()
    assert gain is not None and gain > 0
    assert f"({gain:.6g} better than experiment 0)" in html


def test_improvement_reads_the_same_way_for_both_directions() -> None:
    for direction, start, best in ((Direction.MINIMIZE, 20.5, 0.5), (Direction.MAXIMIZE, 0.5, 20.5)):
        assert compared(direction.improvement(best, start), "experiment 0") == "20 better than experiment 0"
        assert compared(direction.improvement(start, best), "experiment 0") == "20 worse than experiment 0"
    assert compared(0.0, "experiment 0") == "same as experiment 0"


def test_candidate_text_is_escaped(demo: tuple[Path, str]) -> None:
    home, run_id = demo
    data = gather(RunIndex(home), run_id, home)
    data.records = [replace(data.records[1], idea='<script>alert("x")</script>'), *data.records[2:]]
    html = render_html(data, [])
    assert '<script>alert("x")' not in html
    assert "&lt;script&gt;alert" in html


def test_two_hundred_experiments_stay_under_two_megabytes(tmp_path: Path) -> None:
    """The size bound of the issue, on 200 index records (the timing bound: benchmarks/report_speed.py)."""
    home = tmp_path / "home"
    run_id = build_demo_run(home, tmp_path / "repo", experiments=20, seed=1)
    index = RunIndex(home)
    records = index.experiments(run_id)
    for exp in range(20, 200):  # more records on the same commits: what the report reads is the index
        source = records[exp % 20]
        index.put_experiment(replace(source, id=exp, parent=(exp - 1) // 2, idea=f"{source.idea} #{exp}"))
    data = gather(index, run_id, home)
    assert len(data.records) == 200
    write_report(data, tmp_path / "r.html")
    size = (tmp_path / "r.html").stat().st_size
    assert 50_000 < size <= 2_000_000


def test_tree_layout_puts_children_below_their_parent(demo: tuple[Path, str]) -> None:
    home, run_id = demo
    data = gather(RunIndex(home), run_id, home)
    position = tree_layout(data)
    assert set(position) == {r.id for r in data.records}
    for record in data.records:
        if record.parent is not None:
            assert position[record.id][1] == position[record.parent][1] - 1
    leaves = [r.id for r in data.records if all(c.parent != r.id for c in data.records)]
    assert len({position[leaf][0] for leaf in leaves}) == len(leaves)  # no two leaves overlap


def _point(item: dict[str, float]) -> PointRecord:
    return PointRecord(idea=f"cost {item['cost']}", files={"p.txt": json.dumps(item)}, metrics=item)


def test_search_report_draws_the_front_with_baselines(tmp_path: Path) -> None:
    home = tmp_path / "home"
    recorder = SearchRecorder(home, "toy-search", "max_ulp", Direction.MINIMIZE, _point, "a toy search")
    run = recorder.start()
    for cost, ulp in [(3, 900.0), (4, 31.0), (5, 0.9), (6, 0.6)]:
        recorder.record_point({"cost": float(cost), "max_ulp": ulp}, generation=cost)
    recorder.finish()
    (home / "runs" / run.id).mkdir(parents=True, exist_ok=True)
    baselines = [{"name": "taylor-4", "metrics": {"cost": 4, "max_ulp": 5000.0}}, {"name": "junk"}]
    (home / "runs" / run.id / "baselines.json").write_text(json.dumps(baselines))
    data = gather(RunIndex(home), "toy-search", home)  # found by the search's name
    assert data.is_search and data.cost_axis() == "cost"
    assert [b.name for b in data.baselines] == ["taylor-4"]
    assert [p.name for p in all_plots(data)] == ["curve", "pareto", "budget"]
    html = render_html(data, all_plots(data))
    assert "Pareto front" in html and "Best experiment" not in html


def _toy_search(home: Path) -> SearchRecorder:
    recorder = SearchRecorder(home, "toy-search", "max_ulp", Direction.MINIMIZE, _point, "a toy search")
    recorder.start()
    for cost, ulp in [(3, 900.0), (4, 31.0), (5, 0.9), (6, 0.6)]:
        recorder.record_point({"cost": float(cost), "max_ulp": ulp}, generation=cost)
    return recorder


def _facts(html: str) -> dict[str, str]:
    return dict(re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td>", html))


def test_a_search_keeps_its_baselines_and_is_compared_with_the_strongest_at_its_cost(tmp_path: Path) -> None:
    """What `strop evolve` run by hand keeps: its report draws the baselines its --json listed, and
    its best point is weighed against a baseline, not against the first point it found."""
    home = tmp_path / "home"
    recorder = _toy_search(home)
    listed = [  # as `strop evolve numerics --json` lists them: extra text, ints, an infinite error
        {"name": "taylor-4", "cost": 4, "max_ulp": 5000.0, "program": "x*x", "verified": "sampled"},
        {"name": "minimax-5", "cost": 5, "max_ulp": 2.5, "max_rel_error": float("inf")},
        {"name": "minimax-9", "cost": 9, "max_ulp": 0.5},  # costlier than the best point: no fair match
    ]
    recorder.keep_baselines(listed)
    recorder.finish()
    assert recorder.run is not None
    kept = json.loads((home / "runs" / recorder.run.id / "baselines.json").read_text())
    assert kept[1] == {"name": "minimax-5", "metrics": {"cost": 5.0, "max_ulp": 2.5}}
    data = gather(RunIndex(home), "toy-search", home)
    assert [b.name for b in data.baselines] == ["taylor-4", "minimax-5", "minimax-9"]
    plots = all_plots(data)
    assert [p.title for p in plots if p.name == "pareto"] == [
        "Pareto front: max_ulp against cost, with 3 baselines"
    ]
    facts = _facts(render_html(data, plots))
    assert "experiment 0" not in facts  # the first point found is no reference
    assert facts["best"] == (
        "experiment 3: max_ulp = 0.6 (1.9 better than minimax-5, the strongest baseline at cost ≤ 6; "
        "on the scores the search ranked its points by, not its own verdict)"
    )


def test_a_search_without_baselines_says_so_and_compares_with_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _toy_search(home).finish()
    data = gather(RunIndex(home), "toy-search", home)
    plots = all_plots(data)
    assert [p.title for p in plots if p.name == "pareto"] == [
        "Pareto front: max_ulp against cost (no baselines recorded for this search)"
    ]
    html = render_html(data, plots)
    assert "with baselines" not in html and "experiment 0" not in _facts(html)
    assert _facts(html)["best"] == "experiment 3: max_ulp = 0.6"


def _verdict(experiment: int | None, adopt_note: str = "") -> dict[str, object]:
    return {
        "experiment": experiment,
        "headline": "test 0.9800 at 3.937 bits; strongest baseline random: -0.89 points [-1.76, -0.02]: behind",
        "facts": [["chosen (the command's pick)", "test 0.9800, behind random"], ["verdict", "behind"]],
        "adopt_note": adopt_note,
        "selection": "the selection score",
    }


def test_a_search_that_kept_its_verdict_is_headlined_by_it(tmp_path: Path) -> None:
    """The highest recorded score (exp 3) is not the command's choice (exp 1): the report, its
    `adopt` and the run's best follow the choice, and no "better than" rests on selection scores."""
    home = tmp_path / "home"
    recorder = _toy_search(home)
    recorder.keep_baselines([{"name": "minimax-5", "cost": 5, "max_ulp": 2.5}])
    recorder.keep_summary(_verdict(1))
    recorder.finish()
    assert recorder.run is not None and recorder.run.best == 1
    data = gather(RunIndex(home), "toy-search", home)
    assert data.best is not None and data.best.id == 1 and data.strongest_baseline() is None
    html = render_html(data, all_plots(data))
    facts = _facts(html)
    assert facts["chosen (the command&#39;s pick)"] == "test 0.9800, behind random"
    assert facts["chosen experiment"] == "experiment 1: max_ulp = 31 (the selection score)"
    assert "best" not in facts and "better than" not in html
    assert f"strop adopt {recorder.run.id}/1" in html and '<tr class="best"><td>1</td>' in html
    decisions = [r.decisions for r in data.records if r.id == 1][0]
    assert decisions[-1].startswith("chosen by the search: test 0.9800")  # `strop log` prints it


def test_a_search_that_chose_a_baselines_config_has_nothing_to_adopt(tmp_path: Path) -> None:
    home = tmp_path / "home"
    recorder = _toy_search(home)
    recorder.keep_summary(
        _verdict(None, "nothing to adopt as a discovery: the chosen config is baseline hawq's own")
    )
    recorder.finish()
    assert recorder.run is not None and recorder.run.best is None
    data = gather(RunIndex(home), "toy-search", home)
    assert data.best is None and data.failed_note().startswith("nothing to adopt as a discovery")
    html = render_html(data, all_plots(data))
    assert "strop adopt" not in html and "nothing-scored" not in html
    assert re.search(r'<td id="adopt">nothing to adopt as a discovery: [^<]*hawq', html)


def test_baselines_by_name_are_kept_as_a_quant_search_lists_them(tmp_path: Path) -> None:
    home = tmp_path / "home"
    recorder = _toy_search(home)
    recorder.keep_baselines({"uniform_int4": {"val_acc": 0.97, "bytes": 4000, "config": [["int", 4]]}})
    assert recorder.run is not None
    data = gather(RunIndex(home), recorder.run.id, home)
    assert data.baselines == [Baseline("uniform_int4", {"val_acc": 0.97, "bytes": 4000.0})]


@pytest.mark.slow
def test_a_numerics_search_run_by_hand_reports_its_baselines(tmp_path: Path) -> None:
    """The real command (one generation, about 25 s on two cores), then its report."""
    env = {**os.environ, "STROP_HOME": str(tmp_path / "home")}
    search = ["evolve", "numerics", "--fn", "exp2", "--interval", "0,1", "--generations", "1", "--json"]
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", *search], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    page = tmp_path / "r.html"
    wrote = subprocess.run(
        [sys.executable, "-m", "agent.cli", "report", found["run"], "-o", str(page)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert wrote.returncode == 0, wrote.stderr
    titles = re.findall(r"<figcaption>([^<]*)</figcaption>", page.read_text())
    assert f"Pareto front: max_ulp against cost, with {len(found['baselines'])} baselines" in titles
    assert "better than experiment 0" not in page.read_text()


def test_medal_thresholds_and_unscored_runs_render(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run_id = build_demo_run(home, tmp_path / "repo", experiments=4, seed=0)
    (home / "runs" / run_id).mkdir(parents=True, exist_ok=True)
    (home / "runs" / run_id / "thresholds.json").write_text(json.dumps({"gold": -1.0, "bronze": -9.0}))
    data = gather(RunIndex(home), run_id, home)
    assert data.thresholds == {"gold": -1.0, "bronze": -9.0}
    assert all_plots(data)[0].png.startswith(PNG_MAGIC)
    data.records = [ExperimentRecord(run=run_id, id=0, parent=None, branch="b", commit="c")]
    data.best = None
    html = render_html(data, all_plots(data))
    assert "nothing scored" in html


def test_cli_writes_html_and_pngs(
    demo: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, run_id = demo
    monkeypatch.setenv("STROP_HOME", str(home))
    done = strop("report", run_id[:4], "-o", str(tmp_path / "out.html"), "--png", str(tmp_path / "p"))
    assert done.returncode == 0, done.stderr
    assert "3 plots, 24 experiments" in done.stdout
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["budget.png", "curve.png", "tree.png"]
    default = strop("report", cwd=tmp_path)  # latest run, default file name
    assert default.returncode == 0, default.stderr
    assert (tmp_path / f"report-{run_id}.html").is_file()


def test_cli_bad_input_is_one_line_and_exit_2(
    demo: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home, _ = demo
    monkeypatch.setenv("STROP_HOME", str(home))
    for args in (["report", "nosuchrun"], ["report", "--no-html"]):
        done = strop(*args)
        assert done.returncode == 2, done
        assert done.stderr.startswith("error:") and len(done.stderr.strip().splitlines()) == 1


def test_the_front_keeps_only_points_nothing_beats() -> None:
    from agent.report.plots import non_dominated

    points = [(3.0, 900.0), (4.0, 31.0), (4.0, 40.0), (5.0, 0.9), (6.0, 2.0)]
    assert non_dominated(points, Direction.MINIMIZE) == [(3.0, 900.0), (4.0, 31.0), (5.0, 0.9)]
    assert non_dominated([(1, 0.5), (2, 0.4), (3, 0.9), (3, 0.95)], Direction.MAXIMIZE) == [
        (1, 0.5),
        (3, 0.95),
    ]


MATHTEXT_METRIC = "loss $\\frac{$ <b>"


def rename_metric(home: Path, run_id: str, name: str) -> None:
    """Give a real run a scorer-chosen metric name (as a task's `metric = …` would)."""
    index = RunIndex(home)
    run = index.find_run(run_id)
    index.put_run(replace(run, metric=name))
    for record in index.experiments(run_id):
        metrics = {name if key == run.metric else key: value for key, value in record.metrics.items()}
        index.put_experiment(replace(record, metrics=metrics))


def test_dollar_signs_in_run_text_are_drawn_literally(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run_id = build_demo_run(home, tmp_path / "repo", experiments=4, seed=0)
    rename_metric(home, run_id, MATHTEXT_METRIC)
    (home / "runs" / run_id).mkdir(parents=True, exist_ok=True)
    (home / "runs" / run_id / "thresholds.json").write_text(json.dumps({"$\\sqrt{$": -1.0}))
    data = gather(RunIndex(home), run_id, home)
    plots = all_plots(data)
    assert [p.name for p in plots] == ["curve", "tree", "budget"]
    assert all(p.png.startswith(PNG_MAGIC) for p in plots)
    html = render_html(data, plots)
    assert "loss $\\frac{$ &lt;b&gt;" in html and "<b>" not in html


def test_dollar_signs_in_a_search_front_are_drawn_literally(tmp_path: Path) -> None:
    home = tmp_path / "home"
    recorder = SearchRecorder(home, "toy-search", MATHTEXT_METRIC, Direction.MINIMIZE, _point, "a toy")
    run = recorder.start()
    for cost, value in [(3, 900.0), (5, 0.9)]:
        recorder.record_point({"cost": float(cost), MATHTEXT_METRIC: value}, generation=cost)
    recorder.finish()
    (home / "runs" / run.id).mkdir(parents=True, exist_ok=True)
    baselines = [{"name": "$\\frac{$", "metrics": {"cost": 4, MATHTEXT_METRIC: 50.0}}]
    (home / "runs" / run.id / "baselines.json").write_text(json.dumps(baselines))
    data = gather(RunIndex(home), run.id, home)
    assert [p.name for p in all_plots(data)] == ["curve", "pareto", "budget"]


def test_a_report_that_cannot_be_written_whole_leaves_the_last_one(
    demo: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page was written in place: a write cut short (here by a file-size limit, as by a full
    disk) left half a page where the last report was, and a browser reloading mid-write read one."""
    home, run_id = demo
    monkeypatch.setenv("STROP_HOME", str(home))
    page = tmp_path / "report.html"
    first = strop("report", run_id, "-o", str(page))
    assert first.returncode == 0, first.stderr
    kept = page.read_bytes()
    limit = (
        "import resource, signal, sys, runpy; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({len(kept) // 2}, {len(kept) // 2})); "
        "sys.argv = ['strop', *sys.argv[1:]]; runpy.run_module('agent.cli', run_name='__main__')"
    )
    cut = subprocess.run(
        [sys.executable, "-c", limit, "report", run_id, "-o", str(page)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cut.returncode == 2 and cut.stderr.startswith("error: --output"), cut.stderr
    assert page.read_bytes() == kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]  # no temporary file left


def test_the_reports_totals_count_the_calls_a_crash_cut() -> None:
    """`strop log` counted a call cut by a crash (RunRecord.unrecorded); the report said 1050 tokens
    where the log said 1617."""
    from agent.records import Cost, Direction, ExperimentRecord, RunRecord
    from agent.report.data import ReportData

    run = RunRecord("r1", "t", "t.toml", "/repo", "/ws", "main", "c0", "score", Direction.MAXIMIZE)
    run.unrecorded = Cost(567, 0, 0.0011, calls=1, estimated=567)
    record = ExperimentRecord(
        run="r1", id=0, parent=None, branch="b", commit="c", cost=Cost(1000, 50, 0.0024, calls=1)
    )
    assert ReportData(run=run, records=[record], best=None).total_cost() == (1617, 0.0035)
