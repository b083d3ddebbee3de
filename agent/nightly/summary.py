"""The morning summary: per job, the last night: what improved and by how much, what to adopt,
what failed and why, what it cost. As text, as JSON, and as one HTML page with each run's curve.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.cli.render import printable
from agent.nightly.history import History, NightRecord
from agent.nightly.runner import found_so_far, removed_runs
from agent.report.text import visible


@dataclass(frozen=True)
class JobMorning:
    job: str
    night: NightRecord
    removed: bool = False  # its run was removed (`strop rm`): nothing to adopt, `strop adopt` says "no run"

    @property
    def adopt(self) -> str:
        """The command that brings the night's best into the user's branch; "" when there is nothing
        to bring: experiment 0 of a night with no warm start is the workspace as it is."""
        n = self.night
        if not n.run or n.best is None or n.kind != "run" or self.unimproved or self.removed:
            return ""
        return f"strop adopt {n.run}/{n.best}"

    @property
    def unimproved(self) -> bool:
        """Whether the best is experiment 0 started from the user's own workspace (no warm start)."""
        n = self.night
        return n.kind == "run" and n.best == 0 and n.base is None

    @property
    def change(self) -> str:
        n = self.night
        if n.best_metric is None:
            return "nothing scored"
        value = f"{n.metric} = {n.best_metric:.6g}"
        if n.task_changed:
            return f"{value} (task changed since the last night: not compared)"
        if n.metric_changed:
            return f"{value} (metric changed from {n.previous_of}: no comparison)"
        if n.gain is None:
            return f"{value} (first night)"
        since = "an earlier run of this night" if n.previous_night == n.night else "the previous night"
        if n.gain == 0:
            return f"{value}, unchanged since {since}"
        verb = "improved" if n.gain > 0 else "worse"  # the verb says which way: "by" says how much
        return f"{value}, {verb} by {abs(n.gain):.6g} since {since} ({n.previous_metric:.6g})"

    def status_words(self, nightly_alive: bool) -> str:
        """The night's status as the summary says it: a night still `running` when no nightly runs
        (`lock.nightly_running`) was interrupted or killed, and the next nightly resumes it."""
        n = self.night
        status = n.status
        if status == "running" and not nightly_alive:
            status = "interrupted (the next `strop nightly run` resumes it)"
        return status + (" (resumed)" if n.resumed else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.night.to_dict(),
            "gain": self.night.gain,
            "adopt": self.adopt,
            "change": self.change,
            "removed": self.removed,
        }


def morning(home: Path) -> list[JobMorning]:
    """The latest night of every job in the history, by job name; a night still `running` (under
    way, or killed) with what its run has found so far (`runner.found_so_far`)."""
    history = History(home)
    jobs = sorted({r.job for r in history.records})
    lasts = [(job, night) for job in jobs if (night := history.last(job)) is not None]
    gone = removed_runs(home, [night.run for _, night in lasts if night.run])
    return [JobMorning(job, found_so_far(night, home), night.run in gone) for job, night in lasts]


def as_text(items: list[JobMorning], nightly_alive: bool = True) -> str:
    """`nightly_alive`: whether a nightly runs now (`lock.nightly_running`); a night still `running`
    without one was interrupted or killed, and said so with what continues it (it read "running")."""
    if not items:
        return "no nights yet: see `strop nightly run --help`"
    lines = []
    for item in items:
        n = item.night
        lines.append(f"{item.job} ({n.kind}) · night {n.night} · {item.status_words(nightly_alive)}")
        lines.append(f"  {item.change}")
        if n.start_note:
            lines.append(f"  {n.start_note}")
        if item.removed:
            lines.append(f"  removed: its run {n.run} was removed (`strop rm`); nothing to adopt")
        elif item.adopt:
            lines.append(f"  adopt: {item.adopt}   (branch {n.branch})")
        elif item.unimproved:
            lines.append("  nothing to adopt: no experiment beat experiment 0, the workspace as it is")
        if n.error:
            lines.append(f"  failed: {n.error}")
        if n.note:
            lines.append(f"  {n.note}")
        lines.append(f"  cost: ${n.cost_usd:.4f}, {n.tokens} tokens, {n.experiments} experiments")
    # reasons, notes and metric names come from evaluators and candidates: hidden characters are
    # shown as escapes (`visible`, as on every page), and no control character reaches the terminal
    return "\n".join(printable(visible(line), one_line=True) for line in lines)


def as_html(items: list[JobMorning], home: Path, nightly_alive: bool = True) -> str:
    """One page: the summary table, then each run's metric curve (plots inlined: opens offline)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    from agent.report import gather
    from agent.report.plots import metric_curve
    from agent.run_index import RunIndex

    curves = {}
    index = RunIndex(home)
    for item in items:
        if item.night.run:
            try:
                plot = metric_curve(gather(index, item.night.run, home))
            except Exception:  # a lost run must not cost the whole summary
                plot = None
            if plot is not None:
                curves[item.job] = base64.b64encode(plot.png).decode()
    env = Environment(
        loader=PackageLoader("agent.nightly", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        finalize=visible,  # as the UI's pages: bidi overrides and zero-width characters shown as escapes
    )
    return env.get_template("summary.html").render(items=items, curves=curves, nightly_alive=nightly_alive)
