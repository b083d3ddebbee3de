"""A small finite space is tried point by point, never a point twice while one is untried, then the run stops.

The defect: a `[space]` of 4 algorithms x a flag (8 points) with a budget of 20 evaluated one
failing point 5 times while two points were never tried, and experiments carried the repair
notes of attempts that were thrown away.
"""

from __future__ import annotations

import json
import random
import re
import textwrap
from pathlib import Path

import pytest

from agent.constraints import Constraints
from agent.home import strop_home
from agent.loop import Overrides, start_run
from agent.loop.audit import audit_run
from agent.proposers.evolve import EvolveOptimizer, Trial
from agent.proposers.untried import Untried, enumerate_space
from agent.run_index import RunIndex
from agent.space import Space
from agent.task import ParamSpec, load_task
from evaluators.metric import Direction
from evaluators.verdict import Status

RUN = textwrap.dedent(
    """
    import json, sys
    p = json.load(open("params.json"))
    if p["algo"] == "bad":
        sys.exit("bad algo")
    cost = {"slow": 100, "mid": 10, "fast": 1}[p["algo"]] + (0.5 if p["flag"] else 0)
    print(json.dumps({"cost": cost}))
    """
)

TASK = """
[task]
name = "eight"
goal = "Minimise cost."

[evaluator]
command = "python evaluate.py"
metric = "cost"
direction = "minimize"
timeout = "20s"
sandbox = "local"
files = ["evaluate.py"]

[budget]
experiments = 20

[proposer]
params_file = "params.json"

[space]
algo = { type = "choice", choices = ["slow", "bad", "mid", "fast"] }
flag = { type = "bool" }
"""


def eight_points_task(root: Path) -> Path:
    """4 algorithms x a flag, one algorithm always failing, a budget of 20 experiments."""
    root.mkdir(parents=True)
    (root / "evaluate.py").write_text(RUN)
    (root / "params.json").write_text(json.dumps({"algo": "slow", "flag": False}))
    (root / "task.toml").write_text(TASK)
    return root / "task.toml"


def key(point: dict) -> str:
    return json.dumps(point, sort_keys=True)


def test_a_space_of_8_points_with_a_budget_of_20_tries_each_once_then_stops(tmp_path: Path) -> None:
    index = RunIndex(strop_home())
    result = start_run(load_task(eight_points_task(tmp_path / "t")), strop_home(), index)
    points = [key(r.params) for r in result.records]
    assert len(points) == 8 and len(set(points)) == 8  # each point once, the failing ones too
    assert sum(r.status is Status.BUGGY for r in result.records) == 2
    assert result.status == "done" and result.stop_reason == "search space exhausted: all 8 points evaluated"
    assert result.best is not None and result.best.params == {"algo": "fast", "flag": False}
    assert audit_run(result.run_id, strop_home(), index, evaluated=8) == []


def test_parallel_lanes_never_take_the_same_last_points(tmp_path: Path) -> None:
    """3 lanes: the last step has fewer untried points than lanes, so it fills fewer lanes."""
    index = RunIndex(strop_home())
    task = load_task(eight_points_task(tmp_path / "t"))
    result = start_run(task, strop_home(), index, Overrides(parallel=3))
    points = [key(r.params) for r in result.records]
    assert len(points) == 8 and len(set(points)) == 8
    assert result.stop_reason == "search space exhausted: all 8 points evaluated"


CODE_DEFAULTS = """
import json, os, sys
p = json.load(open("params.json")) if os.path.exists("params.json") else {}
if p.get("algo") not in ("slow", "bad", "mid", "fast") or "flag" not in p:  # the code's own defaults
    print(json.dumps({"cost": 50}))
    sys.exit()
"""


@pytest.mark.parametrize("written", [None, {"algo": "legacy", "flag": False}, {"algo": "fast"}])
def test_a_workspace_that_writes_no_point_leaves_every_point_to_try(
    tmp_path: Path, written: dict | None
) -> None:
    """Experiment 0 with no params file (the code's own defaults ran), a value outside the space,
    or a parameter missing: it was recorded as the space's default point, which was then never
    tried, and the run still said "all 8 points evaluated"."""
    root = tmp_path / "t"
    task = eight_points_task(root)
    (root / "evaluate.py").write_text(CODE_DEFAULTS + RUN.replace('p = json.load(open("params.json"))', ""))
    if written is None:
        (root / "params.json").unlink()
    else:
        (root / "params.json").write_text(json.dumps(written))
    index = RunIndex(strop_home())
    result = start_run(load_task(task), strop_home(), index)
    baseline, tried = result.records[0], result.records[1:]
    assert baseline.params is None and baseline.metrics == {"cost": 50}
    assert len({key(r.params) for r in tried}) == len(tried) == 8  # every point, once
    assert result.stop_reason == "search space exhausted: all 8 points evaluated"
    assert result.best is not None and result.best.params == {"algo": "fast", "flag": False}


def space() -> Space:
    return Space(
        {
            "algo": ParamSpec(type="choice", choices=["trial", "fast_wrong", "a", "b"]),
            "n": ParamSpec(type="int", low=1, high=2),
        }
    )


def repairs_agree(point: dict, notes: list[str]) -> bool:
    """Every `name old→new` of a repair note is the point's value (one note at most)."""
    repairs = [n for n in notes if n.startswith("repaired")]
    changes = [c for n in repairs for c in re.findall(r"(\w+) (\S+)→(\S+)", n)]
    return len(repairs) <= 1 and all(str(point.get(name)) == new for name, _, new in changes)


def test_the_last_untried_point_is_proposed_and_notes_describe_it() -> None:
    """A failing region excluded: every repair maps `fast_wrong` to `trial`, which was tried."""
    constraints = Constraints(space(), ["algo != 'fast_wrong'"])
    every = enumerate_space(space())
    assert every is not None and len(every) == 8
    untried = {"algo": "b", "n": 2}
    history = [Trial(p, 1.0) for p in every if p != untried and p["algo"] != "fast_wrong"]
    optimizer = EvolveOptimizer(space(), Direction.MAXIMIZE, constraints, seed=0, budget=20)
    for index in range(6):
        for mode in ("sample", "mutate", "model", "crossover"):
            parent = {"algo": "trial", "n": 1}
            suggestion = optimizer.suggest(history, index, mode, parent=parent, partner={"algo": "a", "n": 1})
            assert suggestion.point == untried, (index, mode)
            assert repairs_agree(suggestion.point, suggestion.notes), (index, mode, suggestion.notes)
    assert optimizer.exhausted(history) is None
    assert optimizer.exhausted([*history, Trial(untried, 2.0)]) == (
        "search space exhausted: all 6 points the constraints allow evaluated (2 more excluded)"
    )


def test_a_repair_note_describes_the_point_proposed_not_a_discarded_attempt() -> None:
    """One feasible point untried: attempts repaired onto tried points are thrown away, and their
    notes with them (kept, experiments said `fast_wrong→trial` of a point with algo=b)."""
    constraints = Constraints(space(), ["algo != 'fast_wrong'"])
    feasible = [p for p in enumerate_space(space()) or [] if p["algo"] != "fast_wrong"]
    for untried in feasible:
        history = [Trial(p, 1.0) for p in feasible if p != untried]
        optimizer = EvolveOptimizer(space(), Direction.MAXIMIZE, constraints, seed=0, budget=20)
        for index in range(12):
            suggestion = optimizer.suggest(history, index, "mutate", parent={"algo": "trial", "n": 1})
            assert repairs_agree(suggestion.point, suggestion.notes), (untried, index, suggestion)


def test_pending_points_count_as_tried() -> None:
    every = enumerate_space(space()) or []
    optimizer = EvolveOptimizer(space(), Direction.MAXIMIZE, None, seed=0, budget=20)
    history = [Trial(p, 1.0) for p in every[:6]]
    suggestion = optimizer.suggest(history, 3, "mutate", parent=every[0], pending=[every[6]])
    assert suggestion.point == every[7]
    assert optimizer.untried_left(history, [every[6]], at_most=3) == 1
    assert optimizer.exhausted(history, every[6:]) == "search space exhausted: all 8 points evaluated"


def test_enumeration_respects_when_and_gives_up_on_large_or_continuous_spaces() -> None:
    conditional = Space(
        {
            "model": ParamSpec(type="choice", choices=["ridge", "knn"]),
            "k": ParamSpec(type="int", low=1, high=5, when="model == 'knn'"),
            "weights": ParamSpec(type="bool", when="model == 'knn'"),
        }
    )
    points = enumerate_space(conditional)
    assert points is not None and len(points) == 1 + 5 * 2
    assert {"model": "ridge"} in points and all(set(p) == {"model", "k", "weights"} for p in points[1:])
    assert all(conditional.complete(p) == p for p in points)  # what a proposal looks like
    assert enumerate_space(Space({"x": ParamSpec(type="float", low=0, high=1)})) is None
    assert enumerate_space(Space({"n": ParamSpec(type="int", low=1, high=10_001)})) is None
    big = Space({"a": ParamSpec(type="int", low=1, high=200), "b": ParamSpec(type="int", low=1, high=100)})
    assert enumerate_space(big) is None  # 20,000 points
    assert Untried(big).left(set(), None, at_most=2) is None  # unknown: never exhausted


def test_choices_equal_in_python_but_of_other_types_are_points_of_their_own() -> None:
    """`[0, false, 1, true]` enumerated 2 points (`0 == False`) while sampling drew 4: the run
    said "search space exhausted" with two of them never tried."""
    mixed = Space({"x": ParamSpec(type="choice", choices=[0, False, 1, True, 1.0])})
    points = enumerate_space(mixed)
    assert points is not None and len({mixed.key(p) for p in points}) == len(points) == 5


def test_a_large_space_falls_back_to_sampling_an_untried_point() -> None:
    big = Space({"a": ParamSpec(type="int", low=1, high=200), "b": ParamSpec(type="int", low=1, high=100)})
    tried = {big.key({"a": a, "b": 1}) for a in range(1, 201)}
    point = Untried(big).nearest(tried, {"a": 5, "b": 1}, random.Random(0), None)
    assert point is not None and big.key(point) not in tried


def test_an_experiment_cut_by_the_time_budget_is_evaluated_again_before_the_space_counts_as_exhausted(
    tmp_path: Path,
) -> None:
    """A one-point space: its only point (the baseline) was cut by the time budget. It counts as
    tried, yet `strop resume` evaluates it again first, and only then is the space exhausted."""
    from agent.loop import resume_run

    root = tmp_path / "t"
    root.mkdir()
    (root / "evaluate.py").write_text('import json, time\ntime.sleep(8)\nprint(json.dumps({"cost": 1}))\n')
    (root / "params.json").write_text(json.dumps({"algo": "only"}))
    space_line = (
        'algo = { type = "choice", choices = ["slow", "bad", "mid", "fast"] }\nflag = { type = "bool" }'
    )
    (root / "task.toml").write_text(
        TASK.replace(space_line, 'algo = { type = "choice", choices = ["only"] }')
    )
    home, index = strop_home(), RunIndex(strop_home())
    first = start_run(load_task(root / "task.toml"), home, index, Overrides(time=7.0))
    assert [(r.id, r.status) for r in first.records] == [(0, Status.STOPPED)], first.records
    more = resume_run(first.run_id, home, index, more_time=30.0)
    assert [(r.id, r.status) for r in more.records] == [(0, Status.OK)], more.records
    assert more.stop_reason == "search space exhausted: its one point evaluated"


def test_a_params_file_holding_null_for_a_number_runs_experiment_0_as_it_is(tmp_path: Path) -> None:
    """`{"x": null}` for a float parameter: reading it as a point raised TypeError, an internal error
    before experiment 0 (a NaN, the other unreadable value, was already no point)."""
    root = tmp_path / "t"
    root.mkdir()
    (root / "evaluate.py").write_text(
        "import json\nx = json.load(open('params.json'))['x']\nprint(json.dumps({'cost': 1.0 if x is None else x}))\n"
    )
    (root / "params.json").write_text('{"x": null}')
    (root / "task.toml").write_text(
        TASK.split("[space]")[0].replace("experiments = 20", "experiments = 3")
        + '[space]\nx = { type = "float", low = 0.1, high = 0.9 }\n'
    )
    result = start_run(load_task(root / "task.toml"), strop_home(), RunIndex(strop_home()))
    assert [r.status for r in result.records] == [Status.OK] * 3
    assert result.records[0].params is None and result.records[0].metrics == {"cost": 1.0}
