import numpy

from agent.domains.numerics.operators import crossover, mutate, random_program
from agent.domains.numerics.program import Node, Program, horner, rational


def test_cost_counts_x_dependent_ops_with_fma_as_one_and_constants_free():
    assert horner([1, 2, 3, 4]).cost() == 3
    assert rational([1, 2], [1, 3]).cost() == 3
    nodes = (
        Node("x"),
        Node("const", (), 2.0),
        Node("const", (), 3.0),
        Node("mul", (1, 2)),  # constant sub-expression: free
        Node("sqrt", (3,)),  # free
        Node("fma", (0, 4, 1)),  # 1
        Node("mul", (0, 0)),  # dead: not counted
        Node("add", (5, 0)),  # 1
    )
    program = Program(nodes)
    assert program.cost() == 2
    assert program.prune().cost() == 2 and len(program.prune().nodes) == 7
    x = numpy.array([0.5, 2.0])
    assert numpy.allclose(program.evaluate(x, numpy.float64), x * numpy.sqrt(6) + 2 + x)


def test_variation_keeps_programs_wellformed():
    rng = numpy.random.default_rng(3)
    program = horner([1.0, 0.5, 0.25])
    for _ in range(3000):
        child = mutate(program, rng)
        assert child.is_wellformed()
        if rng.random() < 0.3:
            child = crossover(child, random_program(rng), rng)
            assert child.is_wellformed()
        if 0 < child.cost() <= 10:
            program = child
    assert program.text().startswith("v")
