"""Reports: one self-contained HTML file (plots inlined as PNG) and the same plots as PNG files.

    gather(index, ref, home) -> ReportData      what a report shows, read from the index and git
    render_html(data, plots) -> str             the page (Jinja2, autoescaped, no network, no JS)
    write_report(data, html_path, png_dir)      both, in one call; returns the plots written
    check_output(html_path, png_dir)            before any drawing: a place that cannot be written is
                                                one clear `UserError`, and a file that is not a report
                                                is never overwritten

Every value a page prints goes through `agent.report.text.visible` (Jinja's `finalize`):
escaped by Jinja, and its control, bidi and zero-width characters shown as escapes.

The plots come from matplotlib (`agent.report.plots`); the web UI reuses them.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from agent.confirmation import summary_lines
from agent.errors import UserError
from agent.records import measured_text, now_iso
from agent.report.data import DIFF_LIMIT, Baseline, ReportData, find_run, gather
from agent.report.plots import STATUS_COLOURS, Plot, all_plots
from agent.report.text import visible
from evaluators.metric import compared

GENERATOR = "strop report"  # in every report's <meta name="generator">: what may be overwritten
MARKERS = (  # exact tags in the head of a page strop wrote: only such a file is written over
    f'<meta name="generator" content="{GENERATOR}">'.encode(),
    b"<title>strop nightly summary</title>",  # `strop nightly summary --html` (no generator tag yet)
)

__all__ = [
    "Baseline",
    "Plot",
    "ReportData",
    "check_output",
    "diff_lines",
    "find_run",
    "gather",
    "render_html",
    "write_html",
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
        finalize=visible,
    )


def render_html(data: ReportData, plots: list[Plot]) -> str:
    """The report page; every value is escaped (ideas and diffs come from candidates and LLMs)."""
    template = _environment().get_template("report.html")
    tokens, usd = data.total_cost()
    baseline = data.baseline
    return template.render(
        run=data.run,
        state=data.state,
        interrupted=data.interrupted,
        failed_note=data.failed_note(),
        generator=GENERATOR,
        records=data.records,
        best=data.best,
        counts=data.status_counts(),
        baseline_value=data.value(baseline) if baseline and not data.is_search else None,
        improvement=improvement_words(data),
        tokens=tokens,
        usd=usd,
        plots=[{"name": p.name, "title": p.title, "data": base64.b64encode(p.png).decode()} for p in plots],
        decisions=[(r.id, text) for r in data.records for text in r.decisions],
        confirmation=summary_lines(data.records, data.best, data.metric, data.direction),
        best_text=measured_text(data.best, data.metric) if data.best is not None else "",
        verdict=data.summary is not None,
        facts=data.facts(),
        adopt_note=data.adopt_note(),
        selection_note=data.selection_note(),
        diff=data.diff,
        diff_lines=diff_lines(data.diff),
        diff_truncated=data.diff_truncated,
        diff_limit=DIFF_LIMIT,
        search=data.is_search,
        colours=STATUS_COLOURS,
        value=lambda r: "—" if data.value(r) is None else f"{data.value(r):.6g}",
        written=now_iso(),
    )


def improvement_words(data: ReportData) -> str | None:
    """How much the best experiment gains, in words: over experiment 0 for a run; for a search, over
    its strongest baseline at no more cost (its experiment 0 is only the first point it found), said
    to rest on the score the search ranked its points by. A search that kept its own verdict is
    headlined by that verdict instead (`ReportData.facts`): None here."""
    if not data.is_search:
        gain = data.improvement()
        return None if gain is None else compared(gain, "experiment 0")
    if data.summary is not None:
        return None
    strongest = data.strongest_baseline()
    if strongest is None or data.best is None:
        return None
    baseline, gain = strongest
    axis = data.cost_axis()
    cost = None if axis is None else data.best.metrics.get(axis)
    at = (
        f" at {axis} ≤ {cost:g}" if axis is not None and cost is not None and axis in baseline.metrics else ""
    )
    return (
        compared(gain, f"{baseline.name}, the strongest baseline{at}")
        + "; on the scores the search ranked its points by, not its own verdict"
    )


def write_report(data: ReportData, html_path: Path | None, png_dir: Path | None = None) -> list[Plot]:
    """Draw the plots once; write the HTML file and/or one PNG per plot.

    A place that cannot be written is a `UserError` naming it (call `check_output` first to
    find out before the plots are drawn).
    """
    plots = all_plots(data)
    if png_dir is not None:
        try:
            png_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UserError(f"--png {png_dir}: cannot make this folder: {_why(error)}") from None
        for plot in plots:
            _write(png_dir / f"{plot.name}.png", plot.png, "--png")
    if html_path is not None:
        _write(html_path, render_html(data, plots).encode("utf-8"), "--output")
    return plots


def check_output(html_path: Path | None, png_dir: Path | None = None, option: str = "--output") -> None:
    """Refuse, before anything is drawn, what `write_report` could not write or must not overwrite.

    `option` names the flag in the words (`strop nightly summary --html` checks its file here too:
    it wrote over any file, the jobs file included)."""
    if html_path is not None:
        if str(html_path) in ("", "."):
            raise UserError(f"{option} needs a file name, e.g. {option} report.html")
        if html_path.is_dir():
            raise UserError(
                f"{option} {html_path} is a folder: name a file in it, e.g. {html_path / 'report.html'}"
            )
        if html_path.exists() and not _is_report(html_path):
            raise UserError(
                f"{option} {html_path} exists and is not a strop report: choose another path, "
                "or delete it first (strop writes over its own pages only)"
            )
        _check_folder(html_path.parent, f"{option} {html_path}")
    if png_dir is not None:
        if png_dir.exists() and not png_dir.is_dir():
            raise UserError(f"--png {png_dir} is a file, not a folder")
        _check_folder(png_dir if png_dir.exists() else png_dir.parent, f"--png {png_dir}")


def _check_folder(folder: Path, what: str) -> None:
    """The nearest existing folder on the way must be a folder we may write in."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(f"{what}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"{what}: cannot write in {probe} (permission denied)")


def _is_report(path: Path) -> bool:
    """A file strop wrote: it opens as strop's pages open and carries a marker only strop writes.

    The marker is a whole tag, not words: a user's page that merely mentions "strop report"
    (how-to notes, a wiki export) was taken for a report and written over."""
    try:
        with path.open("rb") as file:
            head = file.read(2048)
    except OSError:
        return False
    return head.startswith(b"<!doctype html>") and any(marker in head for marker in MARKERS)


def write_html(path: Path, text: str, option: str) -> None:
    """An HTML page checked by `check_output` first: one line naming `option` when it cannot be written."""
    _write(path, text.encode("utf-8"), option)


def _write(path: Path, content: bytes, option: str) -> None:
    """One file, rendered whole in memory first, then put in place whole (a temporary file beside
    it, renamed over it): a browser reloading the page, or a write cut by a full disk, never finds
    half a report, and the last one stays until the new one is complete. A failure is one line
    naming the option."""
    target = path.resolve() if path.is_symlink() else path  # a link to the report stays a link
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(content)
        os.replace(temporary, target)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise UserError(f"{option} {path}: cannot write it: {_why(error)}") from None


def _why(error: OSError) -> str:
    return error.strerror or str(error)
