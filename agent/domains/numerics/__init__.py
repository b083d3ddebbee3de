"""Numeric approximation discovery (AutoNumerics-Zero style): straight-line programs over x
that approximate one of the functions in `targets` (exp, log, erf, sin, tanh, …) on an
interval in float32 or float64.

Where things are: `program` (the genome and its cost), `operators` (variation),
`fitting` (LP minimax and CMA-ES constants), `measure` and `targets` (ULPs against
extended-precision truth), `points` (search grid and verification set), `denominators`
(Z3 check), `skeletons` (seeds and Taylor/Padé baselines), `codegen` (C and NumPy),
`domain` (the engine's Domain) and `discovery` (one run end to end: `discover(Request)`).
"""

from agent.domains.numerics.discovery import discover
from agent.domains.numerics.domain import NumericsDomain
from agent.domains.numerics.report import BaselineEntry, FrontEntry, Report
from agent.domains.numerics.request import Request

__all__ = ["BaselineEntry", "FrontEntry", "NumericsDomain", "Report", "Request", "discover"]
