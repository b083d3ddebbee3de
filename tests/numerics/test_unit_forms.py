"""libm's form of a polynomial with a zero, t + t·q(t) (x + x³·q(x²) when odd), among the baselines.

Without it a search rediscovered fdlibm's tan kernel and reported it as a discovery: cost 7.7,
0.997 ULP, "novel, 1.55× better than minimax-odd-poly-13" (x·q(x²), 1.54 ULP in float32).
"""

from agent.domains.numerics.baselines import baseline_programs
from agent.domains.numerics.domain import NumericsDomain
from agent.domains.numerics.measure import measure
from agent.domains.numerics.origins import Measured, label
from agent.domains.numerics.program import Node, Program


def _tan_front_program() -> Program:
    """The cost-7.7 program `strop evolve numerics --fn tan --interval -0.7,0.7` found in 45 s."""
    nodes = [Node("x"), Node("mul", (0, 0)), Node("const", (), 0.0115984594), Node("mul", (2, 1))]
    for c in (0.0260857828, 0.0530017167, 0.133435041, 0.333329469, 2.18180141e-08):
        nodes += [Node("const", (), c), Node("fma", (len(nodes) - 1, 1, len(nodes)))]
    nodes.append(Node("fma", (0, len(nodes) - 1, 0)))  # x + x·(x²·q(x²))
    return Program(tuple(nodes))


def test_fdlibm_tan_kernel_is_a_baseline_not_a_discovery():
    domain = NumericsDomain("tan", -0.7, 0.7, "float32", max_cost=8)
    named = dict(baseline_programs(domain))
    assert "minimax-x-plus-odd-poly-13" in named

    def grid_ulp(program: Program) -> float:
        approx = program.run(domain.score.x, domain.format)
        return measure(domain.score.x, approx, domain.score.truth, domain.format).max_ulp

    baselines = [Measured(name, domain.cost(p), grid_ulp(p)) for name, p in named.items()]
    assert grid_ulp(named["minimax-x-plus-odd-poly-13"]) < 1  # x·q(x²) of that cost: 1.4 ULP
    found = _tan_front_program()
    assert domain.cost(found) == domain.cost(named["minimax-x-plus-odd-poly-13"])
    assert label(grid_ulp(found), domain.cost(found), False, baselines).origin != "novel"
