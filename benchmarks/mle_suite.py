"""strop vs FLAML on the bundled competitions, at the same wall-time budget on the same cores.

    nice -n 15 python -m benchmarks.mle_suite --time 10m --seeds 3
    nice -n 15 python -m benchmarks.mle_suite --time 1m --seeds 1 --competitions strop-digits,strop-co2

For each competition (benchmarks/competitions/*) and seed, `strop mle run COMPETITION --time T
--seed S` and FLAML (`benchmarks.mle_flaml`, the same budget for its whole process, the same
public files, `--jobs` = the cores strop's lanes use) each produce a submission; both are
graded on the hidden test rows against the competition's leaderboard (MLE-bench's medal
rules). By default the two run one after the other, each with the machine to itself as far
as this script is concerned; `--together` runs each pair at the same time, halving the wall
time. Then the cores are split evenly only where `benchmarks.cpu_groups` can weight the
sides (cgroup v1): without it FLAML took about 5x the CPU of strop's docker-sandboxed
candidates. Each result records the CPU-seconds its side used, where they can be read.

Prints the medal table per competition and seed, the spread of scores over seeds, and
each side's any-medal and above-median rates. With `--json FILE` each result is added to FILE
as soon as it is known, with the commit it ran at and the load, and a later run with the same
FILE skips every (competition, seed, side) already in it and prints the tables over all of
them: the suite (3.5 hours with `--together`) can be run across several sittings, or resumed
after a crash, without running anything twice. Results from another commit are refused unless
`--any-commit` is given, so one table never mixes two versions of strop.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from benchmarks.cpu_groups import Side

HERE = Path(__file__).resolve().parent
COMPETITIONS = HERE / "competitions"


@dataclass(frozen=True)
class Result:
    """One side's outcome on one competition and seed."""

    side: str
    competition: str
    seed: int
    score: float | None
    medal: str  # gold, silver, bronze, or "-"
    any_medal: bool
    above_median: bool
    wall_seconds: float
    note: str
    commit: str = ""
    load: float = 0.0
    cpu_seconds: float | None = None  # the side's CPU use while it ran (None: not measured)


def parse_time(text: str) -> float:
    from sandbox.units import parse_duration

    return parse_duration(text)


def bundled() -> list[str]:
    return sorted(p.name for p in COMPETITIONS.iterdir() if (p / "config.yaml").is_file())


def _medal(report: dict[str, object]) -> str:
    for name in ("gold", "silver", "bronze"):
        if report.get(f"{name}_medal"):
            return name
    return "-"


def _result(
    side: str, competition: str, seed: int, report: dict[str, object], wall: float, note: str
) -> Result:
    score = report.get("score")
    return Result(
        side=side,
        competition=competition,
        seed=seed,
        score=float(score) if isinstance(score, int | float) else None,
        medal=_medal(report),
        any_medal=bool(report.get("any_medal")),
        above_median=bool(report.get("above_median")),
        wall_seconds=round(wall, 1),
        note=note,
    )


def start_strop(
    folder: Path, seconds: float, seed: int, out: Path, home: Path, jobs: int
) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "agent.cli",
        "mle",
        "run",
        str(folder),
        "--time",
        f"{seconds:g}s",
        "--seed",
        str(seed),
        "-n",
        "100000",
        "--parallel",
        str(jobs),
        "--out",
        str(out),
        "--json",
    ]
    env = {**os.environ, "STROP_HOME": str(home)}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def start_flaml(folder: Path, seconds: float, seed: int, out: Path, jobs: int) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "benchmarks.mle_flaml",
        str(folder),
        "--time",
        f"{seconds:g}",
        "--seed",
        str(seed),
        "--out",
        str(out),
        "--jobs",
        str(jobs),
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_strop(process: subprocess.Popen[str], started: float, competition: str, seed: int) -> Result:
    stdout, stderr = process.communicate()
    wall = time.monotonic() - started
    try:
        report = json.loads(stdout)
    except json.JSONDecodeError:
        tail = (stderr.strip().splitlines() or ["no output"])[-1]
        return _result("strop", competition, seed, {}, wall, f"exit {process.returncode}: {tail}")
    note = f"{report.get('experiments')} experiments"
    return _result("strop", competition, seed, report, wall, note)


def finish_flaml(
    process: subprocess.Popen[str], started: float, folder: Path, seed: int, out: Path
) -> Result:
    from agent.domains.mle.competition import load_competition
    from agent.domains.mle.grading import grade_submission

    _, stderr = process.communicate()
    wall = time.monotonic() - started
    if process.returncode != 0:
        tail = (stderr.strip().splitlines() or ["no output"])[-1]
        return _result("flaml", folder.name, seed, {}, wall, f"exit {process.returncode}: {tail}")
    report = grade_submission(out / "submission.csv", load_competition(folder)).to_json()
    facts = json.loads((out / "flaml.json").read_text())
    return _result("flaml", folder.name, seed, report, wall, f"time_budget {facts['flaml_time_budget']}s")


def clear_unfinished(work: Path, competition: str, seed: int, sides: list[str]) -> None:
    """Remove what a sitting stopped mid-pair left in the sides' folders, which `strop mle run` refuses."""
    for side in sides:
        out = work / f"{competition}-s{seed}-{side}"
        if out.exists():
            print(f"  {out.name}: left by an unfinished sitting, cleared", flush=True)
            shutil.rmtree(out)


def peer_installed() -> bool:
    """Whether FLAML can be imported (checked before a sitting, not after its first 10 minutes)."""
    return importlib.util.find_spec("flaml") is not None


def run_pair(
    folder: Path, seconds: float, seed: int, work: Path, jobs: int, together: bool, sides: str = "both"
) -> list[Result]:
    """strop and FLAML on one competition and seed: at the same time, or strop first (or one side only)."""
    strop_out, flaml_out = work / f"{folder.name}-s{seed}-strop", work / f"{folder.name}-s{seed}-flaml"
    home = work / "strop-home"
    started = time.monotonic()
    if sides == "flaml":
        return [
            finish_flaml(
                start_flaml(folder, seconds, seed, flaml_out, jobs), started, folder, seed, flaml_out
            )
        ]
    if sides == "strop":
        return [
            finish_strop(
                start_strop(folder, seconds, seed, strop_out, home, jobs), started, folder.name, seed
            )
        ]
    strop = start_strop(folder, seconds, seed, strop_out, home, jobs)
    if not together:
        first = finish_strop(strop, started, folder.name, seed)
        started = time.monotonic()
        flaml = start_flaml(folder, seconds, seed, flaml_out, jobs)
        return [first, finish_flaml(flaml, started, folder, seed, flaml_out)]
    groups = (
        Side.open("strop-suite-strop", weighted=False, with_docker=True),
        Side.open("strop-suite-flaml", weighted=True),
    )
    flaml = start_flaml(folder, seconds, seed, flaml_out, jobs)
    for group, process in zip(groups, (strop, flaml), strict=True):
        if group is not None:
            group.join(process.pid)
    before = [group.cpu_seconds() if group else 0.0 for group in groups]
    results = [
        finish_strop(strop, started, folder.name, seed),
        finish_flaml(flaml, started, folder, seed, flaml_out),
    ]
    return [
        replace(result, cpu_seconds=round(group.cpu_seconds() - start, 1)) if group else result
        for result, group, start in zip(results, groups, before, strict=True)
    ]


def over(result: Result, seconds: float) -> str:
    """A flag for a side that ran past the budget by more than 10% (and 5 s)."""
    return "!" if result.wall_seconds > max(seconds * 1.1, seconds + 5) else " "


def _score(value: float | None) -> str:
    return "invalid" if value is None else f"{value:.5g}"


def print_tables(results: list[Result], seconds: float = math.inf) -> None:
    print(
        f"\n{'competition':<20} {'seed':>4}  {'strop':>10} {'medal':<7} {'wall':>6}  "
        f"{'FLAML':>10} {'medal':<7} {'wall':>6}"
    )
    pairs: dict[tuple[str, int], dict[str, Result]] = {}
    for result in results:
        pairs.setdefault((result.competition, result.seed), {})[result.side] = result
    for (competition, seed), sides in sorted(pairs.items()):
        s, f = sides.get("strop"), sides.get("flaml")
        left = f"{_score(s.score):>10} {s.medal:<7} {s.wall_seconds:>5.0f}s{over(s, seconds)}" if s else "—"
        right = f"{_score(f.score):>10} {f.medal:<7} {f.wall_seconds:>5.0f}s{over(f, seconds)}" if f else "—"
        print(f"{competition:<20} {seed:>4}  {left}  {right}")
    print("\nspread over seeds (mean ± sd of valid scores):")
    for competition in sorted({r.competition for r in results}):
        parts = []
        for side in ("strop", "flaml"):
            scores = [
                r.score
                for r in results
                if r.competition == competition and r.side == side and r.score is not None
            ]
            parts.append(_spread(side, scores))
        print(f"  {competition:<20} " + " · ".join(parts))
    rates = {side: _rates([r for r in results if r.side == side]) for side in ("strop", "flaml")}
    for side, (medals, above, total) in rates.items():
        print(
            f"{side}: any medal {medals}/{total} ({medals / max(total, 1):.0%}), "
            f"above median {above}/{total} ({above / max(total, 1):.0%})"
        )
    (sm, _, st), (fm, _, ft) = rates["strop"], rates["flaml"]
    verdict = "tie" if sm * ft == fm * st else ("strop ahead" if sm * ft > fm * st else "FLAML ahead")
    print(f"any-medal rate: {verdict}   (! = ran more than 10% past the {seconds:g}s budget)")


def _spread(side: str, scores: list[float]) -> str:
    if not scores:
        return f"{side} no valid score"
    if len(scores) == 1:
        return f"{side} {scores[0]:.5g} (n=1, no spread)"
    return f"{side} {statistics.mean(scores):.5g} ± {statistics.stdev(scores):.2g} (n={len(scores)})"


def _rates(results: list[Result]) -> tuple[int, int, int]:
    return sum(r.any_medal for r in results), sum(r.above_median for r in results), len(results)


def head_commit() -> str:
    """The commit strop runs at here, `+dirty` when the working tree differs from it."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=HERE, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=HERE, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def load_results(path: Path | None, commit: str, any_commit: bool) -> list[Result]:
    """The results a previous sitting wrote to `path` (none when it does not exist yet)."""
    if path is None or not path.exists():
        return []
    try:
        results = [Result(**row) for row in json.loads(path.read_text())]
    except (json.JSONDecodeError, TypeError) as error:
        sys.exit(f"mle_suite: {path} is not a results file this script wrote ({error})")
    others = sorted({r.commit for r in results if r.commit != commit})
    if others and not any_commit:
        sys.exit(
            f"mle_suite: {path} holds results from commit(s) {', '.join(others)}, this is {commit}; "
            "use another --json file, or --any-commit to mix them knowingly"
        )
    return results


def save_results(path: Path | None, results: list[Result]) -> None:
    if path is None:
        return
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    temporary.replace(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time", default="10m", help="wall time per run and side, e.g. 10m, 90s")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--first-seed", type=int, default=0, help="seeds run are first-seed … first-seed+seeds-1"
    )
    parser.add_argument("--competitions", default="", help="comma-separated ids; default: all bundled")
    parser.add_argument("--jobs", type=int, default=2, help="cores for each side (strop lanes, FLAML n_jobs)")
    parser.add_argument("--together", action="store_true", help="run strop and FLAML at the same time")
    parser.add_argument(
        "--sides",
        choices=["both", "strop", "flaml"],
        default="both",
        help="run one side only (its table's other half is —)",
    )
    parser.add_argument(
        "--json", type=Path, help="add every result here as it comes; results already here are not run again"
    )
    parser.add_argument(
        "--any-commit", action="store_true", help="let --json hold results from other commits of strop"
    )
    parser.add_argument("--work", type=Path, help="working folder (default: a new temporary one)")
    args = parser.parse_args(argv)
    seconds = parse_time(args.time)
    chosen = [c for c in args.competitions.split(",") if c] or bundled()
    unknown = [c for c in chosen if not (COMPETITIONS / c / "config.yaml").is_file()]
    if unknown:
        sys.exit(f"mle_suite: no bundled competition {', '.join(unknown)} (have: {', '.join(bundled())})")
    commit = head_commit()
    results = load_results(args.json, commit, args.any_commit)
    done = {(r.competition, r.seed, r.side) for r in results}
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    peer_due = args.sides != "strop" and any((c, s, "flaml") not in done for c in chosen for s in seeds)
    if peer_due and not peer_installed():
        sys.exit("mle_suite: FLAML is not installed; pip install -e '.[mle-bench]' (or --sides strop)")
    work = args.work or Path(tempfile.mkdtemp(prefix="strop-mle-suite-"))
    print(
        f"{len(chosen)} competitions × {args.seeds} seeds at {seconds:g}s per side, "
        f"{'together' if args.together else 'one after the other'}; commit {commit}; "
        f"load {os.getloadavg()[0]:.1f}; work {work}"
        + (f"; {len(results)} results already in {args.json}" if results else ""),
        flush=True,
    )
    sides = ("strop", "flaml") if args.sides == "both" else (args.sides,)
    for competition in chosen:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            missing = [side for side in sides if (competition, seed, side) not in done]
            if not missing:
                continue
            which = missing[0] if len(missing) == 1 else "both"
            clear_unfinished(work, competition, seed, missing)
            load = os.getloadavg()[0]
            pair = run_pair(COMPETITIONS / competition, seconds, seed, work, args.jobs, args.together, which)
            pair = [replace(r, commit=commit, load=round(max(load, os.getloadavg()[0]), 1)) for r in pair]
            for r in pair:
                cpu = f"; {r.cpu_seconds:.0f} CPU-s" if r.cpu_seconds is not None else ""
                print(
                    f"  {r.competition} seed {r.seed} {r.side}: {_score(r.score)} {r.medal} "
                    f"({r.wall_seconds:.0f}s; {r.note}; load {r.load}{cpu})",
                    flush=True,
                )
            results.extend(pair)
            save_results(args.json, results)
    wanted = {(c, s) for c in chosen for s in range(args.first_seed, args.first_seed + args.seeds)}
    print_tables([r for r in results if (r.competition, r.seed) in wanted and r.side in sides], seconds)
    print(f"load at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
