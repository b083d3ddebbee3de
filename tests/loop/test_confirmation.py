"""Confirmation (`[evaluator] confirm`): a noisy metric's best judged by a mean, not a lucky draw.

Real runs on a noisy task: its evaluator's score is the experiment's true value `x` plus a noise
drawn by how many evaluations ran before (a counter file outside the workspace), so a run is
repeatable and one chosen evaluation can be the lucky draw. Real git, real sandbox, real audit.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from agent.budget import confirm_reserve
from agent.confirmation import contenders, missing, summarise
from agent.experiments import ExperimentRepo
from agent.home import strop_home
from agent.loop import Overrides, start_run
from agent.loop.audit import audit_provenance, audit_run
from agent.proposers.base import ProposalRequest
from agent.records import Confirmation, ExperimentRecord, best_experiment
from agent.run import Candidate
from agent.run_index import RunIndex
from agent.space import Space
from agent.task import TaskSpecError, load_task
from evaluators.metric import Direction
from evaluators.verdict import Status

STROP = [sys.executable, "-c", "from agent.cli import main; main()"]
ROOT = Path(__file__).resolve().parents[2]

EVALUATOR = textwrap.dedent(
    """
    import json, os, time
    p = json.load(open("params.json"))
    counter = os.environ["NOISE_COUNTER"]
    n = int(open(counter).read()) if os.path.exists(counter) else 0
    open(counter, "w").write(str(n + 1))
    if str(n) == os.environ.get("HANG_AT"):  # the crash test kills the run here
        open(counter + ".hung", "w").write(str(os.getpid()))
        time.sleep(30)
    time.sleep(float(os.environ.get("EVAL_SLEEP", "0")))
    lucky = json.loads(os.environ.get("LUCKY", "{}"))  # evaluation number -> noise
    noise = lucky.get(str(n), 0.02 if n % 2 else -0.02)
    print(json.dumps({"score": p["x"] + noise}))
    """
)

TASK = """
[task]
name = "noisy"
goal = "Maximise score."

[evaluator]
command = "python evaluate.py"
metric = "score"
direction = "maximize"
timeout = "20s"
sandbox = "local"
files = ["evaluate.py"]
confirm = {confirm}
confirm_top = {top}
env = {{ NOISE_COUNTER = "{counter}", LUCKY = '{lucky}', HANG_AT = "{hang}", EVAL_SLEEP = "{sleep}" }}

[budget]
experiments = {experiments}

[search]
seed = 3

[space]
x = {{ type = "float", low = -5, high = 5 }}
"""


def noisy_task(
    root: Path,
    confirm: int,
    top: int = 2,
    experiments: int = 4,
    lucky: dict[str, float] | None = None,
    hang: int = -1,
    sleep: float = 0.0,
) -> Path:
    """The noisy task in `root`, a git repo of its own (experiment 0 is x = 0)."""
    root.mkdir(parents=True)
    (root / "evaluate.py").write_text(EVALUATOR)
    (root / "params.json").write_text(json.dumps({"x": 0.0}))
    counter = root.parent / f"{root.name}-counter"
    (root / "task.toml").write_text(
        TASK.format(
            confirm=confirm,
            top=top,
            counter=counter,
            lucky=json.dumps(lucky or {}),
            hang=hang,
            sleep=sleep,
            experiments=experiments,
        )  # fmt: skip
    )
    return root / "task.toml"


def evaluations(task: Path) -> int:
    """How many evaluations the task's evaluator ran (its counter)."""
    counter = task.parent.parent / f"{task.parent.name}-counter"
    return int(counter.read_text()) if counter.exists() else 0


class Points:
    """Proposes the given values of x in order (a model's answers, scripted)."""

    name = "scripted"

    def __init__(self, task: Path, xs: list[float]) -> None:
        self.task = load_task(task)
        self.space = Space.from_task(self.task)
        self.xs = list(xs)

    def propose(self, request: ProposalRequest) -> Candidate:
        point = {"x": self.xs.pop(0)}
        files = self.space.materialise(point, request.parent_checkout, self.task.spec.proposer)
        return Candidate(idea=f"try {point}", files=files, proposer=self.name, params=point)


# experiment 1 is truly 1.0; experiment 2 truly 0.5, but its one measurement (the third
# evaluation, number 2) draws +1.0 of noise: 1.5, the best single measurement
LUCKY = {"2": 1.0}
XS = [1.0, 0.5, 0.2]


def run_noisy(root: Path, confirm: int, overrides: Overrides | None = None):  # type: ignore[no-untyped-def]
    task = noisy_task(root, confirm=confirm, lucky=LUCKY)
    events: list = []
    index = RunIndex(strop_home())
    result = start_run(
        load_task(task), strop_home(), index, overrides, proposer=Points(task, XS), sink=events.append
    )
    return task, result, index, events


def test_confirmation_picks_the_truly_better_experiment_over_a_lucky_draw(tmp_path: Path) -> None:
    task, result, index, events = run_noisy(tmp_path / "on", confirm=3)
    records = {r.id: r for r in result.records}
    assert records[2].metrics["score"] == pytest.approx(1.5)  # the lucky draw, the best single measurement
    # contenders: the top 2 by one measurement (2 and 1) and experiment 0, 3 re-evaluations each
    assert [len(records[n].confirmations) for n in (0, 1, 2, 3)] == [3, 3, 3, 0]
    assert evaluations(task) == 4 + 9  # re-evaluations are no experiments: the budget was 4
    assert result.best is not None and result.best.id == 1  # truly 1.0, over the lucky 0.5
    run = index.find_run(result.run_id)
    assert run.best == 1
    assert "confirmation: 9 re-evaluations" in run.budget_report
    notes = [e.text for e in events if e.kind == "Note" and e.text.startswith("confirmation")]
    assert any("experiment 2: score 1.5 when chosen; re-measured 3×: 0.49" in text for text in notes), notes
    assert any("best by mean: experiment 1; beyond the noise" in text for text in notes), notes
    assert notes[0] == "confirmation: measuring again: 9 re-evaluations of experiments 0, 1, 2"
    assert any("clear of the runner-up, experiment 2" in text for text in notes), notes
    shown = strop("log", result.run_id).stdout  # the ★ goes by the mean: the log says it
    starred = next(line for line in shown.splitlines() if "★" in line)
    assert "1 ok 1.02 (re-measured 1.0" in starred and "mean of 3) ★ best" in starred, shown
    report = tmp_path / "report.html"
    assert strop("report", result.run_id, "-o", str(report)).returncode == 0
    assert "experiment 1: score = 1.02 (re-measured 1.0" in report.read_text()  # not the first draw alone
    logged = json.loads(strop("log", result.run_id, "--json").stdout)
    judged = {e["id"]: e["judged_value"] for e in logged["experiments"]}
    assert judged[1] == pytest.approx(sum(c.metrics["score"] for c in records[1].confirmations) / 3)
    assert judged[3] == records[3].metrics["score"]  # not re-measured: its one measurement
    listed = json.loads(strop("runs", "--json").stdout)
    value = next(r["best"]["value"] for r in listed if r["id"] == result.run_id)
    assert value == pytest.approx(sum(c.metrics["score"] for c in records[1].confirmations) / 3)
    logs = strop_home() / "runs" / result.run_id / "logs"
    assert sorted(p.name for p in logs.glob("1-c*")) == [f"1-c{k}-validate.log" for k in (1, 2, 3)]
    assert audit_run(result.run_id, strop_home(), index, evaluated=4) == []
    assert audit_provenance(result.run_id, strop_home(), index) == []


def test_confirm_zero_leaves_the_lucky_draw_the_best_as_before(tmp_path: Path) -> None:
    task, result, index, _ = run_noisy(tmp_path / "off", confirm=0)
    assert result.best is not None and result.best.id == 2  # the lucky draw: the winner's curse
    assert all(not r.confirmations for r in result.records)
    assert evaluations(task) == 4
    assert "confirmation" not in index.find_run(result.run_id).budget_report
    assert not list((strop_home() / "runs" / result.run_id / "logs").glob("*-c*"))


def test_the_command_lines_confirm_overrides_the_task_file(tmp_path: Path) -> None:
    task, result, _, _ = run_noisy(tmp_path / "cli", confirm=0, overrides=Overrides(confirm=1))
    assert result.best is not None and result.best.id == 1  # (1.5 + 0.5)/2 < (1.0 + 1.0)/2
    assert evaluations(task) == 4 + 3


def strop(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([*STROP, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)


def test_audit_flags_an_edited_confirmation_metric_and_a_deleted_confirmation_log(tmp_path: Path) -> None:
    _, result, index, _ = run_noisy(tmp_path / "audit", confirm=2)
    done = strop("audit", result.run_id)
    assert done.returncode == 0 and "whole" in done.stdout, done.stdout + done.stderr
    repo = ExperimentRepo.open(Path(index.find_run(result.run_id).repo), strop_home())

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=repo.path, capture_output=True, text=True, check=True
        ).stdout

    commit = git("rev-parse", f"strop/{result.run_id}/2").strip()
    note = json.loads(git("notes", "--ref=strop", "show", commit))
    note["confirmations"][0]["metrics"]["score"] = 9.0  # the lucky one made luckier
    git("notes", "--ref=strop", "add", "-f", "-m", json.dumps(note), commit)
    log = Path(note["confirmations"][1]["log_path"])
    log.unlink()
    done = strop("audit", result.run_id)
    lines = [line for line in done.stdout.splitlines() if line.startswith("problem: ")]
    assert done.returncode == 1, done.stdout + done.stderr
    name = f"{result.run_id}/2 (confirmation 1)"
    assert any(name in line and "recorded metrics are not its evaluation log's" in line for line in lines), (
        lines
    )
    assert any("confirmations changed after they were made" in line for line in lines), lines
    assert any(f"{result.run_id}/2 (confirmation 2)" in line and "is missing" in line for line in lines), (
        lines
    )
    # the edit makes 2 the best by its mean: the run's reported best is then flagged too
    assert any("the run reports" in line for line in lines), lines


def test_an_unnamed_confirmation_log_is_flagged(tmp_path: Path) -> None:
    _, result, index, _ = run_noisy(tmp_path / "unnamed", confirm=1)
    logs = strop_home() / "runs" / result.run_id / "logs"
    (logs / "3-c4-validate.log").write_text('{"score": 5}\n')  # experiment 3 was never re-measured
    problems = [str(p) for p in audit_provenance(result.run_id, strop_home(), index)]
    assert any("3's confirmation log 3-c4-validate.log" in p and "no record names it" in p for p in problems)


def _spawn(*args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [*STROP, *args, "--quiet"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip


def test_a_run_killed_during_confirmation_resumes_doing_only_what_is_missing(tmp_path: Path) -> None:
    # 4 experiments (evaluations 0-3), then round 1 of confirmation: the run is killed in the
    # second re-evaluation (evaluation 5), after the first was recorded
    task = noisy_task(tmp_path / "crash", confirm=2, top=2, hang=5)
    process = _spawn("run", str(task))
    hung = task.parent.parent / f"{task.parent.name}-counter.hung"
    deadline = time.monotonic() + 120
    while not hung.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hung.exists(), process.communicate()[1].decode()[-2000:]
    time.sleep(0.2)  # the pid written
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    with contextlib.suppress(ProcessLookupError, ValueError):
        os.kill(int(hung.read_text()), signal.SIGKILL)  # the evaluator, if the sandbox put it apart
    index = RunIndex(strop_home())
    run_id = index.runs()[0].id
    repo = ExperimentRepo.open(Path(index.find_run(run_id).repo), strop_home())
    assert sum(len(r.confirmations) for r in repo.read_records(run_id)) == 1  # one recorded before the kill
    resumed = _spawn("resume", run_id)
    out, err = resumed.communicate(timeout=240)
    assert resumed.returncode == 0, err.decode()[-2000:]
    records = repo.read_records(run_id)
    confirmed = [r for r in records if r.confirmations]
    assert len(confirmed) in (2, 3) and all(len(r.confirmations) == 2 for r in confirmed)
    # nothing done twice: 4 experiments, each contender's 2 re-evaluations, and the one the kill cut
    assert evaluations(task) == 4 + 2 * len(confirmed) + 1
    assert audit_run(run_id, strop_home(), RunIndex(strop_home()), evaluated=4) == []


def test_a_time_budget_keeps_room_for_confirmation(tmp_path: Path) -> None:
    task = noisy_task(tmp_path / "timed", confirm=2, top=1, experiments=1000, sleep=0.4)
    done = strop("run", str(task), "--time", "14s", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    index = RunIndex(strop_home())
    records = ExperimentRepo.open(Path(index.find_run(data["run"]).repo), strop_home()).read_records(
        data["run"]
    )
    confirmed = [r for r in records if r.confirmations]
    assert confirmed and all(len(r.confirmations) == 2 for r in confirmed), data["budget_report"]
    assert "confirmation: " in data["budget_report"]
    best = next(r for r in records if r.id == data["best"]["id"])
    again = [c.metrics["score"] for c in best.confirmations if c.status == "ok"]
    expected = sum(again) / len(again) if again else best.metrics["score"]
    assert data["best"]["judged_value"] == pytest.approx(expected)  # `metrics` keeps the first draw
    spent = float(data["budget_report"].split("time: ")[1].split("s of")[0])
    assert spent <= 14.5, data["budget_report"]


def _record(exp: int, first: float, *again: float | None) -> ExperimentRecord:
    confirmations = [
        Confirmation(status="ok", metrics={"m": v}) if v is not None else Confirmation(status="buggy")
        for v in again
    ]
    return ExperimentRecord(
        run="r", id=exp, parent=None, branch="b", commit="c", status=Status.OK, metrics={"m": first},
        confirmations=confirmations,
    )  # fmt: skip


def test_the_best_rule_with_and_without_confirmations() -> None:
    plain = [_record(0, 0.0), _record(1, 2.0), _record(2, 1.0)]
    assert best_experiment(plain, "m", Direction.MAXIMIZE).id == 1  # as before: one measurement
    confirmed = [_record(0, 0.0, 0.1), _record(1, 2.0, 0.0, 0.0), _record(2, 1.0, 1.0, 1.0), _record(3, 9.0)]
    assert (
        best_experiment(confirmed, "m", Direction.MAXIMIZE).id == 2
    )  # by the mean; 3 unconfirmed ranks after
    failed = [_record(0, 0.0, 0.1), _record(1, 5.0, 5.0, None)]
    assert best_experiment(failed, "m", Direction.MAXIMIZE).id == 0  # a failed re-evaluation ranks after
    # the first measurement, the draw that made an experiment a contender, is left out of its mean
    assert best_experiment(confirmed, "m", Direction.MINIMIZE).id == 1
    assert [r.id for r in contenders(plain, "m", Direction.MAXIMIZE, 1)] == [0, 1]
    assert missing([_record(0, 0.0, 0.1), _record(1, 2.0)], 2) == [1, 0, 1]  # round by round
    assert summarise(failed[1], "m").failed == 1
    assert confirm_reserve([1.0] * 5, 3, 2, 60.0, 100.0) == 10.0  # 1.5 x 6 evaluations, 1 s more
    assert confirm_reserve([10.0] * 5, 4, 5, 60.0, 100.0) == 50.0  # at most half the time budget
    assert confirm_reserve([1.0], 3, 0, 60.0, 100.0) == 0.0


@pytest.mark.parametrize("value", ["-1", '"3"', "true", "2.5"])
def test_a_bad_confirm_value_is_one_line_naming_file_line_and_key(tmp_path: Path, value: str) -> None:
    task = noisy_task(tmp_path / "bad", confirm=2)
    task.write_text(task.read_text().replace("confirm = 2", f"confirm = {value}"))
    with pytest.raises(TaskSpecError) as error:
        load_task(task)
    said = str(error.value)
    assert "task.toml:" in said and "[evaluator.confirm]" in said and "\n" not in said


def test_the_pick_between_the_best_and_the_runner_up_is_said_settled_only_without_overlap() -> None:
    from agent.confirmation import Summary, choice_verdict, runner_up

    best = Summary(3, (1.0, 1.1, 1.05))
    close = Summary(2, (0.9, 1.02, 0.95))
    far = Summary(4, (0.5, 0.6, 0.55))
    base = Summary(0, (0.2, 0.25, 0.21))
    assert runner_up(best, [base, best, far, close], Direction.MAXIMIZE) == close
    assert runner_up(best, [base, best], Direction.MAXIMIZE) is None  # experiment 0 has its own verdict
    assert choice_verdict(best, close, "score").startswith(
        "a tie within noise with the runner-up, experiment 2"
    )
    assert choice_verdict(best, far, "score").startswith("clear of the runner-up, experiment 4")


def test_strop_stop_during_confirmation_starts_no_more_re_evaluations(tmp_path: Path) -> None:
    """`strop stop` was ignored there: every re-evaluation ran ((top + 1) x N of them, which with
    real evaluations may take an hour) and the run ended "done", as if never asked."""
    task = noisy_task(tmp_path / "stopped", confirm=3, lucky=LUCKY)
    events: list = []

    def sink(event: object) -> None:
        events.append(event)
        text = getattr(event, "text", "")
        if text.startswith("confirmation: measuring again"):  # what `strop stop` does: the run's stop file
            started = next(e for e in events if e.kind == "RunStarted")
            (strop_home() / "runs" / started.run / "stop").write_text("")

    index = RunIndex(strop_home())
    result = start_run(load_task(task), strop_home(), index, proposer=Points(task, XS), sink=sink)
    assert evaluations(task) == 4  # the stop came before the first re-evaluation: none started
    notes = [e.text for e in events if e.kind == "Note" and e.text.startswith("confirmation:")]
    assert any("9 not started: `strop stop` asked the run to stop" in text for text in notes), notes
    assert result.best is not None and result.best.id == 2  # no mean yet: the single measurements decide
    assert not (strop_home() / "runs" / result.run_id / "stop").exists()


def test_a_contender_whose_re_evaluation_failed_is_said_so_not_read_as_no_gain() -> None:
    """Experiment 5 measured 4.9-5.3 against experiment 0's 10.8-14.3 (minimised), one of its
    re-evaluations failed, and the run said "experiment 0 stays the best by its mean: no gain to
    confirm", as if there were none."""
    from agent.confirmation import summary_lines

    base, flaky = _record(0, 12.0, 10.8, 14.3), _record(5, 5.0, 4.9, None, 5.3)
    records = [base, flaky]
    best = best_experiment(records, "m", Direction.MINIMIZE)
    assert best is not None and best.id == 0
    lines = summary_lines(records, best, "m", Direction.MINIMIZE)
    assert any(line.startswith("experiment(s) 5: a re-evaluation failed") for line in lines), lines
    assert (
        lines[-1]
        == "best by mean: experiment 0; the only contender fully confirmed: the others had a re-evaluation fail"
    )


def test_every_view_shows_the_value_the_best_was_judged_by() -> None:
    from agent.records import judged_value, measured_text

    confirmed, plain = _record(1, 2.0, 0.5, 0.7), _record(2, 1.0)
    assert judged_value(confirmed, "m") == pytest.approx(0.6) and judged_value(plain, "m") == 1.0
    assert measured_text(confirmed, "m") == "2 (re-measured 0.6, mean of 2)"
    assert measured_text(plain, "m") == "1"
    assert judged_value(_record(3, 1.0, None), "m") == 1.0  # a failed re-evaluation: the one measurement
