"""Variation of programs: random programs, mutations and crossover.

Mutations (one per call, by weight): insert a vertex on an edge or above the output,
remove a vertex (its users take one of its arguments), rewire an argument to another
earlier node, change an operation (arguments adapted to the new arity), and perturb a
constant (multiplicatively, at one of three scales; constants that LP fits are refitted
anyway, the others, e.g. a shift inside a product, move only this way). Crossover grafts
a node of the second parent, with everything it depends on, in place of a node of the
first. Every result is pruned to the nodes that feed the output, and its constant-only
sub-expressions are folded into one constant (they are free in the cost model, so without
folding programs bloat with dead-weight arithmetic that mutation keeps stirring). Two
mutations compose the whole program with a simple map, which no chain of single-edge edits
reaches in one step: `substitute_input` puts u = x·x (or √x, or x·c) in place of x
everywhere (p(x) → p(x²): an even form, which with the output multiplied by x is the odd
x·p(x²); p(√x): log's range reduction log x = 2·log √x), and `wrap_output` squares the
output (p → p², exp's identity e^x = (e^(x/2))²), takes its root, or multiplies it by x (into
the numerator when the output is a quotient, so the fit still sees N/D). The domain fits a
squared or rooted output through its inner program (see `domain.fitted`). New
operands are x itself or the node just before more often than other earlier nodes: without
seeds every useful program is a chain built around x, and a uniform choice mostly wires
constants to constants.
"""

from __future__ import annotations

import numpy

from agent.domains.numerics.program import ARITY, Node, Program

OPS = tuple(ARITY)
_OP_WEIGHTS = numpy.array([0.2, 0.15, 0.2, 0.1, 0.3, 0.05])  # add sub mul div fma sqrt
_OP_WEIGHTS = _OP_WEIGHTS / _OP_WEIGHTS.sum()


def _random_op(rng: numpy.random.Generator) -> str:
    return OPS[int(rng.choice(len(OPS), p=_OP_WEIGHTS))]


def _constant(rng: numpy.random.Generator) -> Node:
    return Node("const", (), float(rng.choice([-1.0, 1.0]) * 10 ** rng.uniform(-2, 1)))


_X_BIAS = 0.35  # of the non-constant operand choices, the share that picks x itself
_LATEST_BIAS = 0.35  # and the share that picks the node just before (chains: Horner, Estrin)


def _earlier(limit: int, rng: numpy.random.Generator) -> int:
    """An earlier node for an operand: x, the latest node, or any, by the biases above."""
    draw = rng.random()
    if limit <= 1 or draw < _X_BIAS:
        return 0
    if draw < _X_BIAS + _LATEST_BIAS:
        return limit - 1
    return int(rng.integers(limit))


def fold_constants(program: Program) -> Program:
    """Replace every constant-only operation by one constant of its (float64) value."""
    from agent.domains.numerics.program import _apply

    variable = program.depends_on_x()
    nodes = list(program.nodes)
    values: list[numpy.ndarray] = []
    changed = False
    with numpy.errstate(all="ignore"):
        for index, node in enumerate(program.nodes):
            value = _apply(node, values, numpy.zeros(1), numpy.float64)
            values.append(value)
            if node.op in ARITY and not variable[index]:
                folded = float(numpy.asarray(value).reshape(-1)[0])
                if numpy.isfinite(folded):
                    nodes[index] = Node("const", (), folded)
                    changed = True
    return Program(tuple(nodes)).prune() if changed else program


def _insert_before(nodes: list[Node], position: int, new: Node) -> list[Node]:
    """Insert `new` at `position`, shifting references to later nodes."""
    shifted = [Node(n.op, tuple(a + 1 if a >= position else a for a in n.args), n.value) for n in nodes]
    return shifted[:position] + [new] + shifted[position:]


def random_program(rng: numpy.random.Generator, operations: int = 0) -> Program:
    """A random DAG over x with 2-7 operations."""
    count = operations or int(rng.integers(2, 8))
    nodes = [Node("x")]
    for _ in range(count):
        op = _random_op(rng)
        args = []
        for _slot in range(ARITY[op]):
            if rng.random() < 0.35:
                nodes.append(_constant(rng))
                args.append(len(nodes) - 1)
            else:
                args.append(_earlier(len(nodes), rng))
        nodes.append(Node(op, tuple(args)))
        if not any(a == len(nodes) - 2 for a in args) and len(nodes) > 2 and rng.random() < 0.7:
            nodes[-1] = Node(op, (len(nodes) - 2, *args[1:]))
    return fold_constants(Program(tuple(nodes)).prune())


def _operand(nodes: list[Node], limit: int, rng: numpy.random.Generator) -> tuple[list[Node], int, int]:
    """An argument for a node placed at `limit`: an existing earlier node or a new constant."""
    if rng.random() < 0.4:
        return _insert_before(nodes, limit, _constant(rng)), limit, limit + 1
    return nodes, _earlier(limit, rng), limit


def insert_vertex(program: Program, rng: numpy.random.Generator) -> Program:
    nodes = list(program.nodes)
    edges = [(v, slot) for v, node in enumerate(nodes) for slot in range(len(node.args))]
    op = _random_op(rng)
    if not edges or rng.random() < 0.25:  # wrap the output
        source, consumer = len(nodes) - 1, None
        position = len(nodes)
    else:
        consumer, slot = edges[int(rng.integers(len(edges)))]
        source, position = nodes[consumer].args[slot], consumer
    args = [source]
    for _ in range(ARITY[op] - 1):
        nodes, operand, position = _operand(nodes, position, rng)
        if consumer is not None and position > consumer:
            consumer = consumer + 1
        args.append(operand)
    order = rng.permutation(len(args))
    new = Node(op, tuple(int(args[i]) for i in order))
    nodes = _insert_before(nodes, position, new)
    if consumer is not None:
        consumer += 1
        old = nodes[consumer]
        arguments = list(old.args)
        arguments[slot] = position
        nodes[consumer] = Node(old.op, tuple(arguments), old.value)
    return Program(tuple(nodes)).prune()


def remove_vertex(program: Program, rng: numpy.random.Generator) -> Program:
    operations = [i for i, node in enumerate(program.nodes) if node.op in ARITY]
    if len(operations) <= 1:
        return program
    victim = operations[int(rng.integers(len(operations)))]
    replacement = program.nodes[victim].args[int(rng.integers(len(program.nodes[victim].args)))]
    nodes = [
        Node(n.op, tuple(replacement if a == victim else a for a in n.args), n.value) for n in program.nodes
    ]
    if victim == program.output:  # the argument becomes the output
        return Program(tuple(nodes[: replacement + 1])).prune()
    return Program(tuple(nodes)).prune()


def rewire(program: Program, rng: numpy.random.Generator) -> Program:
    nodes = list(program.nodes)
    choices = [(v, s) for v, node in enumerate(nodes) for s in range(len(node.args))]
    if not choices:
        return program
    consumer, slot = choices[int(rng.integers(len(choices)))]
    nodes, operand, moved = _operand(nodes, consumer, rng)
    consumer = moved
    old = nodes[consumer]
    arguments = list(old.args)
    arguments[slot] = operand
    nodes[consumer] = Node(old.op, tuple(arguments), old.value)
    return Program(tuple(nodes)).prune()


def change_op(program: Program, rng: numpy.random.Generator) -> Program:
    operations = [i for i, node in enumerate(program.nodes) if node.op in ARITY]
    if not operations:
        return program
    target = operations[int(rng.integers(len(operations)))]
    old = program.nodes[target]
    op = _random_op(rng)
    nodes = list(program.nodes)
    arguments = list(old.args)[: ARITY[op]]
    position = target
    while len(arguments) < ARITY[op]:
        nodes, operand, position = _operand(nodes, position, rng)
        arguments.append(operand)
    nodes[position] = Node(op, tuple(arguments))
    return Program(tuple(nodes)).prune()


def perturb_constant(program: Program, rng: numpy.random.Generator) -> Program:
    indices = program.const_indices()
    if not indices:
        return change_op(program, rng)
    target = indices[int(rng.integers(len(indices)))]
    value = program.nodes[target].value
    scale = float(rng.choice([1e-4, 1e-2, 0.3]))
    if value == 0 or rng.random() < 0.1:
        new = float(rng.choice([0.5, 1.0, 2.0, -1.0, 0.25]))
    else:
        new = value * float(numpy.exp(rng.normal(0, scale)))
    nodes = list(program.nodes)
    nodes[target] = Node("const", (), new)
    return Program(tuple(nodes))


def _factor_edges(program: Program) -> set[tuple[int, int]]:
    """The edges that use x as the output's factor: x·q at the output, or x·P over Q."""
    out = len(program.nodes) - 1
    node = program.nodes[out]
    if node.op == "div":
        out, node = node.args[0], program.nodes[node.args[0]]
    if node.op != "mul":
        return set()
    return {(out, slot) for slot, a in enumerate(node.args) if a == 0}


def substitute_input(program: Program, rng: numpy.random.Generator) -> Program:
    """p(x) → p(u) with u = x·x, √x or x·c.

    With x·x: half the time the output is also multiplied by x (x·p(x²)); and where the
    output already has the factor x (x·q(x), x·P(x)/Q(x)), half the time that factor stays
    and only the rest is substituted (x·q(x²), x·P(x²)/Q(x²): odd forms).
    """
    draw = rng.random()
    if draw < 0.6:
        head = [Node("x"), Node("mul", (0, 0))]
    elif draw < 0.8:
        head = [Node("x"), Node("sqrt", (0,))]
    else:
        head = [Node("x"), _constant(rng), Node("mul", (0, 1))]
    u = len(head) - 1
    keep = _factor_edges(program) if draw < 0.6 and rng.random() < 0.5 else set()
    nodes = list(head)
    for index, node in enumerate(program.nodes[1:], start=1):
        args = tuple(
            (0 if (index, slot) in keep else u) if a == 0 else a + u for slot, a in enumerate(node.args)
        )
        nodes.append(Node(node.op, args, node.value))
    child = Program(tuple(nodes))
    if draw < 0.6 and not keep and rng.random() < 0.5:
        return _times_x(child)
    return child.prune()


def _times_x(program: Program) -> Program:
    """x·p, with x joining the numerator when p is a quotient N/D: (x·N)/D."""
    nodes = list(program.nodes)
    out = nodes[-1]
    if out.op == "div":
        numerator, denominator = out.args
        nodes[-1] = Node("mul", (0, numerator))
        nodes.append(Node("div", (len(nodes) - 1, denominator)))
    else:
        nodes.append(Node("mul", (0, len(nodes) - 1)))
    return Program(tuple(nodes)).prune()


def wrap_output(program: Program, rng: numpy.random.Generator) -> Program:
    """p → p² (most often), √p or x·p."""
    draw = rng.random()
    out = len(program.nodes) - 1
    if draw < 0.6:
        return Program((*program.nodes, Node("mul", (out, out))))
    if draw < 0.75:
        return Program((*program.nodes, Node("sqrt", (out,))))
    return _times_x(program)


MUTATIONS = (insert_vertex, remove_vertex, rewire, change_op, perturb_constant, substitute_input, wrap_output)
_MUTATION_WEIGHTS = numpy.array([0.25, 0.15, 0.2, 0.15, 0.25, 0.08, 0.1])
_MUTATION_WEIGHTS = _MUTATION_WEIGHTS / _MUTATION_WEIGHTS.sum()


def mutate(program: Program, rng: numpy.random.Generator) -> Program:
    operator = MUTATIONS[int(rng.choice(len(MUTATIONS), p=_MUTATION_WEIGHTS))]
    child = operator(program, rng)
    return fold_constants(child) if child.is_wellformed() else program


def crossover(first: Program, second: Program, rng: numpy.random.Generator) -> Program:
    """Replace a node of `first` by a node of `second` with its ancestors."""
    donors = [i for i, node in enumerate(second.nodes) if node.op in ARITY]
    hosts = [i for i, node in enumerate(first.nodes) if node.op in ARITY]
    if not donors or not hosts:
        return first
    donor = donors[int(rng.integers(len(donors)))]
    host = hosts[int(rng.integers(len(hosts)))]
    graft = Program(second.nodes[: donor + 1]).prune()  # donor's ancestors, x first
    nodes = list(first.nodes[:host])
    offset = len(nodes) - 1
    for node in graft.nodes[1:]:
        nodes.append(Node(node.op, tuple(0 if a == 0 else a + offset for a in node.args), node.value))
    new_index = len(nodes) - 1
    shift = new_index - host
    for node in first.nodes[host + 1 :]:
        args = tuple(new_index if a == host else (a + shift if a > host else a) for a in node.args)
        nodes.append(Node(node.op, args, node.value))
    child = Program(tuple(nodes)).prune()
    return child if child.is_wellformed() else first
