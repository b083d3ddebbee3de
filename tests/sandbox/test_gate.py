"""A held command (see `sandbox.gate`) runs only once opened, with its time counted from there."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from evaluators.held import HeldRun
from sandbox.execution import KilledBy, Limits
from sandbox.gate import can_hold, library_imports, python_script
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


PROBE = """
import json, os, sys
print(json.dumps({
    "argv": sys.argv,
    "name": __name__,
    "file": os.path.basename(__file__),
    "isolated": sys.flags.isolated,
    "no_site": sys.flags.no_site,
    "path0": sys.path[0] if sys.path else None,
    "stdin": sys.stdin.read(),
}))
sys.exit(int(sys.argv[-1]))
"""


@pytest.mark.parametrize(
    "command",
    [
        ["python", "-I", "-S", "probe.py", "x", "3"],
        ["python", "probe.py", "0"],
        ["python", "-u", "probe.py", "--flag", "0"],
        ["/bin/sh", "-c", "python -I probe.py 4"],
    ],
    ids=["isolated", "plain", "unbuffered", "shell"],
)
def test_a_held_command_runs_as_it_would_unheld(holding, workdir: Path, command: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Python scripts are held inside their interpreter (see `sandbox.gate`): nothing they can see differs."""
    (workdir / "probe.py").write_text(PROBE)
    unheld = holding.run(command, workdir, Limits(timeout=20))
    held = HeldRun(holding, command, workdir, Limits(timeout=20), {}, [], max_wait=30).open(20)
    assert held is not None
    assert (held.exit_code, held.stdout) == (unheld.exit_code, unheld.stdout), (held.stderr, unheld.stderr)
    seen = json.loads(held.stdout)
    assert seen["name"] == "__main__" and seen["file"] == "probe.py" and seen["stdin"] == ""
    assert held.exit_code == int(command[-1][-1])


def test_an_exception_in_a_held_script_fails_it(holding, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    (workdir / "bad.py").write_text("raise ValueError('the scorer says no')\n")
    held = HeldRun(
        holding, ["python", "-I", "bad.py"], workdir, Limits(timeout=20), {}, [], max_wait=30
    ).open(20)
    assert held is not None and held.exit_code == 1
    assert held.stderr.strip().splitlines()[-1] == "ValueError: the scorer says no"


def test_which_commands_are_held_inside_python() -> None:
    assert python_script(["python", "-I", "-S", "score.py", "-I"]) == (
        "python",
        ["-I", "-S"],
        ["score.py", "-I"],
    )
    assert python_script(["/usr/bin/python3.11", "-IS", "s.py"]) == ("/usr/bin/python3.11", ["-IS"], ["s.py"])
    for other in (
        ["python", "-c", "pass"],
        ["python", "-m", "pkg"],
        ["python", "-W", "x", "s.py"],
        ["sh", "s.py"],
    ):
        assert python_script(other) is None


def test_library_imports_are_preloaded_and_the_scripts_own_are_not(tmp_path: Path) -> None:
    script = tmp_path / "score.py"
    script.write_text(
        "from __future__ import annotations\nimport json, os.path\nfrom pathlib import Path\n"
        "import helper\nfrom . import sibling\nimport pkg.sub\n"
        "def later():\n    import csv\n"
    )
    (tmp_path / "helper.py").write_text("")
    (tmp_path / "pkg").mkdir()
    assert library_imports(script) == ("json", "os.path", "pathlib")
    (tmp_path / "broken.py").write_text("import (")
    assert library_imports(tmp_path / "broken.py") == ()


def test_a_held_scripts_own_module_is_imported_after_the_door_opens(holding, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    """The script's own modules may read the sealed outputs at import: they must not run early."""
    (workdir / "helper.py").write_text("import os\nSEEN = os.path.exists('outputs-ready')\n")
    (workdir / "score.py").write_text("import json\nimport helper\nprint(json.dumps(helper.SEEN))\n")
    held = HeldRun(holding, ["python", "score.py"], workdir, Limits(timeout=20), {}, [], max_wait=30)
    time.sleep(1.0)
    (workdir / "outputs-ready").write_text("yes")
    execution = held.open(20)
    assert execution is not None and execution.ok, execution
    assert execution.stdout.strip() == "true"
