"""Bookkeeping overhead per experiment: strop's lane worktrees vs clone-per-experiment (KAPSO's way).

Both sides do the same work per experiment on the same generated repo of N files:
put a branch on the parent, get its files on disk, apply a one-file change,
commit it, and record the metadata. strop: a reused lane worktree + git note +
run-index row. Clone-per-experiment: `git clone` of the workspace, commit, push
the branch back, metadata as a JSON file committed beside it.

    python benchmarks/bookkeeping.py [--experiments 100] [--files 1000]

Prints both medians (ms) and the ratio. Goal: strop ≤ 40 ms and ≥ 5× faster.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

IDENTITY = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]


def make_repo(path: Path, files: int) -> None:
    path.mkdir(parents=True)
    for i in range(files):
        sub = path / f"pkg{i % 20}"
        sub.mkdir(exist_ok=True)
        (sub / f"module_{i}.py").write_text(f"VALUE_{i} = {i}\n" + "# filler line\n" * 30)
    (path / "params.json").write_text('{"x": 0}\n')
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=path, check=True)
    subprocess.run(["git", *IDENTITY, "add", "-A"], cwd=path, check=True)
    subprocess.run(["git", *IDENTITY, "commit", "-qm", "initial"], cwd=path, check=True)


def bench_strop(repo_path: Path, experiments: int) -> list[float]:
    from agent.experiments import ExperimentRepo, branch_name
    from agent.records import ExperimentRecord
    from agent.run_index import RunIndex

    home = Path(os.environ["STROP_HOME"])
    repo = ExperimentRepo.for_workspace(repo_path, home)
    index = RunIndex(home)
    _, base = repo.head()
    lane = repo.lane("bench", 0)
    parent = base
    timings = []
    for n in range(experiments):
        started = time.perf_counter()
        branch = branch_name("bench", n)
        repo.checkout(lane, branch, parent)
        (lane / "params.json").write_text(f'{{"x": {n}}}\n')
        commit = repo.commit(lane, f"experiment {n}")
        record = ExperimentRecord(
            run="bench", id=n, parent=n - 1 if n else None, branch=branch, commit=commit
        )
        repo.write_record(record)
        index.put_experiment(record)
        timings.append(time.perf_counter() - started)
        parent = commit if n % 2 == 0 else base  # alternate parents, as a tree search does
    repo.remove_lanes("bench")
    return timings


def bench_clone(repo_path: Path, experiments: int, scratch: Path) -> list[float]:
    timings = []
    for n in range(experiments):
        started = time.perf_counter()
        clone = scratch / f"exp{n}"
        subprocess.run(["git", "clone", "-q", str(repo_path), str(clone)], check=True)
        subprocess.run(["git", "checkout", "-q", "-b", f"experiment_{n}"], cwd=clone, check=True)
        (clone / "params.json").write_text(f'{{"x": {n}}}\n')
        (clone / ".kapso").mkdir(exist_ok=True)
        (clone / ".kapso" / "experiment.json").write_text(f'{{"id": {n}, "status": "ok"}}\n')
        subprocess.run(["git", *IDENTITY, "add", "-A"], cwd=clone, check=True)
        subprocess.run(["git", *IDENTITY, "commit", "-qm", f"experiment {n}"], cwd=clone, check=True)
        subprocess.run(["git", "push", "-q", "origin", f"experiment_{n}"], cwd=clone, check=True)
        shutil.rmtree(clone)
        timings.append(time.perf_counter() - started)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=100)
    parser.add_argument("--files", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["STROP_HOME"] = str(root / "home")
        strop_repo, clone_repo = root / "strop-ws", root / "clone-ws"
        make_repo(strop_repo, args.files)
        make_repo(clone_repo, args.files)
        clone_ms = statistics.median(bench_clone(clone_repo, args.experiments, root)) * 1000
        strop_ms = statistics.median(bench_strop(strop_repo, args.experiments)) * 1000
    print(f"repo: {args.files} files · {args.experiments} experiments each")
    print(f"strop lane worktree + note + index: median {strop_ms:.1f} ms/experiment")
    print(f"clone per experiment + commit + push: median {clone_ms:.1f} ms/experiment")
    print(f"ratio (clone / strop): {clone_ms / strop_ms:.1f}x   goals: strop <= 40 ms, ratio >= 5x")


if __name__ == "__main__":
    main()
