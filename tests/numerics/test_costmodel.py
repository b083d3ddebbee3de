"""The cost model's weights come from the measurement script in the repo, not from a hand."""

import json
from pathlib import Path

import pytest

from agent.domains.numerics.costmodel import WEIGHTS_FILE, cost_model, measure, weights_from
from agent.domains.numerics.program import ARITY, Node, Program, horner, rational
from tests.numerics.compiler import needs_cc

ROOT = Path(__file__).resolve().parents[2]


def test_stored_weights_are_the_scripts_output():
    data = json.loads(WEIGHTS_FILE.read_text())
    assert (ROOT / data["script"]).is_file()
    for real in ("float", "double"):
        assert data["weights"][real] == weights_from(data["ns_per_op"][real])  # derived, not typed in
        assert set(data["weights"][real]) == set(ARITY)
        assert data["weights"][real]["fma"] == 1.0


@needs_cc
def test_the_script_measures_division_and_root_dearer_than_fma():
    ns = measure(reps=100)
    for real in ("float", "double"):
        weights = weights_from(ns[real])
        assert weights["div"] > 1.5 and weights["sqrt"] > 1.5  # true of every current CPU
        assert all(value > 0 for value in weights.values())


def test_measured_and_plain_costs_side_by_side():
    measured, ops = cost_model("measured", "float32"), cost_model("ops", "float32")
    division = rational([1.0, 2.0], [1.0, 3.0])  # 2 fma + 1 div
    assert ops.cost(division) == 3 == division.cost()
    assert measured.cost(division) == pytest.approx(2 + measured.weights["div"], abs=1e-3)
    assert measured.cost(horner([1.0, 2.0, 3.0])) == 2.0  # two fmas
    constant_only = Program((Node("x"), Node("const", (), 2.0), Node("sqrt", (1,)), Node("mul", (0, 2))))
    assert measured.cost(constant_only) == measured.weights["mul"]  # constant sub-expressions are free
    with pytest.raises(ValueError, match="unknown cost model"):
        cost_model("cycles", "float32")
