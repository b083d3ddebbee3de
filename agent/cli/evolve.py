"""`strop evolve`: evolutionary searches run by the generic engine, one command per domain.

This module only parses, prints and calls. Other domains add their commands to
`evolve_app` from their own modules (`from agent.cli.evolve import evolve_app`), so it
must stay cheap to import: numpy, scipy, cma and z3 are imported inside commands.
"""

from __future__ import annotations

import typer

from agent.cli import app

evolve_app = typer.Typer(
    name="evolve",
    help=(
        "Evolutionary search with strop's engine (islands, NSGA-II, MAP-Elites archive, "
        "killable parallel evaluation, checkpoints).\n\n"
        "Example:  strop evolve numerics --fn exp2 --interval 0,1 --dtype float32 --time 2m"
    ),
    no_args_is_help=True,
)
app.add_typer(evolve_app, name="evolve")
