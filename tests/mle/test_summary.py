"""Many reports summed up: MLE-bench's totals and the per-competition medal table, pure and via the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.domains.mle.competition import load_competition
from agent.domains.mle.grading import report_for
from agent.domains.mle.summary import load_reports, summarise
from agent.errors import UserError


def write_reports(competition_dir: Path, where: Path, scores: list[float | None]) -> list[Path]:
    """One run folder per score, each with the report.json `strop mle run` would leave."""
    competition = load_competition(competition_dir)
    paths = []
    for n, score in enumerate(scores):
        report = report_for(competition, score, score is not None, "", "x.csv").to_json()
        path = where / f"run{n}" / "report.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(report), encoding="utf-8")
        paths.append(path)
    return paths


def test_totals_follow_mle_bench_and_the_rate_counts_any_medal(competition_dir: Path, tmp_path: Path) -> None:
    # thresholds: gold 1.0, silver 0.75, bronze 0.5, median 0.375
    write_reports(competition_dir, tmp_path / "runs", [1.0, 0.75, 0.5, 0.4, None])
    summary = summarise(load_reports([tmp_path / "runs"]))
    assert (summary.total_runs, summary.total_valid_submissions, summary.total_runs_with_submissions) == (
        5,
        4,
        4,
    )
    assert (summary.total_gold_medals, summary.total_silver_medals, summary.total_bronze_medals) == (1, 1, 1)
    assert summary.total_medals == 3 and summary.total_above_median == 4 and summary.any_medal_rate == 0.6
    [line] = summary.competitions
    assert line.competition_id == "tiny-accuracy" and line.runs == 5 and line.best_score == 1.0


@pytest.mark.parametrize(
    ("content", "says"),
    [("{not json", "not a readable JSON report"), ('{"competition_id": "x"}', "not an MLE report")],
)
def test_a_bad_report_is_one_clear_line(tmp_path: Path, content: str, says: str) -> None:
    (tmp_path / "report.json").write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=says):
        load_reports([tmp_path])


def test_no_report_at_all_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no report.json under"):
        load_reports([tmp_path])


def test_strop_mle_report_prints_the_table_and_json(competition_dir: Path, tmp_path: Path) -> None:
    write_reports(competition_dir, tmp_path / "runs", [1.0, 0.0])
    command = [sys.executable, "-m", "agent.cli", "mle", "report", str(tmp_path / "runs")]
    table = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert table.returncode == 0, table.stderr
    assert "tiny-accuracy" in table.stdout and "2 runs · 1 medal (any-medal rate 50%)" in table.stdout
    as_json = subprocess.run([*command, "--json"], capture_output=True, text=True, timeout=60)
    data = json.loads(as_json.stdout)
    assert data["total_runs"] == 2 and data["competitions"][0]["any_medal"] == 1
