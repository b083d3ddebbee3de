"""Failing regions: boxes around repeated crashes that contain no success, opened at thresholds."""

from __future__ import annotations

from knowledge.memory.region import Point, Region, failing_regions

OOM = "out of memory"


def _points(*params: dict) -> list[Point]:
    return [Point(f"e{i}", p) for i, p in enumerate(params)]


def test_oom_threshold_opens_upward_only_where_successes_lie_below() -> None:
    crashes = {OOM: _points({"batch": 512, "width": 256}, {"batch": 1024, "width": 128})}
    ok = [{"batch": 64, "width": 64}, {"batch": 128, "width": 256}, {"batch": 256, "width": 128}]
    [region] = failing_regions("t", crashes, ok)
    assert region.numeric == {"batch": (512, None), "width": (128, None)}
    assert region.contains({"batch": 4096, "width": 512}) and region.contains({"batch": 600, "width": 200})
    assert not any(region.contains(p) for p in ok)
    assert not region.contains({"batch": 300, "width": 200})
    assert region.failures == 2 and region.confidence == 0.75
    assert region.describe() == "batch ≥ 512 ∧ width ≥ 128"


def test_no_successes_means_no_extension_and_one_crash_is_not_a_region() -> None:
    crashes = {OOM: _points({"batch": 512}, {"batch": 1024}), "KeyError: 'x'": _points({"batch": 8})}
    [region] = failing_regions("t", crashes, [])
    assert region.numeric == {"batch": (512, 1024)} and region.signature == OOM


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
