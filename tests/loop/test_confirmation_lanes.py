"""Confirmation on the run's lanes: `--parallel K` re-evaluates the contenders K at a time.

Before, confirmation ran one re-evaluation after another on lane 0 whatever the run's lanes: a
user who asked for 2 waited twice as long, and a short `--time` left re-evaluations "not started".
Real runs (real git, real local sandbox, real audit) of a task whose evaluator sleeps half a second
and writes when it started and ended, and for which `x`, to a file outside the workspace: the
re-evaluations' overlap is read from what really ran, not from what the run says of itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from agent.budget import confirm_reserve
from agent.experiments import ExperimentRepo
from agent.home import strop_home
from agent.loop import Overrides, start_run
from agent.loop.audit import audit_provenance, audit_run
from agent.run_index import RunIndex
from agent.task import load_task
from tests.loop.test_confirmation import Points

ROOT = Path(__file__).resolve().parents[2]
SLEEP = 0.5

EVALUATOR = textwrap.dedent(
    """
    import json, os, time
    start = time.time()
    p = json.load(open("params.json"))
    time.sleep(float(os.environ["EVAL_SLEEP"]))
    stop_at = os.environ["STOP_AT"]  # the test names the run's stop file here once confirmation began
    if os.path.exists(stop_at):
        open(open(stop_at).read(), "w").close()  # `strop stop`, as this evaluation ends
    with open(os.environ["STAMPS"], "a") as out:  # one short append: lanes' lines do not mix
        out.write(json.dumps({"x": p["x"], "start": start, "end": time.time()}) + "\\n")
    print(json.dumps({"score": p["x"]}))
    """
)

TASK = """
[task]
name = "lanes"
goal = "Maximise score."

[evaluator]
command = "python evaluate.py"
metric = "score"
direction = "maximize"
timeout = "20s"
sandbox = "local"
files = ["evaluate.py"]
confirm = 2
confirm_top = 3
env = {{ STAMPS = "{stamps}", STOP_AT = "{stop_at}", EVAL_SLEEP = "{sleep}" }}

[budget]
experiments = {experiments}

[search]
seed = 3

[space]
x = {{ type = "float", low = -5, high = 5 }}
"""

XS = [1.0, 0.5, 0.2]  # experiments 1-3; experiment 0 is x = 0: four contenders, 2 x 4 re-evaluations


def lanes_task(root: Path, experiments: int = 4) -> Path:
    root.mkdir(parents=True)
    (root / "evaluate.py").write_text(EVALUATOR)
    (root / "params.json").write_text(json.dumps({"x": 0.0}))
    stamps, stop_at = root.parent / "stamps.jsonl", root.parent / "stop-at"
    (root / "task.toml").write_text(
        TASK.format(stamps=stamps, stop_at=stop_at, sleep=SLEEP, experiments=experiments)
    )
    return root / "task.toml"


def run_lanes(tmp_path: Path, parallel: int, stop: bool = False):  # type: ignore[no-untyped-def]
    """The run, the wall-clock times its confirmation phase began and ended, and its notes.
    `stop`: the first re-evaluations to end ask the run to stop (`strop stop`'s stop file)."""
    task = lanes_task(tmp_path / "task")
    events: list = []
    phase: dict[str, float] = {}

    def sink(event: object) -> None:
        events.append(event)
        text = getattr(event, "text", "")
        if text.startswith("confirmation: measuring again"):
            phase["began"] = time.time()
            if stop:
                run = next(e for e in events if e.kind == "RunStarted").run
                (tmp_path / "stop-at").write_text(str(strop_home() / "runs" / run / "stop"))
        elif "re-evaluations ran" in text:
            phase["ended"] = time.time()

    index = RunIndex(strop_home())
    result = start_run(
        load_task(task),
        strop_home(),
        index,
        Overrides(parallel=parallel),
        proposer=Points(task, XS),
        sink=sink,
    )
    notes = [e.text for e in events if e.kind == "Note" and e.text.startswith("confirmation")]
    return result, index, phase, notes


def confirmations_ran(tmp_path: Path, began: float) -> list[dict[str, float]]:
    """The evaluations that started once confirmation began, by start time (the stamps file)."""
    lines = (tmp_path / "stamps.jsonl").read_text().splitlines()
    return sorted((s for s in map(json.loads, lines) if s["start"] >= began), key=lambda s: s["start"])


def most_at_once(spans: list[dict[str, float]]) -> int:
    """The largest number of evaluations running at the same moment."""
    edges = sorted([(s["start"], 1) for s in spans] + [(s["end"], -1) for s in spans])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def test_confirmation_runs_on_the_runs_two_lanes_round_by_round(tmp_path: Path) -> None:
    result, index, phase, notes = run_lanes(tmp_path, parallel=2)
    records = {r.id: r for r in result.records}
    assert [len(records[n].confirmations) for n in (0, 1, 2, 3)] == [2, 2, 2, 2], notes
    assert all(c.status == "ok" for r in records.values() for c in r.confirmations)
    spans = confirmations_ran(tmp_path, phase["began"])
    assert len(spans) == 8
    # two at a time, never more: the run's lanes (lane 0 alone before)
    assert most_at_once(spans) == 2, spans
    took = phase["ended"] - phase["began"]
    evaluating = sum(s["end"] - s["start"] for s in spans)
    assert took < 0.85 * evaluating, (took, evaluating)  # one after the other: more than all of it
    # round by round: every contender's first re-evaluation started before any second one did
    by_x: dict[float, list[float]] = {}
    for span in spans:
        by_x.setdefault(span["x"], []).append(span["start"])
    assert sorted(by_x) == [0.0, 0.2, 0.5, 1.0]
    assert max(starts[0] for starts in by_x.values()) < min(starts[1] for starts in by_x.values())
    said = next(text for text in notes if "re-evaluations ran" in text)
    assert said.startswith("confirmation: 8 of 8 re-evaluations ran (") and "on 2 lanes" in said, said
    logs = strop_home() / "runs" / result.run_id / "logs"
    assert sorted(p.name for p in logs.glob("*-c*")) == [
        f"{n}-c{k}-validate.log" for n in (0, 1, 2, 3) for k in (1, 2)
    ]
    assert audit_run(result.run_id, strop_home(), index, evaluated=4) == []
    assert audit_provenance(result.run_id, strop_home(), index) == []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", "from agent.cli import main; main()", "audit", result.run_id],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0 and "whole" in done.stdout, done.stdout + done.stderr


def test_strop_stop_lets_the_lanes_in_flight_end_and_records_them(tmp_path: Path) -> None:
    """The first round's two re-evaluations are in flight when the stop comes (each asks it as it
    ends): both end and are recorded; none starts after them."""
    result, index, phase, notes = run_lanes(tmp_path, parallel=2, stop=True)
    records = {r.id: r for r in result.records}
    assert [len(records[n].confirmations) for n in (0, 1, 2, 3)] == [1, 1, 0, 0], notes
    assert len(confirmations_ran(tmp_path, phase["began"])) == 2
    assert any("2 of 8 re-evaluations ran" in t and "6 not started: `strop stop`" in t for t in notes), notes
    assert audit_run(result.run_id, strop_home(), index, evaluated=4) == []
    repo = ExperimentRepo.open(Path(index.find_run(result.run_id).repo), strop_home())
    stored = {r.id: r for r in repo.read_records(result.run_id)}
    assert [len(stored[n].confirmations) for n in (0, 1, 2, 3)] == [1, 1, 0, 0]  # in git, not only in memory


def test_the_confirmation_reserve_counts_the_lanes() -> None:
    # 4 contenders x 2 rounds of 1 s: 8 evaluations one after the other, 4 on two lanes
    assert confirm_reserve([1.0] * 5, 4, 2, 60.0, 100.0) == 13.0
    assert confirm_reserve([1.0] * 5, 4, 2, 60.0, 100.0, lanes=2) == 7.0
    assert confirm_reserve([1.0] * 5, 3, 2, 60.0, 100.0, lanes=2) == 7.0  # a round of 3: 2 after each other
    assert confirm_reserve([1.0] * 5, 4, 2, 60.0, 100.0, lanes=8) == 4.0  # no more lanes than contenders


def test_one_lane_runs_them_one_after_the_other_as_before(tmp_path: Path) -> None:
    result, _, phase, notes = run_lanes(tmp_path, parallel=1)
    assert sum(len(r.confirmations) for r in result.records) == 8
    assert most_at_once(confirmations_ran(tmp_path, phase["began"])) == 1
    said = next(text for text in notes if "re-evaluations ran" in text)
    assert "lanes" not in said, said


def test_a_time_budget_on_two_lanes_keeps_room_for_the_confirmation_it_reserves(tmp_path: Path) -> None:
    """The reserve counts the lanes (half the serial one here): the search runs longer, and the
    confirmation still fits in what is left, every contender measured twice, within the budget."""
    task = lanes_task(tmp_path / "task", experiments=1000)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", "from agent.cli import main; main()", "run", str(task), "--time", "16s",
         "--parallel", "2", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    data = json.loads(done.stdout)
    index = RunIndex(strop_home())
    repo = ExperimentRepo.open(Path(index.find_run(data["run"]).repo), strop_home())
    confirmed = [r for r in repo.read_records(data["run"]) if r.confirmations]
    assert len(confirmed) == 4 and all(len(r.confirmations) == 2 for r in confirmed), data["budget_report"]
    spent = float(data["budget_report"].split("time: ")[1].split("s of")[0])
    assert spent <= 16.5, data["budget_report"]
    assert audit_run(data["run"], strop_home(), index) == []
