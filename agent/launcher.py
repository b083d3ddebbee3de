"""The `strop` console script: the command line, imported under a Ctrl-C guard.

`agent.cli` imports typer, rich and every command group before `agent.cli.main` can
catch anything, so a Ctrl-C in that first fraction of a second printed a page of
import-machinery traceback. This module imports nothing of strop at its top, so the
guard is in place from the first line that can be interrupted.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Import the command line and run it; a Ctrl-C before it is ready is one line and 130."""
    in_utf8_mode()
    try:
        from agent.cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    run()


def in_utf8_mode() -> None:
    """Run again in Python's UTF-8 mode when the locale's encoding is not UTF-8.

    strop writes and reads its own files (prompts, lessons, records), prints `·`, `…` and `★`,
    and names files after workspaces; under en_US.ISO-8859-1 (or C with the UTF-8 mode off)
    a lesson holding an en dash killed every run after the first at experiment 1, and `strop
    run` lost its summary table at the end. One switch here makes every read, write and
    print UTF-8, the way strop's files were written; `PYTHONUTF8` carries it to strop's own
    worker processes. A no-op (no exec) in a UTF-8 locale, as almost everywhere.
    """
    import locale
    import os

    if sys.flags.utf8_mode:
        return
    encoding = locale.getpreferredencoding(False).lower().replace("-", "").replace("_", "")
    if encoding == "utf8":
        return
    os.environ["PYTHONUTF8"] = "1"
    os.execv(sys.executable, [sys.executable, "-X", "utf8", *sys.orig_argv[1:]])
