"""`--time` bounds the whole command even with `--generations`; `--generations` alone has no time bound.

`--time 20s --generations 0` took 34 s: --generations dropped --time. Both hold now, as in
`strop evolve quant`.
"""

import json
import subprocess
import sys
import time

from typer.testing import CliRunner

from agent.cli import app
from agent.cli.evolve import _time_limit

ENTRY = "from agent.cli import main; main()"


def test_time_limit_of_each_combination():
    assert _time_limit("20s", 0) == 20.0  # both: --time holds
    assert _time_limit("20s", None) == 20.0
    assert _time_limit(None, 5) is None  # only --generations: no time bound
    assert _time_limit(None, None) == 180.0  # neither: the default 3m


def test_the_help_says_what_generations_without_time_does():
    result = CliRunner().invoke(app, ["evolve", "numerics", "--help"], env={"COLUMNS": "200"})
    text = " ".join(result.output.split())
    assert "with --generations and no --time, no time limit" in text
    assert "--time still bounds the whole command" in text


def test_time_bounds_a_run_given_generations_too(tmp_path):
    # a number of generations no machine does in 30 s: only --time can end this run in time (30 s, not
    # 20 s: at load 4 the baselines alone leave 20 s too short, which the command says and exits 2)
    started = time.monotonic()
    run = subprocess.run(
        [
            sys.executable, "-c", ENTRY, "evolve", "numerics", "--fn", "exp", "--interval", "0,1",
            "--time", "30s", "--generations", "100000", "--max-cost", "6", "--workers", "1", "--json",
            "--out", str(tmp_path / "out"),
        ],
        capture_output=True, text=True, env={"STROP_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )  # fmt: skip
    seconds = time.monotonic() - started
    assert run.returncode == 0, run.stderr[-2000:]
    assert seconds < 30 + 15, seconds  # a loaded machine's exit and start-up; the old code ran on
    report = json.loads(run.stdout)
    assert report["front"] and report["engine"]["generations"] < 100000


def test_the_search_line_names_its_generations_and_its_seconds():
    """With --time and --generations both bound the search; the line named only the seconds."""
    from agent.domains.numerics.discovery import _search_budget

    assert _search_budget(5, 30.2, False) == "5 generations, up to 30s"
    assert _search_budget(None, 30.2, False) == "30s"
    assert _search_budget(5, None, False) == "5 generations"
    assert _search_budget(None, 30.0, True).startswith("up to 30s: it ends sooner")


def test_a_first_generation_that_does_not_fit_still_reports_the_baselines(tmp_path):
    """A population no machine evaluates in the search's seconds (40 s: a loaded machine's baselines
    left 20 s too short): the command aborted with exit 2,
    "the time budget (21.7679s) ran out …", an empty stdout, and the fitted baselines lost. Now the
    baselines are reported with an empty front and a note in rounded seconds, exit 0."""
    run = subprocess.run(
        [
            sys.executable, "-c", ENTRY, "evolve", "numerics", "--fn", "exp", "--interval", "0.5,1",
            "--dtype", "float64", "--max-cost", "4", "--cost-model", "ops", "--population", "1000000",
            "--islands", "1", "--workers", "0", "--time", "40s", "--json", "--out", str(tmp_path / "out"),
        ],
        capture_output=True, text=True, env={"STROP_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout)
    assert report["front"] == [] and report["novel"] == 0
    assert len(report["baselines"]) >= 4
    (note,) = [n for n in report["notes"] if "before its first generation" in n]
    assert "(1000000 programs)" in note and "front is empty" in note
    assert "." not in note.split("s ran out")[0]  # whole seconds, not "21.7679s"
