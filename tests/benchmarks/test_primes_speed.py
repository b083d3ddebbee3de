"""The primes-speed task: every method counts right, and its scorer scores strop's measurement of
the run stage ($STROP_RUN_STATS), refusing a wrong count whatever its time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TASK = Path(__file__).resolve().parents[2] / "benchmarks" / "tasks" / "primes-speed"
sys.path.insert(0, str(TASK / "workspace"))
import solve  # noqa: E402


def test_every_method_counts_the_same_primes() -> None:
    expected = json.loads((TASK / "private" / "expected.json").read_text())["count"]
    assert solve.sieve(solve.LIMIT, False) == solve.sieve(solve.LIMIT, True) == expected
    for segment in (1024, 4099, 1 << 22):
        for odd_only in (False, True):
            assert solve.segmented(solve.LIMIT, odd_only, segment) == expected
    for limit in (2, 3, 10, 1000):  # trial division is too slow for LIMIT in a test: small limits agree
        assert solve.trial(limit, False) == solve.trial(limit, True) == solve.sieve(limit, False)


def score(tmp_path: Path, count: object, cpu: float | None = 0.5) -> subprocess.CompletedProcess[str]:
    outputs, stats = tmp_path / "outputs", tmp_path / "run.json"
    outputs.mkdir(exist_ok=True)
    (outputs / "answer.json").write_text(json.dumps({"count": count}))
    stats.write_text(
        json.dumps({"wall_seconds": 0.9, "cpu_seconds": cpu, "peak_memory_bytes": 1, "backend": "docker"})
    )
    env = {
        "STROP_OUTPUTS": str(outputs),
        "STROP_PRIVATE": str(TASK / "private"),
        "STROP_RUN_STATS": str(stats),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    return subprocess.run(
        [sys.executable, "-I", "-S", "score.py"], cwd=TASK / "scorer", env=env, capture_output=True, text=True
    )


@pytest.mark.parametrize("count", [41537, "41538", None])
def test_a_wrong_count_is_refused(tmp_path: Path, count: object) -> None:
    done = score(tmp_path, count)
    assert done.returncode == 1 and "wrong count" in done.stderr


def test_a_right_count_scores_the_measured_cpu_time_else_the_wall_time(tmp_path: Path) -> None:
    done = score(tmp_path, 41538)
    assert done.returncode == 0
    assert json.loads(done.stdout) == {"seconds": 0.5, "wall_seconds": 0.9, "cpu_measured": True}
    done = score(tmp_path, 41538, cpu=None)
    assert json.loads(done.stdout) == {"seconds": 0.9, "wall_seconds": 0.9, "cpu_measured": False}
