"""A two-stage task built to be attacked, on each strong backend, and the real CLI to attack it with.

The task: classify items whose labels are random bits. Nothing a candidate can learn
from the public data predicts them, so an honest candidate scores exactly
`HONEST` (it predicts the training majority) and a score near 1.0 means the candidate
read the private labels or forged the metric. A hostile candidate is a change of the
workspace's `train.py` (a real workspace change, run through `strop eval` or
`strop run`); each test asserts the verdict is `buggy`/`tampered`/`timeout`/`rejected`
or an honest score, and that nothing happened outside the sandbox.
"""

from __future__ import annotations

import json
import random
import secrets
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.sandbox.support import ALL, STRONG, require_backend

N = 40
HONEST_TRAIN = """
import json, os
from pathlib import Path

data = json.loads((Path(os.environ["STROP_PUBLIC"]) / "data.json").read_text())
ones = sum(y for _, y in data["train"])
majority = int(ones * 2 > len(data["train"]))
predictions = {split: [majority] * len(data[split]) for split in ("validation", "test")}
(Path(os.environ["STROP_OUTPUTS"]) / "predictions.json").write_text(json.dumps(predictions))
print("trained")
"""

SCORER = """
import json, os, sys
from pathlib import Path

truth = json.loads((Path(os.environ["STROP_PRIVATE"]) / "labels.json").read_text())
try:
    guessed = json.loads((Path(os.environ["STROP_OUTPUTS"]) / "predictions.json").read_text())[truth["split"]]
except Exception as error:
    print(f"invalid predictions: {type(error).__name__}", file=sys.stderr)
    sys.exit(1)
labels = truth["labels"]
if not isinstance(guessed, list) or len(guessed) != len(labels) or any(g not in (0, 1) for g in guessed):
    print("invalid predictions: need a list of 0/1 of the right length", file=sys.stderr)
    sys.exit(1)
print(json.dumps({"accuracy": sum(g == t for g, t in zip(guessed, labels)) / len(labels)}))
"""

TASK = """
[task]
name = "redteam"
goal = "Predict the labels."
workspace = "workspace"

[evaluator]
run = "python train.py"
score = "python -I score.py"
scorer = "scorer"
public = "public"
private = "private/validate"
final_private = "private/final"
expects = "predictions.json in $STROP_OUTPUTS"
metric = "accuracy"
direction = "maximize"
timeout = "{timeout}"
score_timeout = "20s"
outputs_limit = "1m"
memory = "512m"
sandbox = "{backend}"

[budget]
experiments = {experiments}

[proposer]
kind = "evolve"
params_file = "params.json"

[space]
c = {{ type = "int", low = 1, high = 9 }}
"""


def _labels(seed: int) -> tuple[list[int], list[int], list[int]]:
    rng = random.Random(seed)
    # Exactly half ones in each split, so the majority guess scores 0.5 everywhere.
    splits = []
    for _ in range(3):
        bits = [1] * (N // 2) + [0] * (N // 2)
        rng.shuffle(bits)
        splits.append(bits)
    return splits[0], splits[1], splits[2]


HONEST = 0.5


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict:  # type: ignore[type-arg]
        return json.loads(self.stdout)


@dataclass
class HostileTask:
    """One attackable task on one backend; `marker` is a host path no attack may create."""

    root: Path
    backend: str
    marker: Path
    private_text: str
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def workspace(self) -> Path:
        return self.root / "workspace"

    @property
    def task(self) -> Path:
        return self.root / "task.toml"

    def attack(self, train: str, **files: str) -> None:
        """Replace the candidate's train.py (and add files) with hostile code."""
        text = textwrap.dedent(train).replace("@MARKER@", str(self.marker))
        text = text.replace("@ROOT@", str(self.root))
        (self.workspace / "train.py").write_text(text)
        for name, content in files.items():
            (self.workspace / name).write_text(textwrap.dedent(content))

    def configure(self, timeout: str = "30s", experiments: int = 3) -> None:
        text = TASK.format(timeout=timeout, backend=self.backend, experiments=experiments)
        self.task.write_text(text)


def strop(*args: str, timeout: float = 180) -> Result:
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def _hostile_task(backend: str, tmp_path: Path) -> HostileTask:
    require_backend(backend)
    root = tmp_path / "task"
    (root / "workspace").mkdir(parents=True)
    (root / "scorer").mkdir()
    (root / "public").mkdir()
    validation, test, train = _labels(7)
    (root / "public" / "data.json").write_text(
        json.dumps(
            {
                "train": [[i, y] for i, y in enumerate(train)],
                "validation": list(range(N)),
                "test": list(range(N)),
            }
        )
    )
    for phase, split, labels in (("validate", "validation", validation), ("final", "test", test)):
        folder = root / "private" / phase
        folder.mkdir(parents=True)
        (folder / "labels.json").write_text(json.dumps({"split": split, "labels": labels}))
    (root / "scorer" / "score.py").write_text(textwrap.dedent(SCORER))
    (root / "workspace" / "train.py").write_text(textwrap.dedent(HONEST_TRAIN))
    (root / "workspace" / "params.json").write_text(json.dumps({"c": 5}))
    marker = Path("/tmp") / f"strop-redteam-{secrets.token_hex(6)}"
    made = HostileTask(root, backend, marker, (root / "private" / "final" / "labels.json").read_text())
    made.configure()
    return made


@pytest.fixture(params=STRONG)
def hostile(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HostileTask]:
    """The attackable task on docker, then on bwrap (the backends that make promises)."""
    made = _hostile_task(request.param, tmp_path)
    yield made
    made.marker.unlink(missing_ok=True)


@pytest.fixture(params=ALL)
def any_backend_task(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HostileTask]:
    """The same task on every backend, `local` included (for what must hold everywhere: resume)."""
    made = _hostile_task(request.param, tmp_path)
    yield made
    made.marker.unlink(missing_ok=True)


@pytest.fixture
def cli() -> Callable[..., Result]:
    return strop


def verdict(result: Result) -> dict:  # type: ignore[type-arg]
    """The experiment record `strop eval --json` printed (exit 2 when it failed; anything else fails)."""
    assert result.code in (0, 2) and result.stdout.strip(), (result.code, result.stderr[-2000:])
    return result.json["experiment"]


def honest_or_refused(record: dict) -> None:  # type: ignore[type-arg]
    """The experiment was refused, or scored honestly in both phases (no forged metric)."""
    status = record["status"]
    assert status in ("ok", "buggy", "tampered", "timeout", "rejected"), status
    if status == "ok":
        assert record["metrics"]["accuracy"] <= HONEST + 1e-9, record["metrics"]
    final = record.get("final_metrics") or {}
    if "accuracy" in final:
        assert final["accuracy"] <= HONEST + 1e-9, final
