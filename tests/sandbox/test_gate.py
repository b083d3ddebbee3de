"""A held command (see `sandbox.gate`) runs only once opened, with its time counted from there."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from evaluators.held import HeldRun
from sandbox.execution import KilledBy, Limits
from sandbox.gate import can_hold
from tests.sandbox.support import require_backend

HOLDING = ("bwrap", "local")


@pytest.fixture(params=HOLDING)
def holding(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    box = require_backend(request.param)
    assert can_hold(box)
    return box


def _touch(name: str) -> list[str]:
    return ["python", "-I", "-S", "-c", f"open({name!r}, 'w').write('ran'); print('hello')"]


def test_runs_only_once_opened(holding, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    held = HeldRun(holding, _touch("mark"), workdir, Limits(timeout=10), {}, [], max_wait=30)
    time.sleep(0.5)
    assert not (workdir / "mark").exists(), "the held command ran before it was opened"
    execution = held.open(10)
    assert execution is not None and execution.ok, execution
    assert execution.stdout.strip() == "hello"
    assert (workdir / "mark").read_text() == "ran"


def test_cancelled_never_runs(holding, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    held = HeldRun(holding, _touch("mark"), workdir, Limits(timeout=10), {}, [], max_wait=30)
    time.sleep(0.3)
    held.cancel()
    time.sleep(0.3)
    assert not (workdir / "mark").exists()


def test_time_counts_from_the_opening(holding, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    sleeper = ["python", "-I", "-S", "-c", "import time; time.sleep(0.6)"]
    held = HeldRun(holding, sleeper, workdir, Limits(timeout=1.0), {}, [], max_wait=30)
    time.sleep(1.5)  # longer than the timeout: the wait must not count
    execution = held.open(3.0)
    assert execution is not None and execution.ok, execution
    assert execution.wall_time < 3.0


def test_timeout_after_opening_is_a_timeout(holding, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    forever = ["python", "-I", "-S", "-c", "import time; time.sleep(30)"]
    held = HeldRun(holding, forever, workdir, Limits(timeout=10), {}, [], max_wait=30)
    started = time.monotonic()
    execution = held.open(0.5)
    assert execution is not None
    assert execution.killed_by is KilledBy.TIMEOUT
    assert time.monotonic() - started < 5


def test_a_gate_nobody_decides_gives_up(holding, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    held = HeldRun(holding, _touch("mark"), workdir, Limits(timeout=10), {}, [], max_wait=0.5)
    time.sleep(1.5)
    assert held.open(10) is None, "a gate past its wait must report that it did not run"
    assert not (workdir / "mark").exists()
