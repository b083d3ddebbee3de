"""`strop report RUN|SEARCH`: one self-contained HTML file, and the same plots as PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agent.cli import app
from agent.cli.render import out, plural


@app.command("report")
def report_command(
    ref: Annotated[
        str | None,
        typer.Argument(metavar="[RUN|SEARCH]", help="run id or prefix, or a search's name; default: latest"),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="HTML file to write (default: report-RUN.html).")
    ] = None,
    png: Annotated[
        Path | None, typer.Option("--png", help="Also write each plot as DIR/<plot>.png (for CI logs).")
    ] = None,
    no_html: Annotated[bool, typer.Option("--no-html", help="Only the PNG files (with --png).")] = False,
) -> None:
    """Write a report of a run or search: metric curve with best so far, experiment tree, budget,
    the best experiment's diff against experiment 0; for searches the Pareto front and baselines.

    The HTML file holds everything (plots inlined): it opens offline, anywhere.

    Example:  strop report latest -o report.html --png plots/
    """
    from agent.errors import UserError
    from agent.home import strop_home
    from agent.report import gather, write_report
    from agent.run_index import RunIndex

    if no_html and png is None:
        raise UserError("--no-html needs --png DIR: there would be nothing to write")
    home = strop_home()
    data = gather(RunIndex(home), ref, home)
    html_path = None if no_html else (output or Path(f"report-{data.run.id}.html"))
    plots = write_report(data, html_path, png)
    if html_path is not None:
        size = html_path.stat().st_size
        out.print(
            f"wrote {html_path} ({size / 1024:.0f} KiB, {plural(len(plots), 'plot')}, "
            f"{plural(len(data.records), 'experiment')})"
        )
    if png is not None:
        out.print(f"wrote {', '.join(str(png / f'{p.name}.png') for p in plots)}")
