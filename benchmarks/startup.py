"""Start-up time of `strop --help` and the read commands, beside a bare `python -c pass`.

    python benchmarks/startup.py [--repeat 10]

Goal: each under 0.5 s on a 2-core machine (heavy libraries load only where used).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

COMMANDS = [
    ["--help"],
    ["runs"],
    ["runs", "--json"],
    ["log", "--help"],
    ["show", "--help"],
    ["sandbox", "--help"],
]


def median_seconds(argv: list[str], repeat: int, env: dict[str, str]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(argv, capture_output=True, env=env, check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "STROP_HOME": home}
        bare = median_seconds([sys.executable, "-c", "pass"], args.repeat, env)
        print(f"{'python -c pass':24} {bare * 1000:7.0f} ms")
        for command in COMMANDS:
            seconds = median_seconds([sys.executable, "-m", "agent.cli", *command], args.repeat, env)
            verdict = "ok" if seconds < 0.5 else "SLOW"
            print(f"{'strop ' + ' '.join(command):24} {seconds * 1000:7.0f} ms  {verdict} (goal < 500 ms)")


if __name__ == "__main__":
    main()
