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
from evaluators.verdict import Status
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


@pytest.mark.parametrize("backend", ["bwrap", "docker", "local"])
def test_the_scorer_scores_with_strops_measurements_not_the_candidates(tmp_path: Path, backend: str) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "run.py").write_text(RUN)
    (tmp_path / "scorer").mkdir()
    (tmp_path / "scorer" / "score.py").write_text(SCORE)
    spec = EvaluatorSpec(
        run="python run.py", score="python -I score.py", scorer="scorer", metric="wall", direction="minimize",
        timeout=60,
    )  # fmt: skip
    verdict = staged_in(tmp_path, spec, backend).evaluate(tmp_path / "work", name="0")
    assert verdict.status is Status.OK, verdict.reason
    assert 0.4 <= verdict.metrics["wall"] < 30, verdict.metrics
    assert verdict.metrics["cpu"] >= 0.25 and verdict.metrics["memory"] > 0, verdict.metrics
    log = (tmp_path / "logs" / "0-validate.log").read_text()
    assert "planted" in log  # the candidate ran and tried
