"""What a large workspace costs per experiment: digits-gbm with and without a data folder.

    python -m benchmarks.workspace_overhead [--files 20000] [--size 2048] [--experiments 4]
        [--sandboxes local,bwrap] [--modes plain,git] [--repeat 1]

ML users keep 10k-100k data files in the folder they optimise (an image data set), and every
evaluation works on a fresh copy of the candidate's files (`evaluators.scratch`: candidate code
is hostile and never runs where host git reads), so each file costs an inode made and removed
per evaluation. This runs the real CLI, `strop run TASK --experiments N` with a fresh
STROP_HOME, on a copy of `benchmarks/tasks/digits-gbm` as it is and on one whose workspace
also holds `data/`: `--files` files of `--size` random bytes in ten class folders, in the
same invocation and on the same machine, alternately, so that the difference is the data's.

Modes: `plain` (the workspace is a plain folder: strop keeps a managed copy), `git` (the
workspace is a git repo with the data committed), `ignored` (a git repo whose .gitignore
lists `data/`: no experiment has the data, so none pays for it, and no candidate can read it).

Per row: seconds per experiment (the command's wall time over N: run setup, experiment 0,
the search and the final phase included) without and with the data, the difference, and
the median span of one experiment (its record's created to finished) with the data.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TASK = ROOT / "benchmarks" / "tasks" / "digits-gbm"
MODES = ("plain", "git", "ignored")
GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", "-c", "commit.gpgsign=false"]


@dataclass(frozen=True)
class Timing:
    """One `strop run`: its wall time and the median span of its experiments."""

    wall: float
    span: float
    code: int


def make_task(where: Path, mode: str, sandbox: str, files: int, size: int) -> Path:
    """A copy of digits-gbm at `where` for `sandbox`, with `files` data files of `size` bytes (0: none)."""
    shutil.copytree(TASK, where)
    toml = where / "task.toml"
    text = toml.read_text().replace('memory = "2g"\n', f'memory = "2g"\nsandbox = "{sandbox}"\n', 1)
    toml.write_text(text)
    workspace = where / "workspace"
    for k in range(files):
        folder = workspace / "data" / f"class_{k % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"img_{k:06d}.bin").write_bytes(os.urandom(size))
    if mode == "ignored":
        (workspace / ".gitignore").write_text("data/\n")
    if mode in ("git", "ignored"):
        subprocess.run([*GIT, "init", "-q", "-b", "main"], cwd=workspace, check=True)
        subprocess.run([*GIT, "add", "-A"], cwd=workspace, check=True)
        subprocess.run([*GIT, "commit", "-q", "-m", "task"], cwd=workspace, check=True)
    return where


def run_once(task: Path, experiments: int, home: Path) -> Timing:
    """`strop run` on `task` with a fresh home; its wall time and median experiment span."""
    strop = Path(sys.executable).parent / "strop"
    env = {**os.environ, "STROP_HOME": str(home)}
    started = time.monotonic()
    done = subprocess.run(
        [str(strop), "run", str(task), "--experiments", str(experiments), "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    wall = time.monotonic() - started
    logged = subprocess.run(
        [str(strop), "log", "--json"], capture_output=True, text=True, env=env, check=False
    )
    spans = _spans(logged.stdout)
    return Timing(wall, statistics.median(spans) if spans else float("nan"), done.returncode)


def _spans(output: str) -> list[float]:
    """Each experiment's created-to-finished seconds, from `strop log --json`'s records."""
    try:
        records = json.loads(output).get("experiments", [])
    except (ValueError, AttributeError):
        return []
    spans = []
    for record in records:
        if isinstance(record, dict) and record.get("created") and record.get("finished"):
            begun = datetime.fromisoformat(record["created"].replace("Z", "+00:00"))
            ended = datetime.fromisoformat(record["finished"].replace("Z", "+00:00"))
            spans.append((ended - begun).total_seconds())
    return spans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--experiments", type=int, default=4)
    parser.add_argument("--sandboxes", default="local,bwrap")
    parser.add_argument("--modes", default="plain,git")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    modes = [mode for mode in args.modes.split(",") if mode]
    if unknown := [mode for mode in modes if mode not in MODES]:
        parser.error(f"unknown mode {unknown[0]!r}: one of {', '.join(MODES)}")
    n = args.experiments
    print(f"digits-gbm, {n} experiments per run, data: {args.files} files of {args.size} bytes")
    print(
        f"{'sandbox':8} {'mode':8} {'without s/exp':>14} {'with s/exp':>11} {'overhead s/exp':>15} {'span with':>10}"
    )
    with tempfile.TemporaryDirectory(prefix="strop-wsbench-", ignore_cleanup_errors=True) as scratch:
        base = Path(scratch)
        for sandbox in [name for name in args.sandboxes.split(",") if name]:
            for mode in modes:
                bare = make_task(base / f"{sandbox}-{mode}-bare", mode, sandbox, 0, args.size)
                big = make_task(base / f"{sandbox}-{mode}-data", mode, sandbox, args.files, args.size)
                without, with_data = [], []
                for k in range(args.repeat):
                    without.append(run_once(bare, n, base / f"home-{sandbox}-{mode}-bare-{k}"))
                    with_data.append(run_once(big, n, base / f"home-{sandbox}-{mode}-data-{k}"))
                failed = [t.code for t in without + with_data if t.code != 0]
                a = statistics.median(t.wall for t in without) / n
                b = statistics.median(t.wall for t in with_data) / n
                span = statistics.median(t.span for t in with_data)
                note = f"  (exit {failed[0]})" if failed else ""
                print(
                    f"{sandbox:8} {mode:8} {a:14.2f} {b:11.2f} {b - a:15.2f} {span:10.2f}{note}", flush=True
                )
                shutil.rmtree(bare)
                shutil.rmtree(big)


if __name__ == "__main__":
    main()
