"""Issue 18: a run ends when its time is up, the final phase still runs, and resume continues.

The real CLI (`strop run --time`, `strop resume --time`) in a subprocess, a scripted model that
answers slowly (streamed, a chunk every 0.04 s, ~3 s an answer) and an evaluator that sleeps:
every wait the run has is a real one, and the wall time is measured around the whole command.

The resumed stretch gets `RESUME_SECONDS`. Measured on the shared 2-core machine at load ~6:
start-up (imports, the run's snapshot, the graph) took 3.9 s of a stretch and one experiment
(a model answer, git, a sandboxed evaluation) about 3 s, and the `final` phase's reserve and
closing keep ~4 s; so a 20 s stretch leaves room for very few new experiments, and a busier
machine (start-up alone took 21 s for a process at nice 15) for none, while the test asks
for one. The bound is the same rule: the stretch's time + 2 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.llm.scripted_server import RecordedRequest, Reply, ScriptedServer
from evaluators.verdict import Status
from tests.llm.support import git_workspace, llm_task_file

RESUME_SECONDS = 30

EVALUATOR = """
import json, time, model
time.sleep(0.5)
print(json.dumps({"score": model.VALUE}))
"""


def task_file(tmp_path: Path, workspace: Path, server: ScriptedServer) -> Path:
    """The shared LLM task with a final phase, room for 1000 experiments and slow answers."""
    return llm_task_file(
        tmp_path,
        workspace,
        server,
        "limits",
        1000,
        evaluator='final = "python evaluate.py"\n',
        timeout="60s",
        request_timeout="30s",
    )


def slow_raise(request: RecordedRequest) -> Reply:
    """A good edit (VALUE + 1), streamed slowly: about 3 s per answer."""
    import re

    value = int(re.findall(r"^VALUE = (\d+)$", request.prompt, re.MULTILINE)[-1])
    edit = f"model.py\n```python\n<<<<<<< SEARCH\nVALUE = {value}\n=======\nVALUE = {value + 1}\n>>>>>>> REPLACE\n```\n"
    return Reply.slow("Raise VALUE by one, carefully. " * 3 + "\n\n" + edit, chunk_delay=0.04)


def launch_overhead() -> float:
    """Seconds this test process needs to start any Python subprocess (fork + exec), under the current load.

    Not strop's doing: strop's own clock starts when its process starts (`process_started`).
    """
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.monotonic() - started


def strop(home: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run strop; returns its result and its wall time less the bare launch overhead measured just before."""
    env = {**os.environ, "STROP_HOME": str(home)}
    overhead = launch_overhead()
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )
    return done, time.monotonic() - started - overhead


def experiments(home: Path, run: str) -> list[dict[str, object]]:
    """The run's experiment records, as `strop log --json` gives them."""
    log, _ = strop(home, "log", run, "--json")
    return json.loads(log.stdout)["experiments"]


def test_time_budget_ends_on_time_runs_final_and_resumes(tmp_path: Path, isolated_home: Path) -> None:
    workspace = git_workspace(tmp_path, {"model.py": "VALUE = 1\n", "evaluate.py": EVALUATOR})
    with ScriptedServer(slow_raise) as server:
        task = task_file(tmp_path, workspace, server)
        done, wall = strop(isolated_home, "run", str(task), "--time", "20s", "--json")
        assert done.returncode == 0, done.stderr
        first = json.loads(done.stdout)
        assert wall <= 20 + 2, f"--time 20s took {wall:.1f}s"
        assert first["stop_reason"].startswith("time budget spent")
        assert first["best"]["final_metrics"] == {"score": first["best"]["metrics"]["score"]}
        assert first["best"]["id"] >= 1  # the search got somewhere before the deadline
        assert first["budget_report"].startswith("time: ")

        before = experiments(isolated_home, first["run"])
        done, wall = strop(isolated_home, "resume", first["run"], "--time", f"{RESUME_SECONDS}s", "--json")
        assert done.returncode == 0, done.stderr
        second = json.loads(done.stdout)
        assert wall <= RESUME_SECONDS + 2, f"resume --time {RESUME_SECONDS}s took {wall:.1f}s"
        assert second["run"] == first["run"] and second["experiments"] > first["experiments"]
        assert second["best"]["metrics"]["score"] > first["best"]["metrics"]["score"]
        assert second["best"]["final_metrics"] is not None  # final ran on the new best

    records = experiments(isolated_home, first["run"])
    ids = [r["id"] for r in records]
    assert ids == list(range(len(ids))), "nothing lost, nothing duplicated"
    after = {r["id"]: (r["status"], r["metrics"]) for r in records}
    kept = {r["id"]: (r["status"], r["metrics"]) for r in before if r["status"] != Status.PENDING}
    assert kept and all(after[i] == kept[i] for i in kept), (
        "the first stretch's experiments are kept as they were"
    )
    assert all(r["status"] in (Status.OK, Status.PENDING, Status.REJECTED, "stopped") for r in records)
    text, _ = strop(isolated_home, "log", first["run"])
    assert "budget: time: " in text.stdout


@pytest.mark.parametrize("seconds", [20])
def test_a_call_that_would_outlive_the_deadline_is_cut(
    tmp_path: Path, isolated_home: Path, seconds: int
) -> None:
    """A model slower than the whole budget: the call is cancelled at the deadline, the run ends on time."""
    evaluate = EVALUATOR.replace("time.sleep(1.5)", "time.sleep(0.2)")
    workspace = git_workspace(tmp_path, {"model.py": "VALUE = 1\n", "evaluate.py": evaluate})
    with ScriptedServer(lambda r: Reply.slow("x" * 4000, chunk_delay=0.1)) as server:
        task = task_file(tmp_path, workspace, server)
        done, wall = strop(isolated_home, "run", str(task), "--time", f"{seconds}s", "--json")
        cancelled = list(server.cancelled)
    assert done.returncode == 0, done.stderr
    assert wall <= seconds + 2, f"--time {seconds}s took {wall:.1f}s"
    assert cancelled, "the slow call was not cancelled on the server"
    result = json.loads(done.stdout)
    assert result["cost"]["cancelled"] >= 1 and result["cost"]["estimated"] > 0


def _digits_with_budget(tmp_path: Path, budget: str) -> Path:
    """A copy of the bundled digits-gbm task whose [budget] table holds `budget` only."""
    import shutil

    task = tmp_path / "digits-gbm"
    shutil.copytree(Path(__file__).parents[2] / "benchmarks" / "tasks" / "digits-gbm", task)
    text = (task / "task.toml").read_text()
    start = text.index("[budget]")
    end = text.index("\n[", start + 1)
    (task / "task.toml").write_text(f"{text[:start]}[budget]\n{budget}\n{text[end:]}")
    return task


@pytest.mark.parametrize(
    ("budget", "experiments"),
    [('time = "30m"', None), ('time = "30m"\nexperiments = 5', 5), ("tokens = 1000", 20), ("", 20)],
)
def test_a_time_given_alone_bounds_the_run(tmp_path: Path, budget: str, experiments: int | None) -> None:
    """`[budget] time = "30m"` on its own stopped after 20 experiments, the default count ("experiments
    left: 20 of 20; time left: 1798s"); tokens or cost alone keep the count (an offline proposer
    spends neither)."""
    from agent.budget import RunBudget, Usage
    from agent.task import load_task

    task = _digits_with_budget(tmp_path, budget)
    limits = RunBudget(load_task(task / "task.toml").spec.budget)
    assert limits.experiments_left(Usage(experiments=3)) == (None if experiments is None else experiments - 3)


@pytest.mark.parametrize(
    ("budget", "cli_experiments", "cli_time", "cap"),
    [
        ("", None, 20.0, None),  # `strop run TASK --time 20s`: ran the default 20 experiments in 6 s
        ("", None, None, 20),
        ("", 7, 20.0, 7),
        ("", 0, None, None),  # -n 0 lifts it (strop mle run --time)
        ("experiments = 12", None, 20.0, 12),  # a count the file names is kept
    ],
)
def test_a_time_given_alone_on_the_command_line_bounds_the_run(
    tmp_path: Path, budget: str, cli_experiments: int | None, cli_time: float | None, cap: int | None
) -> None:
    from agent.budget import RunBudget
    from agent.loop.graph import make_proposer
    from agent.task import load_task

    task = _digits_with_budget(tmp_path, budget)
    loaded = load_task(task / "task.toml")
    limits = RunBudget(loaded.spec.budget).with_overrides(cli_experiments, cli_time)
    assert limits.experiments == cap
    proposer = make_proposer(loaded, None, None)
    proposer.plan_for(limits.experiments)  # the step size is planned over the run's own limit
    assert proposer.optimizer.budget == cap
