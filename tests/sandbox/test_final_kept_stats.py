"""$STROP_RUN_STATS is there when the final phase grades kept outputs instead of running stage run.

The scorer was pointed at a `measured/run.json` no one wrote (stage run did not run in that
evaluation): a scorer that reads it crashed, and the final phase lost its grade. It now reads
the figures strop measured of the selection run that made the outputs, marked as kept.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from evaluators.run_stats import FILE, write_kept_stats
from evaluators.staged import GRADED
from evaluators.verdict import Status
from tests.sandbox.support import final_phase_evaluator

RUN = """
import os, sys
from pathlib import Path
rows = (Path(os.environ["STROP_PUBLIC"]) / "rows.txt").read_text().split()
if "crash" in rows:
    sys.exit("the refit does not fit")
(Path(os.environ["STROP_OUTPUTS"]) / "seen.txt").write_text(str(len(rows)))
"""

SCORE = """
import json, os
from pathlib import Path
stats = json.load(open(os.environ["STROP_RUN_STATS"]))
seen = (Path(os.environ["STROP_OUTPUTS"]) / "seen.txt").read_text()
print(json.dumps({"rows": int(seen), "wall": stats["wall_seconds"], "kept": int(stats.get("kept", False))}))
"""


def test_kept_outputs_are_scored_with_the_figures_of_the_run_that_made_them(tmp_path: Path) -> None:
    files = {
        "work/run.py": RUN,
        "scorer/score.py": SCORE,
        "public/rows.txt": "a b c",
        "final_public/rows.txt": "a crash",
        "private/answers.txt": "v",
        "final_private/answers.txt": "final",
    }
    judge = final_phase_evaluator(tmp_path, files)
    selected = judge.evaluate(tmp_path / "work", "0")
    assert selected.status is Status.OK and selected.metrics["kept"] == 0.0, selected.reason
    final = judge.evaluate(tmp_path / "work", "0", phase="final", deadline=time.time() + 25)
    assert final.status is Status.OK, final.reason
    assert judge.graded.startswith(f"{GRADED}: the outputs of experiment 0's selection run")
    assert final.metrics == {"rows": 3.0, "wall": selected.metrics["wall"], "kept": 1.0}


def test_outputs_kept_without_figures_give_nulls_and_say_why(tmp_path: Path) -> None:
    """An entry kept before its run's figures were: the file is written all the same, figures null."""
    write_kept_stats(tmp_path, None, "experiment 4's selection run")
    stats = json.loads((tmp_path / FILE).read_text())
    assert stats["kept"] is True and stats["wall_seconds"] is None and stats["cpu_seconds"] is None
    assert stats["peak_memory_bytes"] is None and "experiment 4's selection run" in stats["note"]
    assert (tmp_path / FILE).stat().st_mode & 0o777 == 0o644
