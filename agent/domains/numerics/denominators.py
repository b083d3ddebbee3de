"""Z3 proof, before evaluation, that a program never divides by zero (nor takes the square
root of a negative) on the interval.

The program is encoded over the reals (nonlinear real arithmetic): x ∈ [lo, hi], each
node an exact expression of its arguments with the constants as exact rationals; a
quotient q = n/d is a fresh real with q·d = n (d ≠ 0 is known once proven), a root r a
fresh real with r ≥ 0 and r² = a. For each denominator we assert d = 0: `sat` gives a
counterexample x and the candidate is rejected; `unsat` proves it safe; `unknown` (the
solver's resource limit, `rlimit`, which is deterministic unlike its soft timeout) is
*not* a proof, and the candidate is evaluated as usual (and counted as unproven).

`rlimit` does not bound the time of every check: nonlinear real arithmetic can spend
minutes in steps that do not count against it (measured: one check of an evolved float64
program ran > 55 s at `rlimit` 400 000, and the engine waited on it past `--time`). So a
search runs its checks through `BoundedProver`: each in a killable child process, ended
after `seconds` or at the search's deadline, whichever comes first; a check cut that way
is `timeout`, which is not a proof either (the candidate is evaluated as usual).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction

from agent.deadline import Deadline
from agent.domains.numerics.program import Program
from agent.killable import CallFailed, CallTimedOut, KillableCall

CHECK_SECONDS = 2.0  # a check is ~10 ms; one that needs 200× that is not worth the search's time


@dataclass(frozen=True)
class DenominatorVerdict:
    status: str  # "safe", "vanishes", "negative_sqrt", "unknown", "timeout" or "none" (no x-dependent division/root)
    node: int | None = None
    x: float | None = None
    seconds: float = 0.0


def check_program(program: Program, lo: float, hi: float, rlimit: int = 400_000) -> DenominatorVerdict:
    variable = program.depends_on_x()
    alive = program.live()
    risky = [
        i
        for i, node in enumerate(program.nodes)
        if alive[i]
        and node.op in ("div", "sqrt")
        and variable[node.args[-1] if node.op == "div" else node.args[0]]
    ]
    if not risky:
        return DenominatorVerdict("none")
    from agent.smt import z3

    started = time.perf_counter()
    x = z3.Real("x")
    facts: list[z3.BoolRef] = [x >= z3.RealVal(Fraction(lo)), x <= z3.RealVal(Fraction(hi))]
    terms: list[z3.ArithRef] = []
    unknown_seen = False
    for index, node in enumerate(program.nodes):
        if not alive[index]:
            terms.append(z3.RealVal(0))
            continue
        args = [terms[a] for a in node.args]
        if node.op == "x":
            terms.append(x)
        elif node.op == "const":
            terms.append(z3.RealVal(Fraction(node.value)))
        elif node.op == "add":
            terms.append(args[0] + args[1])
        elif node.op == "sub":
            terms.append(args[0] - args[1])
        elif node.op == "mul":
            terms.append(args[0] * args[1])
        elif node.op == "fma":
            terms.append(args[0] * args[1] + args[2])
        elif node.op in ("div", "sqrt"):
            watched = args[1] if node.op == "div" else args[0]
            if index in risky:
                solver = z3.Solver()
                solver.set("rlimit", rlimit)
                solver.add(*facts)
                solver.add(watched == 0 if node.op == "div" else watched < 0)
                answer = solver.check()
                if answer == z3.sat:
                    value = solver.model().eval(x, model_completion=True)
                    status = "vanishes" if node.op == "div" else "negative_sqrt"
                    return DenominatorVerdict(status, index, _as_float(value), time.perf_counter() - started)
                if answer == z3.unknown:
                    unknown_seen = True
            fresh = z3.Real(f"v{index}")
            if node.op == "div":
                facts += [watched != 0, fresh * watched == args[0]]
            else:
                facts += [watched >= 0, fresh >= 0, fresh * fresh == watched]
            terms.append(fresh)
        else:  # pragma: no cover
            raise ValueError(node.op)
    return DenominatorVerdict("unknown" if unknown_seen else "safe", seconds=time.perf_counter() - started)


@dataclass
class BoundedProver:
    """`check_program` with a hard time limit: in a killable child, ended after `seconds` or at `deadline`."""

    seconds: float = CHECK_SECONDS
    deadline: Deadline = field(default_factory=Deadline)

    def __post_init__(self) -> None:
        self._call = KillableCall(check_program)

    def __call__(self, program: Program, lo: float, hi: float, rlimit: int) -> DenominatorVerdict:
        started = time.perf_counter()
        try:
            return self._call.call(program, lo, hi, rlimit, timeout=self.deadline.clamp(self.seconds))
        except CallTimedOut:
            return DenominatorVerdict("timeout", seconds=time.perf_counter() - started)
        except CallFailed:  # Z3 raised or its process died: no proof either way
            return DenominatorVerdict("unknown", seconds=time.perf_counter() - started)

    @property
    def kills(self) -> int:
        """Checks that were cut (their child process killed)."""
        return self._call.kills

    def close(self) -> None:
        self._call.close()


def _as_float(value: object) -> float:
    from agent.smt import z3

    if z3.is_rational_value(value):
        return float(Fraction(value.as_fraction()))  # type: ignore[attr-defined]
    if z3.is_algebraic_value(value):
        return float(Fraction(value.approx(20).as_fraction()))  # type: ignore[attr-defined]
    return float("nan")
