"""Benchmark: numeric discovery on six targets, against the strongest baselines, honestly labelled.

For each target and format it runs `strop evolve numerics` (the same `discover`) and prints
the strongest baseline at each cost (its Pareto front), the best *novel* point if any
(strictly better than every baseline at the same or lower cost; seeds and
baseline-equivalents never count), its margin and origin, and for float32 the speed of the
fastest exhaustively verified program under 1 ULP beside glibc's function, NumPy's and the
best baseline polynomial's loop (ties within 5% are called ties).

Cost: float64 ("over the reals") uses the plain operation count, the measure of the
AutoNumerics-Zero claim (precision at equal operation count); float32 uses the measured
operation weights (its claim is speed). Both costs are in the JSON.

Labels follow the issue's baselines. For float64 a second margin is printed: over the
baselines *and* the textbook extensions that are not baselines (odd rationals x·P(x²)/Q(x²) for
erf and sin, one or two squarings of polynomials and symmetric rationals for exp and exp2, the
polynomial and rational families in √x for log and log2; their errors
on the 4096-point search grid, the front's verified, so the check leans against the front). A
novel point that loses there is a known form the baselines lack, not a discovery.

Goals (issue 14), each within 10 minutes per target on 2 cores: over float64 a novel point on
≥ 3 of 6 targets; over float32 an exhaustively verified < 1 ULP program faster than both
glibc and the best baseline polynomial on ≥ 3 of 6.

`float32-in-float64` is float32 in and out with double arithmetic inside (`--arithmetic
float64`), as glibc's own float functions compute: < 1 ULP becomes reachable on every target.
Its best baseline polynomial is the faster of the double-inside one and the cheapest polynomial
under 1 ULP in plain float32 arithmetic (timed in the same run), and "glibc" is the faster of
its scalar function and libmvec; the verdict against the scalar function alone (the < 1 ULP
one the issue names) is printed beside it.

    nice -n 10 .venv/bin/python -m benchmarks.numerics_suite                  # full: 10 min each
    nice -n 10 .venv/bin/python -m benchmarks.numerics_suite --time 240 --formats float64
    nice -n 10 .venv/bin/python -m benchmarks.numerics_suite --formats float32-in-float64
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
import warnings
from pathlib import Path

from agent.domains.numerics.discovery import discover
from agent.domains.numerics.report import SPEED_TIE, Report
from agent.domains.numerics.request import Request

HALF_PI = 1.5707963705062866  # float32(π/2), also a float64 number
TARGETS = [
    ("exp2", 0.0, 1.0),
    ("exp", -1.0, 1.0),
    ("log2", 1.0, 2.0),
    ("log", 1.0, 2.0),
    ("erf", 0.0, 2.0),
    ("sin", 0.0, HALF_PI),
]
COST_MODEL = {"float64": "ops", "float32": "measured", "float32-in-float64": "measured"}
INSIDE = "-in-"  # "float32-in-float64": float32 in and out, float64 arithmetic inside


def _format(text: str) -> tuple[str, str | None]:
    """'float32', 'float64' or 'float32-in-float64' → (dtype, arithmetic inside or None)."""
    if text not in COST_MODEL:
        raise SystemExit(f"--formats takes {', '.join(COST_MODEL)}; not {text!r}")
    dtype, _, inside = text.partition(INSIDE)
    return dtype, inside or None


def _baseline_front(report: Report) -> list[tuple[float, str, float]]:
    """(cost, name, error) of the baselines no cheaper-or-equal baseline beats."""
    rows = sorted(((b.cost, report.error(b), b.name) for b in report.baselines), key=lambda r: (r[0], r[1]))
    front, best = [], math.inf
    for cost, error, name in rows:
        if error < best:
            front.append((cost, name, error))
            best = error
    return front


def _summary(report: Report) -> dict[str, object]:
    novel = max(report.novel, key=lambda e: e.margin or 0.0, default=None)
    headline = report.headline()
    faster = bool(
        headline
        and headline.get("glibc", {}).get("verdict") == "faster"  # type: ignore[union-attr]
        and headline.get("baseline", {}).get("verdict") == "faster"  # type: ignore[union-attr]
    )
    scalar = _scalar_glibc(report, headline)
    return {
        "fn": report.fn,
        "interval": [report.lo, report.hi],
        "dtype": report.dtype,
        "format": report.format.label,
        "scalar_glibc": scalar,
        "faster_than_scalar_glibc_and_baseline_poly": bool(
            headline
            and scalar
            and scalar["verdict"] == "faster"
            and headline.get("baseline", {}).get("verdict") == "faster"  # type: ignore[union-attr]
        ),
        "cost_model": report.cost_model,
        "metric": report.metric,
        "baseline_front": _baseline_front(report),
        "front": [
            {
                "cost": e.cost,
                "ops": e.ops,
                "error": report.error(e),
                "origin": e.origin,
                "baseline": e.baseline,
                "margin": e.margin,
                "textbook": e.textbook,
                "textbook_margin": e.textbook_margin,
                "program": e.program,
            }
            for e in report.front
        ],  # fmt: skip
        "novel_count": len(report.novel),
        "novel_beyond_textbook": len(report.novel_beyond_textbook),
        "best_novel": None
        if novel is None
        else {
            "cost": novel.cost,
            "error": report.error(novel),
            "margin": novel.margin,
            "baseline": novel.baseline,
            "origin": novel.origin,
            "textbook": novel.textbook,
            "textbook_margin": novel.textbook_margin,
            "program": novel.program,
        },  # fmt: skip
        "headline": headline,
        "faster_than_glibc_and_baseline_poly": faster,
        "evaluated": report.stats.evaluated,
        "wall_time": report.stats.wall_time,
        "structure_cache_hit_rate": report.cache.hit_rate,
        "duplicate_rate": report.duplicate_rate,
        "verification": f"{report.verification} on {report.verification_points} inputs",
        "verification_seconds": report.verification_seconds,
        "notes": report.notes,
    }


def _scalar_glibc(report: Report, headline: dict | None) -> dict | None:
    """glibc's scalar float function (expf, log2f, ...: < 1 ULP, what the issue names) against the
    fastest front program; the headline's "glibc" is the faster of it and libmvec (up to 4 ULP)."""
    if not headline:
        return None
    scalar = [s for s in report.speed if s.kind == "glibc" and "libmvec" not in s.name]
    if not scalar:
        return None
    ratio = scalar[0].ns / float(headline["ns"])  # type: ignore[arg-type]
    verdict = "faster" if ratio > 1 + SPEED_TIE else "slower" if ratio < 1 / (1 + SPEED_TIE) else "tie"
    return {"name": scalar[0].name, "ns": scalar[0].ns, "ratio": ratio, "verdict": verdict}


def _textbook(entry: dict) -> str:
    """The margin over the baselines and the textbook extensions together (float64 only)."""
    if entry.get("textbook_margin") is None:
        return ""
    return f"; with textbook forms: {entry['textbook_margin']:.3g}× vs {entry['textbook']}"


def _print(summary: dict, seconds: float) -> None:
    unit = "ULP" if summary["metric"] == "max_ulp" else "rel"
    print(f"\n== {summary['fn']} on {summary['interval']} {summary['format']} ({summary['cost_model']} cost), "
          f"{seconds:.0f}s, {summary['evaluated']} evaluated, verified {summary['verification']}")  # fmt: skip
    print("  strongest baseline per cost: " + "; ".join(
        f"{c:g}: {n} {e:.3g}" for c, n, e in summary["baseline_front"]))  # fmt: skip
    for entry in summary["front"]:
        margin = f"{entry['margin']:.3g}×" if entry["margin"] is not None else "-"
        print(f"    front cost {entry['cost']:g} ({entry['ops']} ops): {entry['error']:.4g} {unit}  "
              f"{entry['origin']:<19} vs {entry['baseline'] or '-'} margin {margin}{_textbook(entry)}")  # fmt: skip
    novel = summary["best_novel"]
    if novel:
        print(f"  best novel: cost {novel['cost']:g}, {novel['error']:.4g} {unit}, {novel['margin']:.3g}× better "
              f"than {novel['baseline']} (origin {novel['origin']}){_textbook(novel)}")  # fmt: skip
    else:
        print("  best novel: none (no front point beats every baseline at ≤ its cost)")
    headline = summary["headline"]
    if headline:
        parts = [
            f"fastest < 1 ULP: {headline['program']} {headline['ns']:.3f} ns/value ({headline['origin']})"
        ]
        for kind in ("glibc", "baseline", "numpy"):
            other = headline.get(kind)
            if other:
                parts.append(
                    f"{other['name']} {other['ns']:.3f} ns → {other['verdict']} ({other['ratio']:.2f}×)"
                )
        if "baseline" not in headline:
            parts.append("no baseline polynomial (up to cost 16) verified under 1 ULP")
        print("  speed: " + "; ".join(parts))
    elif summary["dtype"] == "float32" and not summary["verification"].startswith("exhaustive"):
        print("  speed: not measured: the front was not verified exhaustively (it did not fit the time)")
    elif summary["dtype"] == "float32":
        print("  speed: no front program verified under 1 ULP")
    for note in summary["notes"]:
        print(f"  note: {note}")
    print(f"  structure cache hit rate {summary['structure_cache_hit_rate']:.0%}, "
          f"behavioural duplicates {summary['duplicate_rate']:.0%} of evaluated")  # fmt: skip


def main() -> None:
    warnings.filterwarnings("ignore")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--time", type=float, default=600.0, help="seconds per target and format")
    parser.add_argument(
        "--formats",
        default="float64,float32",
        help="comma-separated: float64, float32, float32-in-float64 (float32 in and out, double inside)",
    )
    parser.add_argument("--targets", default=",".join(t[0] for t in TARGETS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--max-cost", type=int, default=10)
    parser.add_argument(
        "--inside-max-cost", type=int, default=12,
        help="max cost for float32-in-float64 (log2 on [1, 2] needs a degree-10 polynomial under 1 ULP)",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, default=None, help="also write the summaries here")
    args = parser.parse_args()
    chosen = set(args.targets.split(","))
    summaries = []
    print(f"numerics suite: {args.time:g}s per target and format, seed {args.seed}, {args.workers} workers, "
          f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
    formats = args.formats.split(",")
    for name in formats:
        dtype, inside = _format(name)
        for fn, lo, hi in TARGETS:
            if fn not in chosen:
                continue
            started = time.monotonic()
            request = Request(fn, lo, hi, dtype, time_budget=args.time, seed=args.seed, workers=args.workers,
                              max_cost=args.inside_max_cost if inside else args.max_cost,
                              cost_model=COST_MODEL[name], arithmetic=inside)  # fmt: skip
            summary = _summary(discover(request))
            seconds = time.monotonic() - started
            summary["seconds"] = seconds
            summary["load"] = os.getloadavg()[0]
            _print(summary, seconds)
            summaries.append(summary)
            if args.json:
                args.json.write_text(json.dumps(summaries, indent=1, default=str))
    print("\n== goals")
    for name in formats:
        dtype, inside = _format(name)
        rows = [s for s in summaries if s["format"] == (f"{dtype} ({inside} inside)" if inside else dtype)]
        if dtype == "float64":
            hits = [s["fn"] for s in rows if s["novel_count"]]
            print(f"  float64: a novel point on {len(hits)} of {len(rows)} targets {hits} (goal ≥ 3 of 6)")
            beyond = [s["fn"] for s in rows if s["novel_beyond_textbook"]]
            print(f"  float64: of those, a novel point that also beats the textbook extensions (odd rationals, "
                  f"squarings, √x) on {len(beyond)}: {beyond}")  # fmt: skip
        else:
            hits = [s["fn"] for s in rows if s["faster_than_glibc_and_baseline_poly"]]
            novel_hits = [s["fn"] for s in rows if s["faster_than_glibc_and_baseline_poly"]
                          and s["headline"]["origin"] in ("novel", "evolved")]  # fmt: skip
            print(f"  {rows[0]['format'] if rows else name}: a verified < 1 ULP program faster than glibc (scalar "
                  f"and libmvec) and the best baseline polynomial on {len(hits)} of {len(rows)} targets {hits} "
                  f"(goal ≥ 3 of 6); of those, found by evolution (not a seed or baseline-equivalent): "
                  f"{novel_hits}")  # fmt: skip
            scalar = [s["fn"] for s in rows if s["faster_than_scalar_glibc_and_baseline_poly"]]
            print(f"    against glibc's scalar function alone (exp2f, expf, ...; < 1 ULP; libmvec is up to 4 ULP): "
                  f"{len(scalar)} of {len(rows)} {scalar}")  # fmt: skip


if __name__ == "__main__":
    main()
