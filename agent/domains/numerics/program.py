"""The genome: a straight-line program over x, as a DAG of operations, and its cost.

Nodes are stored in topological order; node 0 is always the input x and the last node
is the output. An operation's arguments are indices of earlier nodes. Constants live in
`const` nodes (their values are fitted per candidate). The cost is the number of
operations that depend on x and feed the output: an fma counts 1, and sub-expressions
of constants alone are free (a compiler folds them), as in AutoNumerics-Zero.

Evaluation runs the program in the format's arithmetic (its own, or a wider one inside
with one rounding to the format at the end), in its own op order: NumPy's float32/float64
operations round correctly like C's, and `fma` rounds once (see `arithmetic`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy

from agent.domains.numerics.arithmetic import fma

if TYPE_CHECKING:
    from agent.domains.numerics.targets import Format

ARITY: dict[str, int] = {"add": 2, "sub": 2, "mul": 2, "div": 2, "fma": 3, "sqrt": 1}
LEAVES = ("x", "const")


@dataclass(frozen=True)
class Node:
    op: str  # "x", "const" or a key of ARITY
    args: tuple[int, ...] = ()
    value: float = 0.0  # for "const"


@dataclass(frozen=True)
class Program:
    """A straight-line program; `nodes[0]` is x, `nodes[-1]` the output."""

    nodes: tuple[Node, ...]

    @property
    def output(self) -> int:
        return len(self.nodes) - 1

    def live(self) -> list[bool]:
        """Which nodes feed the output."""
        alive = [False] * len(self.nodes)
        alive[self.output] = True
        for index in range(self.output, -1, -1):
            if alive[index]:
                for arg in self.nodes[index].args:
                    alive[arg] = True
        return alive

    def depends_on_x(self) -> list[bool]:
        flags: list[bool] = []
        for node in self.nodes:
            flags.append(node.op == "x" or any(flags[a] for a in node.args))
        return flags

    def cost(self) -> int:
        """Operations that depend on x and feed the output (fma = 1; constant expressions free)."""
        alive, variable = self.live(), self.depends_on_x()
        return sum(
            1 for node, a, v in zip(self.nodes, alive, variable, strict=True) if a and v and node.op in ARITY
        )

    def count(self, op: str) -> int:
        alive = self.live()
        return sum(1 for node, a in zip(self.nodes, alive, strict=True) if a and node.op == op)

    def const_indices(self) -> list[int]:
        return [i for i, node in enumerate(self.nodes) if node.op == "const"]

    def constants(self) -> numpy.ndarray:
        return numpy.array([self.nodes[i].value for i in self.const_indices()], dtype=numpy.float64)

    def with_constants(self, values: numpy.ndarray) -> Program:
        nodes = list(self.nodes)
        for index, value in zip(self.const_indices(), values, strict=True):
            nodes[index] = Node("const", (), float(value))
        return Program(tuple(nodes))

    def rounded(self, dtype: type[numpy.floating]) -> Program:
        """The same program with every constant rounded to the format (what C would store)."""
        with numpy.errstate(over="ignore"):  # a constant past the format is its infinity, as C stores it
            return self.with_constants(self.constants().astype(dtype).astype(numpy.float64))

    def evaluate(self, x: numpy.ndarray, dtype: type[numpy.floating]) -> numpy.ndarray:
        """The program's output at each x, computed in `dtype` arithmetic in node order."""
        xs = numpy.asarray(x).astype(dtype)
        values: list[numpy.ndarray] = []
        with numpy.errstate(all="ignore"):
            for node in self.nodes:
                values.append(_apply(node, values, xs, dtype))
        out = values[-1]
        return numpy.broadcast_to(out, xs.shape).astype(dtype)

    def run(self, x: numpy.ndarray, fmt: Format) -> numpy.ndarray:
        """The program's output in `fmt`: inputs in the format, arithmetic in `fmt.arithmetic`."""
        return self.evaluate(numpy.asarray(x).astype(fmt.dtype), fmt.arithmetic.dtype).astype(fmt.dtype)

    def run_chunked(self, x: numpy.ndarray, fmt: Format, chunk: int = 1 << 16) -> numpy.ndarray:
        """`run` over large inputs, a cache-sized piece at a time."""
        x = numpy.asarray(x)
        out = numpy.empty(x.shape, dtype=fmt.dtype)
        for start in range(0, len(x), chunk):
            out[start : start + chunk] = self.run(x[start : start + chunk], fmt)
        return out

    def prune(self) -> Program:
        """Drop nodes that do not feed the output; x stays node 0."""
        alive = self.live()
        alive[0] = True
        mapping: dict[int, int] = {}
        nodes: list[Node] = []
        for index, node in enumerate(self.nodes):
            if alive[index]:
                mapping[index] = len(nodes)
                nodes.append(Node(node.op, tuple(mapping[a] for a in node.args), node.value))
        return Program(tuple(nodes))

    def merged(self) -> Program:
        """Identical operations on the same operands computed once (x·x spelt twice is one x·x).

        Such twins give bit-identical values (add, mul and an fma's product commute exactly in
        IEEE arithmetic), so merging them changes no output, only the cost a compiler would pay.
        Constants are never merged: each is its own fitted parameter.
        """
        mapping: dict[int, int] = {}
        seen: dict[tuple[str, tuple[int, ...]], int] = {}
        nodes: list[Node] = []
        for index, node in enumerate(self.nodes):
            args = tuple(mapping[a] for a in node.args)
            key = (node.op, _commuted(node.op, args))
            if node.op in ARITY and key in seen and index != self.output:
                mapping[index] = seen[key]
                continue
            mapping[index] = len(nodes)
            if node.op in ARITY:
                seen[key] = len(nodes)
            nodes.append(Node(node.op, args, node.value))
        return self if len(nodes) == len(self.nodes) else Program(tuple(nodes)).prune()

    def is_wellformed(self) -> bool:
        if not self.nodes or self.nodes[0].op != "x":
            return False
        for index, node in enumerate(self.nodes):
            if node.op in LEAVES:
                if node.args or (node.op == "x" and index != 0):
                    return False
            elif node.op not in ARITY or len(node.args) != ARITY[node.op]:
                return False
            if any(a < 0 or a >= index for a in node.args):
                return False
        return True

    def text(self) -> str:
        """A readable listing: one assignment per operation, constants inline."""
        names: list[str] = []
        lines: list[str] = []
        for index, node in enumerate(self.nodes):
            if node.op == "x":
                names.append("x")
            elif node.op == "const":
                names.append(f"{node.value:.9g}")
            else:
                args = ", ".join(names[a] for a in node.args)
                symbol = {"add": "+", "sub": "-", "mul": "*", "div": "/"}.get(node.op)
                if symbol:
                    expression = f"{names[node.args[0]]} {symbol} {names[node.args[1]]}"
                else:
                    expression = f"{node.op}({args})"
                name = f"v{index}"
                lines.append(f"{name} = {expression}")
                names.append(name)
        return "\n".join(lines) + f"\nreturn {names[-1]}"


def _commuted(op: str, args: tuple[int, ...]) -> tuple[int, ...]:
    """Arguments in one order where the operation does not care about it."""
    if op in ("add", "mul"):
        return tuple(sorted(args))
    if op == "fma":
        return (*sorted(args[:2]), args[2])
    return args


def _apply(
    node: Node, values: list[numpy.ndarray], xs: numpy.ndarray, dtype: type[numpy.floating]
) -> numpy.ndarray:
    op, args = node.op, [values[a] for a in node.args]
    if op == "x":
        return xs
    if op == "const":
        return numpy.asarray(dtype(node.value))
    if op == "add":
        return numpy.add(args[0], args[1], dtype=dtype)
    if op == "sub":
        return numpy.subtract(args[0], args[1], dtype=dtype)
    if op == "mul":
        return numpy.multiply(args[0], args[1], dtype=dtype)
    if op == "div":
        return numpy.divide(args[0], args[1], dtype=dtype)
    if op == "sqrt":
        return numpy.sqrt(args[0], dtype=dtype)
    if op == "fma":
        return fma(args[0], args[1], args[2], dtype)
    raise ValueError(f"unknown op {op!r}")


def horner(coefficients: list[float] | numpy.ndarray) -> Program:
    """c0 + x·(c1 + x·(… + x·cn)) with fmas: cost n for degree n (degree 0 is a constant)."""
    coefficients = [float(c) for c in coefficients]
    nodes = [Node("x"), Node("const", (), coefficients[-1])]
    accumulator = 1
    for c in reversed(coefficients[:-1]):
        nodes.append(Node("const", (), c))
        nodes.append(Node("fma", (accumulator, 0, len(nodes) - 1)))
        accumulator = len(nodes) - 1
    return Program(tuple(nodes))


def rational(numerator: list[float] | numpy.ndarray, denominator: list[float] | numpy.ndarray) -> Program:
    """P(x)/Q(x), both by Horner: cost deg P + deg Q + 1."""
    top, bottom = horner(numerator), horner(denominator)
    shift = len(top.nodes)
    nodes = list(top.nodes)
    for node in bottom.nodes[1:]:
        nodes.append(Node(node.op, tuple(0 if a == 0 else a + shift - 1 for a in node.args), node.value))
    nodes.append(Node("div", (len(top.nodes) - 1, len(nodes) - 1)))
    return Program(tuple(nodes))
