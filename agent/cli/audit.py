"""`strop audit RUN`: is a run's record whole, and does it say what its evaluations said?

The checks live in `agent.loop.audit` (and its `agent.loop.provenance`); this module prints
them, one line per problem.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from agent.cli import app
from agent.cli.render import err, out, plural, print_json

if TYPE_CHECKING:
    from agent.loop.findings import HiddenTest

IN_PROGRESS = 3
"""Exit status of an audit of a run a strop process is still running: nothing was checked."""

AUDIT_HELP = """Check that a run's record is whole and says what its evaluations said; exit 0 when it
does, 1 with one line per problem (and what to do about it) when not, 3 when a strop process is
still running it (nothing is checked then: audit it when it ends). Read-only.

What is checked, and what to do when it fails:

- the run has ended (`done` or `stopped`), no strop process holds its locks, no lane worktree
or git lock file is left: when its process is gone, `strop resume RUN` finishes it;
- experiment ids run 0..N with none left `pending`: `strop resume RUN` evaluates those (one the
time budget left when the run ended on it is said as a note: `strop resume RUN --time …`);
- the run index says what git says: `strop reindex`;
- `git fsck` finds no error in the experiment repo;
- every branch strop/RUN/N names a commit holding its own note (the record), and each record's
parent is an earlier experiment whose commit its own descends from: a failure means a note was
removed or edited, or a branch moved, after the run (`git reflog BRANCH` shows where it was);
- each scored experiment's evaluation log (in $STROP_HOME/runs/RUN/logs) is there, unchanged
(its sha256 is in the note), and the recorded metrics are those the scorer printed in it (or,
with `metrics_file`, those strop logged it read from the file): a failure means the note or
the log was edited: do not trust that score;
- each record's fields are those of its first version in the notes' history (git keeps each),
changed only as strop changes them (evaluated once, or again after a time-budget cut; the
hidden-test score set once; decisions only added), its idea is its commit's message and its
params are what the commit's params file and marked lines hold; every evaluation log in the
run's folder is one a record names: a failure means a note was edited (`git log -p
refs/notes/strop` shows each version);
- the best the run reports is the best scored experiment by the run's direction;
- the hidden-test score is on the best only, set once, and matches the final phase's log, which
is unchanged (its sha256 is in the note; a record of an older strop holds none: said as a note);
a best of an earlier end, before a resume, keeps its own, and a final phase cut short then run
again keeps both logs: each said as a note. Every reading of the hidden test is listed, one
line each (`hidden test: RUN/N METRIC = VALUE (when its log was written, the log)`; `--json`:
`hidden_tests`), so you see how often the hidden answers were read, and on what: a reading
whose process was killed mid-way (its log is written, and synced, as started before the answers
are copied out) reads `started, never finished: killed?`.

Not checkable from here, and said so: metrics a scorer wrote to `metrics_file` under an older
strop (its logs do not keep them), a search's points (no log), and a one-stage (`command`)
task's scores, which the candidate can forge in the process that prints them. A passing audit
does not prove that the scorer, its private data or strop were not tampered with before the
run, nor that the sandbox held.

Example:  strop audit latest --json"""


@app.command("audit", help=AUDIT_HELP)
def audit_command(
    run_ref: Annotated[
        str | None, typer.Argument(metavar="[RUN]", help="run id or prefix; default: latest")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    from agent.home import strop_home
    from agent.loop.audit import audit
    from agent.run_index import RunIndex

    home = strop_home()
    report = audit(run_ref, home, RunIndex(home))
    if json_out:
        print_json(report.to_dict())
    elif report.in_progress:
        err.print(
            f"run {report.run.id} is in progress ({plural(report.experiments, 'experiment')} so far): nothing "
            f"checked; audit it when it ends (`strop stop {report.run.id}` ends it early)",
            markup=False,
        )
    else:
        for problem in report.problems:
            line = f"problem: {_one_line(problem)}"
            out.print(line + (f"  → {_one_line(problem.hint)}" if problem.hint else ""), markup=False)
        for note in report.unchecked:
            err.print(f"note: {_one_line(note)}", markup=False)
        for reading in report.hidden_tests:
            out.print(_hidden_test_line(reading, report.run.metric), markup=False)
        counts = (
            f"{plural(report.experiments, 'experiment')}, {plural(report.logs_checked, 'evaluation log')} "
            "checked"
        )
        if report.whole:
            out.print(f"run {report.run.id} is whole: {counts}", markup=False)
        else:
            err.print(
                f"run {report.run.id}: {plural(len(report.problems), 'problem')} ({counts})", markup=False
            )
    if report.in_progress:
        raise typer.Exit(IN_PROGRESS)
    if not report.whole:
        raise typer.Exit(1)


def _hidden_test_line(reading: HiddenTest, metric: str) -> str:
    """`hidden test: RUN/N accuracy = 0.93 (2026-12-05T08:40:12Z, N-final.log)`: one reading of it."""
    if not reading.finished:
        scored = "started, never finished: killed? (no score)"
    elif not reading.recorded:
        scored = "read, no score recorded (a final phase cut short)"
    elif reading.value is None:
        scored = f"no score: {reading.why}" if reading.why else "failed, no score"
    else:
        scored = f"{metric} = {reading.value:.6g}"
    when = reading.when or "log not here"
    return _one_line(f"hidden test: {reading.experiment} {scored} ({when}, {reading.log or 'no log'})")


def _one_line(text: str) -> str:
    """Text that may quote a record (an edited note is untrusted) on one printable line."""
    return "".join(ch if ch.isprintable() else " " for ch in str(text))
