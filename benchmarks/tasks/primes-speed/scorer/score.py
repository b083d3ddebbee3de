"""Stage `score` (trusted): a right count scores the time strop measured of stage run.

Reads $STROP_OUTPUTS/answer.json (the candidate's count), $STROP_PRIVATE/expected.json and
$STROP_RUN_STATS (what strop measured from outside the run's sandbox: the candidate cannot
write it): its CPU time where a cgroup counts every process (docker; bwrap as root), else its wall
time (a worker left running escapes a count without a cgroup, never the wall clock). A wrong or missing count is
refused, whatever its time.
"""

import json
import os
import sys
from pathlib import Path

if __name__ == "__main__":
    try:
        answer = json.loads((Path(os.environ["STROP_OUTPUTS"]) / "answer.json").read_text())
        expected = json.loads((Path(os.environ["STROP_PRIVATE"]) / "expected.json").read_text())
        stats = json.loads(Path(os.environ["STROP_RUN_STATS"]).read_text())
    except (OSError, ValueError, KeyError) as error:
        print(f"cannot read the answer: {error}", file=sys.stderr)
        sys.exit(1)
    if not isinstance(answer, dict) or answer.get("count") != expected["count"]:
        print(
            f"wrong count: {answer.get('count') if isinstance(answer, dict) else answer!r}", file=sys.stderr
        )
        sys.exit(1)
    cpu = stats["cpu_seconds"]
    seconds = cpu if cpu is not None else stats["wall_seconds"]
    print(
        json.dumps(
            {"seconds": seconds, "wall_seconds": stats["wall_seconds"], "cpu_measured": cpu is not None}
        )
    )
