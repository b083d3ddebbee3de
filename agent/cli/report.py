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
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="HTML file to write (default: report-RUN.html); an earlier report there is replaced, "
            "any other file is left alone.",
        ),
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
    from agent.report import check_output, gather, write_report
    from agent.run_index import RunIndex

    if no_html and png is None:
        raise UserError("--no-html needs --png DIR: there would be nothing to write")
    if no_html and output is not None:
        raise UserError("--no-html and --output contradict each other: give one of them")
    check_output(None if no_html else output, png)  # before the index is read and the plots drawn
    home = strop_home()
    data = gather(RunIndex(home), ref, home)
    html_path = None if no_html else (output or Path(f"report-{data.run.id}.html"))
    check_output(html_path, None)
    plots = write_report(data, html_path, png)
    if html_path is not None:
        size = html_path.stat().st_size
        out.print(
            f"wrote {html_path} ({size / 1024:.0f} KiB, {plural(len(plots), 'plot')}, "
            f"{plural(len(data.records), 'experiment')})",
            markup=False,
        )
    if png is not None:
        if plots:
            out.print(f"wrote {', '.join(str(png / f'{p.name}.png') for p in plots)}", markup=False)
        else:
            out.print(f"no plots to write in {png}: run {data.run.id} has no experiments", markup=False)
    if data.interrupted or data.best is None:
        out.print(
            f"note: run {data.run.id}: {data.state if data.interrupted else data.failed_note()}", markup=False
        )
