"""The `strop` command line: parses, prints and calls; nothing else.

Each command group lives in its own module. Heavy libraries (torch, chromadb,
langgraph, docker) are imported inside commands, never here, so that `--help`
and the read commands start fast.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys

import typer

from agent.errors import StropError, disk_full

app = typer.Typer(
    name="strop",
    help=(
        "strop improves a runnable artifact toward a measurable objective, on its own.\n\n"
        "Every attempt is a git branch strop/<run>/<exp> with its metrics in git notes; "
        "scores come only from your evaluator's output, run in a sandbox.\n\n"
        "Start with:  strop init WORKSPACE  (writes its task.toml), then  strop run WORKSPACE  and  "
        "strop log.  A bundled example, in strop's source tree:  strop run benchmarks/tasks/digits-gbm"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

# Command groups register themselves on import; keep one line per module here.
from agent.cli import audit as _audit  # noqa: E402,F401
from agent.cli import evolve as _evolve  # noqa: E402,F401
from agent.cli import experiments as _experiments  # noqa: E402,F401
from agent.cli import init as _init  # noqa: E402,F401
from agent.cli import knowledge as _knowledge  # noqa: E402,F401
from agent.cli import mle as _mle  # noqa: E402,F401
from agent.cli import nightly as _nightly  # noqa: E402,F401
from agent.cli import quant as _quant  # noqa: E402,F401
from agent.cli import remove as _remove  # noqa: E402,F401
from agent.cli import report as _report  # noqa: E402,F401
from agent.cli import run as _run  # noqa: E402,F401
from agent.cli import sandbox as _sandbox  # noqa: E402,F401
from agent.cli import ui as _ui  # noqa: E402,F401
from agent.cli.helptext import reflow_help, show_flags_untyped  # noqa: E402

reflow_help(app)
show_flags_untyped()


def main() -> None:
    """Entry point: user errors are one line and exit 2, never a traceback."""
    import warnings

    # the weak-sandbox warning is also logged as a plain line: Python's copy would repeat it
    warnings.filterwarnings("ignore", message="sandbox backend 'local' chosen")
    warnings.filterwarnings("ignore", message="score_sandbox 'local'")
    _tolerant_streams()
    try:
        app()
    except StropError as error:
        from rich.console import Console

        from agent.cli.render import safe

        # the text may quote an endpoint's or a candidate's words: no escape sequence reaches the terminal
        Console(stderr=True).print(f"[bold red]error:[/] {safe(error)}", highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except Exception as error:  # a bug of ours: say so in one line, keep the traceback on demand
        if os.environ.get("STROP_DEBUG"):
            raise
        if disk_full(error):
            sys.stderr.write(
                f"error: a disk strop writes to is full ({type(error).__name__}: {_printable(error)}); "
                "free some space and run the command again\n"
            )
            sys.exit(1)
        if (place := _unwritable(error)) is not None:
            sys.stderr.write(
                f"error: strop cannot write {place}; make it writable (strop keeps its runs under "
                "STROP_HOME, ~/.strop by default: point it at a folder you may write)\n"
            )
            sys.exit(2)
        sys.stderr.write(
            f"internal error: {type(error).__name__}: {_printable(error)} (set STROP_DEBUG=1 for the traceback)\n"
        )
        sys.exit(1)
    finally:
        _quick_exit()


def _printable(error: Exception) -> str:
    from agent.cli.render import printable

    return printable(error)


def _unwritable(error: Exception) -> str | None:
    """What strop could not write, with why, when `error` is that: a read-only or forbidden file
    (EROFS, EACCES), or a home it may not write (SQLite says only "unable to open database file")."""
    if isinstance(error, OSError) and error.errno in (errno.EROFS, errno.EACCES):
        return f"{error.filename or 'a file it needs'}: {error.strerror}"
    from agent.home import strop_home

    try:
        home = strop_home()
    except OSError:
        return None
    return f"{home}: not writable" if home.is_dir() and not os.access(home, os.W_OK) else None


def _tolerant_streams() -> None:
    """Print what the terminal's encoding cannot show as `?`, rather than die on it.

    strop's own output holds `·`, `…`, `★` and `–`; under a locale that is not UTF-8
    (en_US.ISO-8859-1, or C with Python's UTF-8 mode off) `strop run` did all its work,
    then lost its summary table to a UnicodeEncodeError and exited 1. A closed stream is
    None: nothing to set.
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="replace")


def _quick_exit() -> None:
    """Spare the interpreter's last garbage collections: the command is done and its output written.

    A time budget is the wall time the user waits, exit included. Measured on the shared 2-core
    machine (load ~6), `strop run` took 0.8 s from its last line to its exit, 0.1 s after
    `gc.freeze()` (3 s when starved at nice 15). Finalizers registered with atexit
    (temporary folders, multiprocessing) still run; only the cyclic sweeps are skipped.
    """
    import gc

    gc.freeze()
