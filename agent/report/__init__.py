"""Reports: one self-contained HTML file (plots inlined as PNG) and the same plots as PNG files.

    gather(index, ref, home) -> ReportData      what a report shows, read from the index and git
    render_html(data, plots) -> str             the page (Jinja2, autoescaped, no network, no JS)
    write_report(data, html_path, png_dir)      both, in one call; returns the plots written

The plots come from matplotlib (`agent.report.plots`); the web UI reuses them.
"""

from __future__ import annotations

import base64
from pathlib import Path

from agent.records import now_iso
from agent.report.data import DIFF_LIMIT, Baseline, ReportData, find_run, gather
from agent.report.plots import STATUS_COLOURS, Plot, all_plots
from evaluators.metric import compared

__all__ = [
    "Baseline",
    "Plot",
    "ReportData",
    "diff_lines",
    "find_run",
    "gather",
    "render_html",
    "write_report",
]


def diff_lines(diff: str) -> list[tuple[str, str]]:
    """Each line of a unified diff with its CSS class (add, del, hunk or none)."""
    lines = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            cls = ""
        elif line.startswith("+"):
            cls = "add"
        elif line.startswith("-"):
            cls = "del"
        elif line.startswith("@@"):
            cls = "hunk"
        else:
            cls = ""
        lines.append((cls, line))
    return lines


def _environment():  # type: ignore[no-untyped-def]
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=PackageLoader("agent.report", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
    )


def render_html(data: ReportData, plots: list[Plot]) -> str:
    """The report page; every value is escaped (ideas and diffs come from candidates and LLMs)."""
    template = _environment().get_template("report.html")
    tokens, usd = data.total_cost()
    baseline = data.baseline
    return template.render(
        run=data.run,
        records=data.records,
        best=data.best,
        counts=data.status_counts(),
        baseline_value=data.value(baseline) if baseline else None,
        improvement=None if (gain := data.improvement()) is None else compared(gain, "experiment 0"),
        tokens=tokens,
        usd=usd,
        plots=[{"name": p.name, "title": p.title, "data": base64.b64encode(p.png).decode()} for p in plots],
        decisions=[(r.id, text) for r in data.records for text in r.decisions],
        diff=data.diff,
        diff_lines=diff_lines(data.diff),
        diff_truncated=data.diff_truncated,
        diff_limit=DIFF_LIMIT,
        search=data.is_search,
        colours=STATUS_COLOURS,
        value=lambda r: "—" if data.value(r) is None else f"{data.value(r):.6g}",
        written=now_iso(),
    )


def write_report(data: ReportData, html_path: Path | None, png_dir: Path | None = None) -> list[Plot]:
    """Draw the plots once; write the HTML file and/or one PNG per plot."""
    plots = all_plots(data)
    if png_dir is not None:
        png_dir.mkdir(parents=True, exist_ok=True)
        for plot in plots:
            (png_dir / f"{plot.name}.png").write_bytes(plot.png)
    if html_path is not None:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        html_path.write_text(render_html(data, plots), encoding="utf-8")
    return plots
