"""The [space]: sampling, conditionals, moves in the unit cube, and carrying a point into files."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from agent.space import Space, SpaceError
from agent.task import ParamSpec, ProposerSpec


def space() -> Space:
    return Space(
        {
            "k": ParamSpec(type="int", low=1, high=9, when="mode == 'b'"),
            "mode": ParamSpec(type="choice", choices=["a", "b"]),
            "lr": ParamSpec(type="float", low=1e-4, high=1.0, log=True),
            "flag": ParamSpec(type="bool"),
        }
    )


def legal(space: Space, point: dict) -> bool:
    for param in space:
        active = space.is_active(param.name, point)
        if active != (param.name in point):
            return False
        if active and param.coerce(point[param.name]) != point[param.name]:
            return False
    return True


def test_order_puts_conditions_first() -> None:
    assert space().names.index("mode") < space().names.index("k")


def test_samples_mutations_and_crossovers_are_legal() -> None:
    s, rng = space(), random.Random(3)
    points = [s.sample(rng) for _ in range(200)]
    assert all(legal(s, p) for p in points)
    assert {p["mode"] for p in points} == {"a", "b"}
    assert any("k" in p for p in points) and any("k" not in p for p in points)
    lrs = [p["lr"] for p in points]
    assert sum(lr < 0.01 for lr in lrs) > 60  # log scale: half the mass below 0.01
    for a, b in zip(points, points[1:], strict=False):
        assert legal(s, s.mutate(a, rng))
        assert legal(s, s.crossover(a, b, rng))


def test_mutation_moves_and_stays_near() -> None:
    s, rng = space(), random.Random(1)
    start = {"mode": "a", "lr": 0.01, "flag": False}
    moved = [s.mutate(start, rng, sigma=0.05) for _ in range(50)]
    assert all(s.key(m) != s.key(start) for m in moved)
    fresh = [s.sample(rng) for _ in range(50)]
    assert sum(s.distance(start, m) for m in moved) < 0.8 * sum(s.distance(start, f) for f in fresh)


SEEDED_MOVES = """
import random
from agent.space import Space, SpaceError
from agent.task import ParamSpec
space = Space({name: ParamSpec(type="float", low=0.0, high=1.0) for name in "abcdefgh"})
point = {name: 0.5 for name in "abcdefgh"}
print([space.mutate(point, random.Random(i), sigma=0.2) for i in range(20)])
"""


def test_seeded_mutations_do_not_depend_on_the_hash_seed() -> None:
    """Each process hashes strings with its own seed: a resumed or repeated run must still move alike."""
    printed = set()
    for hash_seed in ("1", "2", "3", "4"):
        done = subprocess.run(
            [sys.executable, "-c", SEEDED_MOVES],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            check=True,
        )
        printed.add(done.stdout)
    assert len(printed) == 1


def test_params_file_round_trip_keeps_foreign_keys(tmp_path: Path) -> None:
    s = space()
    (tmp_path / "params.json").write_text(json.dumps({"lr": 0.5, "mode": "a", "seed": 7}))
    proposer = ProposerSpec()
    assert s.read(tmp_path, proposer) == {"mode": "a", "lr": 0.5, "flag": False}
    files = s.materialise({"mode": "b", "k": 4, "lr": 0.001, "flag": True}, tmp_path, proposer)
    written = json.loads(files["params.json"])
    assert written == {"seed": 7, "mode": "b", "k": 4, "lr": 0.001, "flag": True}


def test_marked_lines_are_substituted(tmp_path: Path) -> None:
    s = space()
    (tmp_path / "model.py").write_text(
        "LR = 0.1  # strop: lr\nMODE = 'a'  # strop: mode\nFLAG = False  # strop: flag\nOTHER = 3\n"
    )
    (tmp_path / "cfg.js").write_text("const flag = false;  // strop: flag\n")
    proposer = ProposerSpec(params_file="", marked=["model.py", "cfg.js"])
    assert s.read(tmp_path, proposer) == {"mode": "a", "lr": 0.1, "flag": False}
    files = s.materialise({"mode": "b", "k": 2, "lr": 0.25, "flag": True}, tmp_path, proposer)
    assert (
        files["model.py"]
        == "LR = 0.25  # strop: lr\nMODE = 'b'  # strop: mode\nFLAG = True  # strop: flag\nOTHER = 3\n"
    )
    assert files["cfg.js"] == "const flag = true;  // strop: flag\n"


def divided() -> Space:
    return Space(
        {
            "y": ParamSpec(type="int", low=0, high=2),
            "x": ParamSpec(type="int", low=0, high=1, when="1 / y > 0.4"),
        }
    )


def test_a_when_that_divides_by_zero_is_false_not_a_crash() -> None:
    """`strop run` stopped with "internal error: ZeroDivisionError" at the first sample with y = 0."""
    s, rng = divided(), random.Random(0)
    assert s.complete({"y": 0, "x": 1}) == {"y": 0}
    assert s.complete({"y": 2, "x": 1}) == {"y": 2, "x": 1}
    points = [s.sample(rng) for _ in range(60)]
    assert {"y": 0} in points and all(("x" in p) == (p["y"] != 0) for p in points)


@pytest.mark.parametrize(
    ("choices", "when", "message"),
    [
        (["a", 2], "y > 1", "no ordering"),  # TypeError at the first point with y = "a"
        (["a", "b"], "y < 'b'", "no ordering"),  # alphabetical in Python, an index in Z3
        (["a", "b"], "y + 1 == 2", "y is a choice with strings"),
    ],
)
def test_a_when_python_and_z3_would_read_apart_is_refused_up_front(
    choices: list, when: str, message: str
) -> None:
    with pytest.raises(SpaceError, match=rf"\[space\] x: when: .*{message}"):
        Space(
            {
                "y": ParamSpec(type="choice", choices=choices),
                "x": ParamSpec(type="int", low=0, high=1, when=when),
            }
        )


def test_a_params_file_value_of_the_wrong_type_leaves_a_when_false() -> None:
    """check_files reads the params file as written: `"y": "abc"` must not crash `when = "y > 1"`."""
    s = Space(
        {"y": ParamSpec(type="int", low=0, high=5), "x": ParamSpec(type="int", low=0, high=1, when="y > 1")}
    )
    assert not s.is_active("x", {"y": "abc"})
