"""Z3, imported so that a Ctrl-C stays strop's.

By default Z3 installs its own SIGINT handler while a check runs and answers `unknown`
instead of letting Python raise: a Ctrl-C that landed in one of the many short checks of
`strop evolve quant` was swallowed and the command ran on to "done", exit 0 (3 of 4
group SIGINTs at one moment were honoured, none at another). With `ctrl_c` off, the
signal waits for the check to return (every check strop makes has a timeout) and is then
raised, or handled by `agent.loop.interrupts`, like any other.

Import it as `from agent.smt import z3` wherever z3 is used.
"""

from __future__ import annotations

import z3

z3.set_param("ctrl_c", False)

__all__ = ["z3"]
