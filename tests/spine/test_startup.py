"""`strop --help` and the read commands must not pay for heavy libraries they do not use."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "torch",
    "chromadb",
    "langgraph",
    "docker",
    "sentence_transformers",
    "sklearn",
    "scipy",
    "optuna",
    "z3",
)

PROBE = """
import sys
from agent.cli import app
try:
    app(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
heavy = [name for name in {heavy!r} if name in sys.modules]
print("HEAVY=" + ",".join(heavy))
"""


READ_COMMANDS = [
    ["--help"],
    ["runs"],
    ["runs", "--json"],
    ["log", "--help"],
    ["show", "--help"],
    ["run", "--help"],
    ["evolve", "numerics", "--help"],
    ["evolve", "quant", "--help"],
    ["sandbox", "--help"],
    ["knowledge", "--help"],
    ["memory", "--help"],
]


@pytest.mark.parametrize("args", READ_COMMANDS, ids=[" ".join(a) for a in READ_COMMANDS])
def test_read_commands_import_no_heavy_library(args: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args], capture_output=True, text=True, check=False
    )
    line = [x for x in done.stdout.splitlines() if x.startswith("HEAVY=")]
    assert line, done.stdout + done.stderr
    assert "No such command" not in done.stdout + done.stderr, f"{args} is not a command"
    assert line[0] == "HEAVY=", f"{args} imported {line[0][6:]}"


def test_runs_json_on_an_empty_home_is_an_empty_list() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "runs", "--json"], capture_output=True, text=True
    )
    assert done.returncode == 0 and json.loads(done.stdout) == []
