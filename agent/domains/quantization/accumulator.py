"""Integer accumulators that must not overflow: a Z3 proof, or a counterexample channel.

An integer layer computes, per output channel and per group (each group has its
own scale, so its partial sum is rescaled before joining the others), the dot
product Σ qᵢ·xᵢ of integer weights q and N-bit activations x in a P-bit signed
accumulator. The sum is linear in x over a box, so its extremes are exact and
cheap: max = Σ max(qᵢ·lo, qᵢ·hi). That screens every (channel, group); Z3 then
states the verdict formally on the worst ones: ∃x ∈ box. sum > 2^(P−1)−1 ∨
sum < −2^(P−1), over mathematical integers (linear integer arithmetic): the
question is whether the true sum leaves the range, which unbounded integers model
exactly (bit-vectors would model the wrap itself, and Z3 times out multiplying
128 of them). unsat is the proof; sat
gives the input vector that overflows, which is re-checked in plain integers.
`unknown` (a timeout) is never read as a proof: it counts as overflow.

A2Q's data-free bound ‖q‖₁ ≤ (2^(P−1)−1)·2^(signed−N) follows from the same
box: `gene_is_safe` uses it with ‖q‖₁ ≤ g·qmax to clear a gene without weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SOLVER_TIMEOUT_MS = 5000
PROVE_TOP = 4  # worst (channel, group) pairs handed to Z3


@dataclass(frozen=True)
class AccumulatorVerdict:
    safe: bool
    channel: int = -1  # worst (or overflowing) output channel
    group: int = -1
    worst: int = 0  # largest |sum| reachable in that channel/group
    limit: int = 0  # 2^(P-1) - 1
    counterexample: tuple[int, ...] | None = None  # inputs of that group that overflow
    reason: str = ""


def input_range(bits: int, signed: bool) -> tuple[int, int]:
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)


def extremes(q: np.ndarray, group: int, input_bits: int, signed: bool) -> tuple[np.ndarray, np.ndarray]:
    """Exact max and min of each (channel, group) partial sum over all N-bit inputs: (out, groups) each."""
    lo, hi = input_range(input_bits, signed)
    out, width = q.shape
    g = q.reshape(out, width // group, group).astype(np.int64)
    top = np.maximum(g * lo, g * hi).sum(axis=2)
    bottom = np.minimum(g * lo, g * hi).sum(axis=2)
    return top, bottom


def gene_is_safe(group_width: int, qmax: int, input_bits: int, acc_bits: int, signed: bool) -> bool:
    """A2Q's bound with the largest possible ‖q‖₁ = g·qmax: safe for any weights."""
    lo, hi = input_range(input_bits, signed)
    return group_width * qmax * max(abs(lo), abs(hi)) <= 2 ** (acc_bits - 1) - 1


def _z3_overflow(
    rows: list[np.ndarray], input_bits: int, acc_bits: int, signed: bool
) -> tuple[str, list[int] | None, int]:
    """Ask Z3 for inputs making any of `rows` overflow. Returns (result, inputs, row index)."""
    from agent.smt import z3

    lo, hi = input_range(input_bits, signed)
    xs = [z3.Int(f"x{i}") for i in range(len(rows[0]))]
    top, bottom = 2 ** (acc_bits - 1) - 1, -(2 ** (acc_bits - 1))
    sums = [
        z3.Sum([int(c) * x for c, x in zip(row, xs, strict=True) if c != 0] or [z3.IntVal(0)]) for row in rows
    ]
    solver = z3.Solver()
    solver.set("timeout", SOLVER_TIMEOUT_MS)
    solver.add([z3.And(x >= lo, x <= hi) for x in xs])
    solver.add(z3.Or([z3.Or(s > top, s < bottom) for s in sums]))
    result = solver.check()
    if result != z3.sat:
        return str(result), None, -1
    model = solver.model()
    inputs = [model.eval(x, model_completion=True).as_long() for x in xs]
    hit = next(k for k, row in enumerate(rows) if not bottom <= int(np.dot(row, inputs)) <= top)
    return "sat", inputs, hit


def check_layer(
    q: np.ndarray, group: int, input_bits: int, acc_bits: int, signed: bool = False
) -> AccumulatorVerdict:
    """Whether integer weights `q` (out, in) in groups of `group` inputs can overflow the accumulator."""
    top, bottom = extremes(q, group, input_bits, signed)
    limit, low = 2 ** (acc_bits - 1) - 1, -(2 ** (acc_bits - 1))
    excess = np.maximum(top - limit, low - bottom)  # > 0 where that (channel, group) can overflow
    order = np.argsort(-excess, axis=None)[:PROVE_TOP]
    pairs = [np.unravel_index(k, excess.shape) for k in order]
    rows = [q[c, k * group : (k + 1) * group].astype(np.int64) for c, k in pairs]
    result, inputs, hit = _z3_overflow(rows, input_bits, acc_bits, signed)
    c0, k0 = (int(pairs[0][0]), int(pairs[0][1]))
    worst = int(max(top[c0, k0], -bottom[c0, k0]))
    if result == "unsat":
        if excess.max() > 0:  # the screen and the solver disagree: never trust a proof then
            return AccumulatorVerdict(
                False, c0, k0, worst, limit, reason="screen found overflow, solver did not"
            )
        return AccumulatorVerdict(
            True, c0, k0, worst, limit, reason="proven by Z3 (worst channels; others dominated)"
        )
    if result == "sat":
        c, k = int(pairs[hit][0]), int(pairs[hit][1])
        return AccumulatorVerdict(
            False,
            c,
            k,
            int(max(top[c, k], -bottom[c, k])),
            limit,
            tuple(inputs or ()),
            "counterexample from Z3",
        )
    return AccumulatorVerdict(False, c0, k0, worst, limit, reason=f"solver {result}: not proven")
