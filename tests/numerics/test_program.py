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


def test_merging_computes_twins_once_and_changes_no_output():
    nodes = (
        Node("x"),
        Node("mul", (0, 0)),  # x·x
        Node("const", (), 0.25),
        Node("fma", (1, 2, 0)),  # x·x·0.25 + x
        Node("mul", (0, 0)),  # x·x again: the twin
        Node("const", (), 0.25),  # the same value, but its own parameter: kept
        Node("fma", (5, 4, 3)),  # operands in the other order
        Node("mul", (6, 4)),
    )
    program = Program(nodes)
    merged = program.merged()
    assert program.cost() == 5 and merged.cost() == 4
    assert merged.count("mul") == 2 and len(merged.const_indices()) == 2
    x = numpy.linspace(-3, 3, 1001).astype(numpy.float32)
    for dtype in (numpy.float32, numpy.float64):
        assert numpy.array_equal(program.evaluate(x, dtype), merged.evaluate(x, dtype))
    assert horner([1.0, 2.0, 3.0]).merged() == horner([1.0, 2.0, 3.0])


def test_merging_sees_commuted_twins_but_not_a_different_addend():
    nodes = (
        Node("x"),
        Node("const", (), 3.0),
        Node("fma", (0, 1, 0)),  # 3x + x
        Node("fma", (1, 0, 0)),  # x·3 + x: the same
        Node("fma", (0, 1, 2)),  # 3x + (3x + x): not the same
        Node("add", (2, 3)),
        Node("add", (5, 4)),
    )
    merged = Program(nodes).merged()
    assert merged.count("fma") == 2 and Program(nodes).count("fma") == 3


def test_a_constant_past_the_format_rounds_to_its_infinity_without_a_warning():
    """A baseline fitted on [-1e30, 1e30] held a coefficient past float32: rounding it printed a raw
    NumPy RuntimeWarning (program.py, "overflow encountered in cast") to the user's terminal."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rounded = horner([1e39, 2.0]).rounded(numpy.float32)
    assert numpy.isinf(rounded.constants()).any() and 2.0 in rounded.constants()
