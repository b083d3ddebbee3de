"""`strop report` on a 200-experiment run: wall time, CPU time and file size, beside `strop runs`.

    python -m benchmarks.report_speed [--experiments 200] [--repeat 3]

Goal (issue 12): the HTML file written in <= 3 s and <= 2 MB. The run is a demo run
(`agent.report.demo`: real commits, notes and index; scores computed in-process),
built once; then the real CLI is timed end to end (interpreter start included),
beside `strop runs` (the CLI's own floor on this machine, measured in the same
run) so a loaded machine shows as a loaded baseline. Run it with `nice -n 10`.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and child CPU seconds of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.strip()}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        env = {**os.environ, "STROP_HOME": str(root / "home")}
        os.environ["STROP_HOME"] = env["STROP_HOME"]
        from agent.report.demo import build_demo_run

        started = time.perf_counter()
        run_id = build_demo_run(root / "home", root / "repo", args.experiments)
        print(
            f"demo run {run_id}: {args.experiments} experiments built in {time.perf_counter() - started:.1f}s"
        )
        cli = [sys.executable, "-m", "agent.cli"]
        floor = [timed([*cli, "runs"], env, root) for _ in range(args.repeat)]
        report = [
            timed([*cli, "report", run_id, "-o", str(root / "r.html"), "--png", str(root / "png")], env, root)
            for _ in range(args.repeat)
        ]
        size = (root / "r.html").stat().st_size
        load = os.getloadavg()[0]
        floor_wall = statistics.median(w for w, _ in floor)
        wall = statistics.median(w for w, _ in report)
        cpu = statistics.median(c for _, c in report)
        print(f"load average (1 min): {load:.2f} on {os.cpu_count()} cores")
        print(f"strop runs (CLI floor):  wall {floor_wall:.2f}s (median of {args.repeat})")
        print(
            f"strop report:            wall {wall:.2f}s (min {min(w for w, _ in report):.2f}, "
            f"max {max(w for w, _ in report):.2f}), CPU {cpu:.2f}s, {wall / floor_wall:.1f}x the floor"
        )
        print(
            f"report file:             {size / 1e6:.3f} MB ({len(list((root / 'png').iterdir()))} PNGs too)"
        )
        print(
            f"goal <= 3 s: {'met' if wall <= 3 else 'NOT met'} (wall); goal <= 2 MB: {'met' if size <= 2e6 else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
