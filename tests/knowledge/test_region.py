"""Failing regions: boxes around repeated crashes that contain no success, opened at thresholds."""

from __future__ import annotations

from knowledge.memory.region import Point, Region, Threshold, failing_regions, simplest_threshold

OOM = "out of memory"


def _points(*params: dict) -> list[Point]:
    return [Point(f"e{i}", p) for i, p in enumerate(params)]


def test_a_product_rule_is_learned_from_out_of_memory_crashes() -> None:
    # batch alone or width alone would exclude a success: their product separates
    crashes = {OOM: _points({"batch": 512, "width": 256}, {"batch": 1024, "width": 128})}
    ok = [{"batch": 64, "width": 64}, {"batch": 128, "width": 256}, {"batch": 1024, "width": 32}]
    [region] = failing_regions("t", crashes, ok)
    # midway (geometric) between the nearest success (128 × 256) and the least crash (131072)
    assert region.threshold == Threshold(("batch", "width"), ">=", 65540.0)
    assert region.numeric == {} and region.choices == {} and region.names == {"batch", "width"}
    assert region.contains({"batch": 4096, "width": 512}) and region.contains({"batch": 256, "width": 512})
    assert not any(region.contains(p) for p in ok)
    assert not region.contains({"batch": 300, "width": 200}) and not region.contains({"batch": 4096})
    assert region.failures == 2 and region.confidence == 0.75
    assert region.describe() == "batch × width ≥ 65540"
    assert region.exclusion_rule() == "not (batch * width >= 65540.0)"


def test_an_incidental_parameter_does_not_enter_the_rule() -> None:
    # two out-of-memory crashes at large batch × width, with whatever lr and dropout they had
    crashes = {
        OOM: _points(
            {"batch": 96, "width": 409, "lr": 0.0002, "dropout": 0.0},
            {"batch": 172, "width": 1202, "lr": 0.0076, "dropout": 0.3},
        )
    }
    ok = [
        {"batch": 19, "width": 722, "lr": 0.0004, "dropout": 0.05},
        {"batch": 96, "width": 134, "lr": 0.0049, "dropout": 0.03},
        {"batch": 203, "width": 140, "lr": 0.0066, "dropout": 0.35},
        {"batch": 28, "width": 117, "lr": 0.0019, "dropout": 0.2},
        {"batch": 16, "width": 64, "lr": 0.0003, "dropout": 0.0},
    ]
    [region] = failing_regions("t", crashes, ok)
    assert region.threshold is not None and region.threshold.names == ("batch", "width")
    assert 203 * 140 < region.threshold.value <= 96 * 409
    # the next out-of-memory crash at another lr and dropout is inside
    assert region.contains({"batch": 300, "width": 900, "lr": 0.3, "dropout": 0.5})
    assert not any(region.contains(p) for p in ok)


def test_one_parameter_wins_when_it_explains_the_crashes() -> None:
    # crashes at any width once batch is large: batch × width would hold the success at 64 × 1024
    crashes = {OOM: _points({"batch": 512, "width": 16}, {"batch": 1024, "width": 1024})}
    ok = [{"batch": 64, "width": 1024}, {"batch": 256, "width": 16}]
    [region] = failing_regions("t", crashes, ok)
    assert region.threshold == Threshold(("batch",), ">=", 362.0)  # √(256 × 512)
    assert region.contains({"batch": 400, "width": 8}) and not any(region.contains(p) for p in ok)
    assert simplest_threshold([{"n": 5}, {"n": 6}], [{"n": 9}]) == Threshold(("n",), "<=", 7.348)


def test_a_success_inside_a_candidate_rejects_it() -> None:
    failures = [{"batch": 512, "width": 256}, {"batch": 1024, "width": 128}]
    # batch >= 512 holds a success; batch * width >= 131072 does not
    ok = [{"batch": 600, "width": 16}, {"batch": 8, "width": 256}]
    rule = simplest_threshold(failures, ok)
    assert rule is not None and rule.names == ("batch", "width") and rule.op == ">="
    assert all(rule.holds(f) for f in failures) and not any(rule.holds(s) for s in ok)
    # a success inside every candidate: no monotone rule, the box is the fallback
    inside = [{"batch": 2048, "width": 512}, {"batch": 8, "width": 8}]
    assert simplest_threshold(failures, inside) is None
    [region] = failing_regions("t", {OOM: _points(*failures)}, inside)
    assert region.threshold is None and region.numeric == {"batch": (512, 1024), "width": (128, 256)}
    assert not any(region.contains(p) for p in inside)


def test_threshold_rule_parses_compiles_and_agrees_with_contains() -> None:
    from agent.constraints import Constraints, Rule
    from agent.expression import parse
    from agent.space import Space
    from agent.task import ParamSpec

    region = Region("t", OOM, {}, {}, 2, 0.75, threshold=Threshold(("batch", "width"), ">=", 32768))
    space = Space(
        {
            "batch": ParamSpec(type="int", low=8, high=1024, log=True),
            "width": ParamSpec(type="int", low=16, high=2048, log=True),
        }
    )
    constraints = Constraints(space, [Rule(parse(region.exclusion_rule()), origin="memory")])
    for point in [{"batch": 128, "width": 256}, {"batch": 128, "width": 257}, {"batch": 8, "width": 2048}]:
        assert constraints.check(point).passed is (not region.contains(point)), point


def test_one_crash_is_not_a_region_and_crashes_alone_are_no_region() -> None:
    crashes = {OOM: _points({"batch": 512}, {"batch": 1024}), "KeyError: 'x'": _points({"batch": 8})}
    [region] = failing_regions("t", crashes, [{"batch": 8}])
    assert region.signature == OOM and region.contains({"batch": 700})
    # nothing succeeded yet: every input may fail (a broken scorer), so no region excludes any
    assert failing_regions("t", crashes, []) == []
    everything = {OOM: _points(*({"batch": b} for b in (8, 64, 512, 1024)))}
    assert failing_regions("t", everything, []) == []


def test_crashes_split_around_a_success_between_them() -> None:
    crashes = {OOM: _points({"n": 10}, {"n": 11}, {"n": 50}, {"n": 52})}
    regions = failing_regions("t", crashes, [{"n": 30}, {"n": 1}])
    bounds = sorted(r.numeric["n"] for r in regions)
    assert bounds == [(10, 11), (50, None)]
    assert not any(r.contains({"n": 30}) for r in regions)


def test_choices_keep_the_values_that_crashed_and_missing_params_are_outside() -> None:
    crashes = {
        "segmentation fault": _points({"solver": "lbfgs", "tol": 0.1}, {"solver": "lbfgs", "tol": 0.2})
    }
    [region] = failing_regions("t", crashes, [{"solver": "adam", "tol": 0.15}])
    assert region.choices == {"solver": frozenset({"lbfgs"})}
    assert region.contains({"solver": "lbfgs", "tol": 0.15})
    assert not region.contains({"solver": "adam", "tol": 0.15})
    assert not region.contains({"tol": 0.15})


def test_region_is_plain_data() -> None:
    region = Region("t", "sig", {"x": (1.0, None)}, {"y": frozenset({"a"})}, 2, 0.75, ("e1", "e2"))
    assert region.contains({"x": 5.0, "y": "a"}) and not region.contains({"x": True, "y": "a"})


def test_exclusion_rule_is_true_exactly_outside_the_region() -> None:
    region = Region(
        "t",
        "sig",
        {"batch": (512, None), "lr": (0.01, 0.1), "k": (3, 3)},
        {"act": frozenset({"relu", "tanh"})},
        2,
        0.75,
    )
    rule = region.exclusion_rule()
    assert (
        rule
        == "not (batch >= 512 and k == 3 and lr >= 0.01 and lr <= 0.1 and (act == 'relu' or act == 'tanh'))"
    )
    for point in [
        {"batch": 600, "lr": 0.05, "k": 3, "act": "relu"},
        {"batch": 100, "lr": 0.05, "k": 3, "act": "relu"},
        {"batch": 600, "lr": 0.5, "k": 3, "act": "tanh"},
        {"batch": 600, "lr": 0.05, "k": 3, "act": "gelu"},
    ]:
        assert eval(rule, {}, dict(point)) is (not region.contains(point))  # noqa: S307 — test of a rendered rule
