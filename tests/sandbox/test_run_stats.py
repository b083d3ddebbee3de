"""The scorer reads what strop measured of stage run ($STROP_RUN_STATS), which no candidate can forge.

A speed task scored by the run stage's own timing takes the candidate's word: it runs the
candidate's code, which may print any time or patch the clock. Here the candidate sleeps and
burns CPU, then plants forged stats everywhere it can write; the scorer scores with the file
strop wrote, and sees the real figures.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluators.spec import EvaluatorSpec
from evaluators.verdict import Status, Verdict
from tests.sandbox.support import staged_in

RUN = """
import glob, json, os, time
end = time.process_time() + 0.3
while time.process_time() < end:
    pass
time.sleep(0.4)
forged = json.dumps({"wall_seconds": 0.001, "cpu_seconds": 0.001, "peak_memory_bytes": 1})
planted = []
for place in [os.path.join(os.environ["STROP_OUTPUTS"], "run.json"), "run.json",
              *glob.glob("/tmp/*/measured"), "../measured"]:
    target = os.path.join(place, "run.json") if os.path.isdir(place) else place
    try:
        open(target, "w").write(forged)
        planted.append(target)
    except OSError:
        pass
print("planted", planted)
"""

SCORE = """
import json, os
stats = json.load(open(os.environ["STROP_RUN_STATS"]))
print(json.dumps({"wall": stats["wall_seconds"], "cpu": stats["cpu_seconds"] or -1.0,
                  "memory": stats["peak_memory_bytes"] or -1}))
"""


def evaluate(tmp_path: Path, run: str, backend: str) -> Verdict:
    """Both stages on `backend`: `run` as the candidate's run.py, SCORE as the scorer; it must score."""
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "run.py").write_text(run)
    (tmp_path / "scorer").mkdir()
    (tmp_path / "scorer" / "score.py").write_text(SCORE)
    spec = EvaluatorSpec(
        run="python run.py", score="python -I score.py", scorer="scorer", metric="wall", direction="minimize",
        timeout=60,
    )  # fmt: skip
    verdict = staged_in(tmp_path, spec, backend).evaluate(tmp_path / "work", name="0")
    assert verdict.status is Status.OK, verdict.reason
    return verdict


@pytest.mark.parametrize("backend", ["bwrap", "docker", "local"])
def test_the_scorer_scores_with_strops_measurements_not_the_candidates(tmp_path: Path, backend: str) -> None:
    verdict = evaluate(tmp_path, RUN, backend)
    assert 0.4 <= verdict.metrics["wall"] < 30, verdict.metrics
    assert verdict.metrics["memory"] > 0, verdict.metrics
    if backend == "docker":  # the container's cgroup counts every process
        assert verdict.metrics["cpu"] >= 0.25, verdict.metrics
    else:  # rusage misses a process left running at the end (see the next test): none given
        assert verdict.metrics["cpu"] == -1.0, verdict.metrics
    log = (tmp_path / "logs" / "0-validate.log").read_text()
    assert "planted" in log  # the candidate ran and tried


ORPHAN = """
import os, time
done = os.path.abspath("done")
if os.fork() == 0:
    if os.fork() == 0:  # a worker no one waits for: it does the work, then lingers until killed
        end = time.process_time() + 0.6
        while time.process_time() < end:
            pass
        open(done, "w").write("1")
        time.sleep(60)
    os._exit(0)
os.wait()
while not os.path.exists(done):
    time.sleep(0.01)
"""


@pytest.mark.parametrize("backend", ["bwrap", "docker", "local"])
def test_work_done_by_a_process_left_running_is_never_read_as_fast(tmp_path: Path, backend: str) -> None:
    """On bwrap a double-forked worker's CPU went uncounted (killed at the end, never waited for):
    the same prime count read 115x "faster". A figure that can miss work is not given."""
    verdict = evaluate(tmp_path, ORPHAN, backend)
    assert 0.6 <= verdict.metrics["wall"] < 30, verdict.metrics  # the wall time holds the worker's work
    cpu = verdict.metrics["cpu"]
    assert cpu == -1.0 or cpu >= 0.5, verdict.metrics  # counted whole, or not given
