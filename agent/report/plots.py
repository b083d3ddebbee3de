"""The report's plots, drawn with matplotlib (Agg) into PNG bytes: one function per plot.

The same bytes are written as files (`strop report --png DIR`) and inlined in the
HTML as data URIs, so a report opens with no network and no JavaScript. Each
function takes the `ReportData` and returns `Plot` or None when it has nothing to
draw (a search has no tree; a run has no front).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

from agent.report.data import ReportData
from evaluators.metric import Direction

STATUS_COLOURS = {
    "ok": "#2e7d32",
    "buggy": "#c62828",
    "timeout": "#ef6c00",
    "stopped": "#1565c0",
    "tampered": "#8e24aa",
    "rejected": "#9e9e9e",
    "pending": "#00838f",
}
DPI = 96
# Text from a run (metric names, baseline and threshold names) is shown as written: a `$` in a
# scorer's metric name must not start matplotlib's mathtext (or LaTeX), which raises on bad input.
LITERAL: dict[str, Any] = {"parse_math": False, "usetex": False}
# A scorer may print 1e308 and a forged or old record may hold inf or NaN: matplotlib's tick and
# margin arithmetic overflows past ~1e307 (an exception, not a plot). Finite values beyond this
# bound are drawn at it; values that are not finite numbers are drawn with the failures.
EDGE = 1e300


@dataclass(frozen=True)
class Plot:
    """One rendered plot: a file stem (`curve` → curve.png), a title, and its PNG bytes."""

    name: str
    title: str
    png: bytes


def _figure(width: float, height: float) -> tuple[Any, Any]:
    """A figure and its axes, without pyplot (no GUI backend, no global state, faster import)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=0.09, right=0.9, bottom=0.14, top=0.95)
    return fig, fig.subplots()


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)  # no bbox "tight": it draws the figure twice
    return buffer.getvalue()


def _literal_legend(ax: Any, **kwargs: Any) -> None:
    """A legend whose entries are shown literally (their labels may carry run-supplied names)."""
    for text in ax.legend(**kwargs).get_texts():
        text.set_parse_math(False)
        text.set_usetex(False)


def drawable(value: float | None) -> float | None:
    """`value` where a plot can put it: clipped to ±EDGE; None for None, NaN and ±inf."""
    if value is None or not math.isfinite(value):
        return None
    return max(-EDGE, min(EDGE, value))


def _whole_numbers(axis: Any) -> None:
    """Experiment numbers on an axis: no 0.25 ticks on a run of three."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def colour(status: str) -> str:
    return STATUS_COLOURS.get(status, "#616161")


def metric_curve(data: ReportData) -> Plot | None:
    """Metric per experiment (failures marked at the bottom) with the best-so-far line.

    With nothing scored the failures are still drawn, on one row, and the plot says so."""
    if not data.records:
        return None
    fig, ax = _figure(8, 3.6)
    points = [(r, drawable(data.value(r))) for r in data.records]
    scored = [(r.id, y) for r, y in points if y is not None]
    failed: dict[str, list[int]] = {}
    for record, y in points:
        if y is None:
            label = "not a finite number" if data.value(record) is not None else record.status.value
            failed.setdefault(label, []).append(record.id)
    low = 0.0
    if scored:
        xs, ys = zip(*scored, strict=True)
        ax.scatter(xs, ys, s=14, color=colour("ok"), label="scored", zorder=3)
        best_x, best_y, current = [], [], None
        for x, y in scored:
            if current is None or data.direction.improvement(y, current) > 0:
                current = y
            best_x.append(x)
            best_y.append(current)
        ax.step(best_x, best_y, where="post", color="#1a237e", linewidth=1.6, label="best so far")
        low = min(ys) - 0.06 * ((max(ys) - min(ys)) or 1.0)  # failures: a row below every score
    else:
        ax.set_yticks([])
        ax.text(0.5, 0.6, "nothing scored", transform=ax.transAxes, ha="center", fontsize=12, color="#616161")
    for label in sorted(failed):
        ids = failed[label]
        ax.scatter(ids, [low] * len(ids), marker="x", s=18, color=colour(label), label=label)
    for name, value in sorted(data.thresholds.items(), key=lambda item: item[1]):
        if (line := drawable(value)) is not None:
            ax.axhline(line, linestyle="--", linewidth=1, color=_medal(name), label=f"{name} threshold")
    if any(abs(v) > EDGE for r in data.records if (v := data.value(r)) is not None and math.isfinite(v)):
        ax.text(0.99, 1.01, f"values beyond ±{EDGE:g} drawn at ±{EDGE:g}", transform=ax.transAxes,
                ha="right", va="bottom", fontsize=7, color="#616161")  # fmt: skip
    ax.set_xlabel("experiment")
    _whole_numbers(ax.xaxis)
    ax.set_ylabel(f"{data.metric} ({data.direction.value})", **LITERAL)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        _literal_legend(ax, fontsize=7, loc="best")
    return Plot("curve", f"{data.metric} per experiment, best so far", _png(fig))


def _medal(name: str) -> str:
    return {"gold": "#c9a227", "silver": "#8d8d8d", "bronze": "#a0522d"}.get(name.lower(), "#455a64")


def tree_layout(data: ReportData) -> dict[int, tuple[float, float]]:
    """A tidy tree: leaves side by side in depth-first order, parents above their children's middle."""
    ids = {r.id for r in data.records}
    children: dict[int | None, list[int]] = {}
    for record in data.records:
        parent = record.parent if record.parent in ids else None
        children.setdefault(parent, []).append(record.id)
    position: dict[int, tuple[float, float]] = {}
    next_leaf = 0.0

    def place(node: int, depth: int) -> float:
        nonlocal next_leaf
        kids = children.get(node, [])
        if not kids:
            x = next_leaf
            next_leaf += 1
        else:
            xs = [place(kid, depth + 1) for kid in kids]
            x = (xs[0] + xs[-1]) / 2
        position[node] = (x, -depth)
        return x

    import sys

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * len(ids) + 100))
    for root in children.get(None, []):
        place(root, 0)
    return position


def experiment_tree(data: ReportData) -> Plot | None:
    """Every experiment as a node under its parent, coloured by status; the best ringed."""
    if not data.records or data.is_search:
        return None
    position = tree_layout(data)
    width = min(16.0, max(6.0, 0.12 * len(position)))
    fig, ax = _figure(width, 4)
    segments = [
        (position[r.parent], position[r.id])
        for r in data.records
        if r.parent is not None and r.parent in position
    ]
    if segments:
        from matplotlib.collections import LineCollection

        ax.add_collection(LineCollection(segments, colors="#b0bec5", linewidths=0.8, zorder=1))
    for status in sorted({r.status.value for r in data.records}):
        group = [r for r in data.records if r.status.value == status]
        ax.scatter(
            [position[r.id][0] for r in group],
            [position[r.id][1] for r in group],
            s=30,
            color=colour(status),
            label=f"{status} ({len(group)})",
            zorder=2,
        )
    if data.best is not None:
        x, y = position[data.best.id]
        ax.scatter([x], [y], s=160, facecolors="none", edgecolors="#fbc02d", linewidths=2, zorder=3)
        ax.annotate(
            f"best: {data.best.id}", (x, y), textcoords="offset points", xytext=(6, 6), fontsize=8, **LITERAL
        )
    if len(position) <= 40:
        for node, (x, y) in position.items():
            ax.annotate(
                str(node), (x, y), textcoords="offset points", xytext=(0, -11), fontsize=6, ha="center"
            )
    ax.set_ylabel("depth")
    ax.set_yticks(sorted({int(y) for _, y in position.values()}))
    ax.set_yticklabels([str(-int(y)) for y in sorted({int(y) for _, y in position.values()})])
    ax.set_xticks([])
    _literal_legend(ax, fontsize=7, loc="lower right", ncols=min(4, len({r.status for r in data.records})))
    ax.autoscale()
    ax.margins(0.03, 0.12)
    return Plot("tree", "the experiment tree, coloured by status", _png(fig))


def budget(data: ReportData) -> Plot | None:
    """Where the budget went: evaluation seconds per experiment; LLM turns and cumulative cost below."""
    if not data.records:
        return None
    ids = [r.id for r in data.records]
    turns = [r.turns for r in data.records]
    usd = [drawable(r.cost.usd) or 0.0 for r in data.records]
    # an offline proposer's experiments take one turn each and call no model: no LLM panel for them
    llm = any(r.cost.calls for r in data.records) or any(usd) or any(t > 1 for t in turns)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.6 if llm else 3))
    fig.subplots_adjust(left=0.09, right=0.9, bottom=0.1, top=0.95, hspace=0.35)
    axes = fig.subplots(2 if llm else 1, 1, sharex=True, squeeze=False)[:, 0]
    # one LineCollection instead of a Rectangle per bar: hundreds of experiments stay cheap to draw
    axes[0].vlines(
        ids,
        0,
        [drawable(r.eval_seconds) or 0.0 for r in data.records],
        colors=[colour(r.status.value) for r in data.records],
        linewidth=max(1.0, min(6.0, 400 / max(1, len(ids)))),
    )
    axes[0].set_ylabel("evaluation s")
    axes[0].grid(alpha=0.3, axis="y")
    if llm:
        used = [(i, t) for i, t in zip(ids, turns, strict=True) if t]
        if used:
            axes[1].scatter(*zip(*used, strict=True), s=10, color="#6a1b9a", label="LLM turns")
        axes[1].set_ylabel("LLM turns")
        twin = axes[1].twinx()
        running = [sum(usd[: i + 1]) for i in range(len(usd))]
        twin.plot(ids, running, color="#00695c", linewidth=1.4)
        twin.set_ylabel("cumulative USD", color="#00695c")
        axes[1].grid(alpha=0.3)
    axes[-1].set_xlabel("experiment")
    _whole_numbers(axes[-1].xaxis)
    return Plot("budget", "budget: evaluation time per experiment (by status), LLM turns, cost", _png(fig))


def pareto_front(data: ReportData) -> Plot | None:
    """A search's points: primary metric against its cost axis, the baselines drawn beside them."""
    axis = data.cost_axis()
    if not data.is_search or axis is None:
        return None
    fig, ax = _figure(7, 4)
    points = sorted(
        (x, y)
        for x, y in (_pair(r.metrics, axis, data.metric) for r in data.records)
        if x is not None and y is not None
    )
    if points:
        xs, ys = zip(*points, strict=True)
        ax.scatter(xs, ys, s=12, color="#9fa8da", label="points found (in order of discovery)")
        front = non_dominated(points, data.direction)
        fx, fy = zip(*front, strict=True)
        ax.plot(
            fx, fy, marker="o", color="#1a237e", linewidth=1.4, label="strop front", drawstyle="steps-post"
        )
    shown = [
        (baseline.name, x, y)
        for baseline in data.baselines
        for x, y in [_pair(baseline.metrics, axis, data.metric)]
        if x is not None and y is not None
    ]
    for name, x, y in shown:
        ax.scatter(x, y, marker="s", s=28, color="#ef6c00")
        ax.annotate(
            name,
            (x, y),
            textcoords="offset points",
            xytext=(4, 3),
            fontsize=7,
            **LITERAL,
        )
    if shown:
        ax.scatter([], [], marker="s", color="#ef6c00", label="baselines")
    values = [y for _, y in points] + [y for _, _, y in shown]
    if values and min(values) > 0 and max(values) / min(values) > 100:
        ax.set_yscale("log")
    ax.set_xlabel(axis, **LITERAL)
    ax.set_ylabel(f"{data.metric} ({data.direction.value})", **LITERAL)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        _literal_legend(ax, fontsize=7)
    else:
        ax.text(0.5, 0.5, "no point has both metrics", transform=ax.transAxes, ha="center", color="#616161")
    return Plot(
        "pareto", f"Pareto front: {data.metric} against {axis}{_beside(data, axis, len(shown))}", _png(fig)
    )


def _beside(data: ReportData, axis: str, shown: int) -> str:
    """What the front is drawn beside, as the plot shows it: a title that promised baselines the
    plot lacked (a search run by hand kept none) misled the reader."""
    if shown:
        return f", with {shown} baseline{'s' if shown != 1 else ''}"
    if data.baselines:
        return f" (no baseline has both {data.metric} and {axis})"
    return " (no baselines recorded for this search)"


def _pair(metrics: dict[str, float], x: str, y: str) -> tuple[float | None, float | None]:
    return drawable(metrics.get(x)), drawable(metrics.get(y))


def non_dominated(points: list[tuple[float, float]], direction: Direction) -> list[tuple[float, float]]:
    """The points no other point beats on both axes (cost lower, metric better), by rising cost."""
    front: list[tuple[float, float]] = []
    for cost, value in sorted(points, key=lambda p: (p[0], -direction.improvement(p[1], 0.0))):
        if not front or direction.improvement(value, front[-1][1]) > 0:
            front.append((cost, value))
    return front


def all_plots(data: ReportData) -> list[Plot]:
    """Every plot this report has, in reading order."""
    makers = (metric_curve, pareto_front, experiment_tree, budget)
    return [plot for plot in (make(data) for make in makers) if plot is not None]


__all__ = ["Plot", "all_plots", "budget", "experiment_tree", "metric_curve", "pareto_front"]
