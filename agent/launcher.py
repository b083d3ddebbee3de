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
    try:
        from agent.cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    run()
