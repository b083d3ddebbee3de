"""A command started early and held at its door until strop opens it.

Why: a two-stage evaluation pays for a second sandbox (the scorer's) after the
candidate's stage ends. Setting a sandbox up (namespaces, mounts, dropping
privileges, the exec chain) is most of that cost, and none of it depends on what
the candidate wrote. So the scorer's sandbox is started while the candidate runs,
with the scorer's command behind a tiny shell shim that waits for one word on its
standard input: `go` runs the command (its stdin then /dev/null, as for any
sandboxed command), anything else (or end of input) exits without running it.
A Python script (`python [flags] script.py args`, what scorers usually are) waits
inside its own interpreter instead, which then runs it as `python script.py` would
(`runpy.run_path` as `__main__`, the same flags, argv, sys.path[0] and stdin), so
the interpreter's start overlaps the stage before too, and so do the imports of the
libraries the script names at its top level (`library_imports`; never its own
modules). The time limit counts from the opening, not from the start.

The gate is a threading object: the sandbox's supervising thread waits on it,
the evaluator's thread opens or cancels it. What a sandbox measures from its start
(the growth of its disk, `sandbox.disk`) is measured from the opening instead: the
sandbox registers `before_open` hooks, run once the gate is opened, before the word
is sent. Measured from the start, the held scorer was charged for what the
candidate wrote while it waited (235,000 empty cache files: "the scorer filled its
disk quota" 0.02 s into scoring).
"""

from __future__ import annotations

import ast
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol, TypeGuard

from sandbox.execution import Bind, Execution, Limits, Sandbox
from sandbox.pyparse import parse

OPEN_WORD = "go"
CANCELLED_NOTE = "held command cancelled"
"""In `Execution.notes` of a held command that never ran."""
_SHIM = f'read -r word || exit 0; [ "$word" = {OPEN_WORD} ] || exit 0; exec "$@" </dev/null'
# The same door inside a Python interpreter, for `python [flags] script.py args`: the
# interpreter's own start (most of a small scorer's cost) then overlaps the stage before.
_LOADER = """
import os, pkgutil, runpy, sys  # pkgutil: what run_path imports on first use
sys.argv = sys.argv[1:]
if sys.path and sys.path[0] == "":
    sys.path[0] = os.path.dirname(os.path.abspath(sys.argv[0]))
for name in PRELOAD:
    try:
        __import__(name)
    except BaseException:
        pass
if sys.stdin.readline().strip() != OPEN_WORD:
    raise SystemExit(0)
os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
runpy.run_path(sys.argv[0], run_name="__main__")
"""
_INTERPRETER = re.compile(r"python(3(\.\d+)?)?")
_PLAIN_FLAGS = re.compile(r"-[IsSEBbOqu]+")


class Gate:
    """Holds a prepared command until `open(timeout)` or `cancel()`; see the module docstring.

    `max_wait` bounds how long the held sandbox may wait (its orphan switch, which
    ends a sandbox whose strop died, must allow for the wait).
    """

    def __init__(self, max_wait: float) -> None:
        self.max_wait = max_wait
        self._decided = threading.Event()
        self._timeout: float | None = None
        self._hooks: list[Callable[[], None]] = []

    def before_open(self, hook: Callable[[], None]) -> None:
        """Call `hook` in the waiting thread once the gate is opened, before the command runs."""
        self._hooks.append(hook)

    def wrap(self, command: Sequence[str], cwd: Path) -> list[str]:
        """`command` (run in `cwd`) behind a door that waits for the opening word on stdin."""
        script = python_script(command)
        if script is not None:
            interpreter, flags, rest = script
            preload = library_imports(cwd / rest[0])
            loader = _LOADER.replace("PRELOAD", repr(preload)).replace("OPEN_WORD", repr(OPEN_WORD))
            return [interpreter, *flags, "-c", loader, *rest]
        return ["/bin/sh", "-c", _SHIM, "strop-gate", *command]

    def open(self, timeout: float) -> None:
        """Let the command run, with `timeout` seconds from now."""
        if not self._decided.is_set():
            self._timeout = timeout
            self._decided.set()

    def cancel(self) -> None:
        """The command will not run (the stage before failed); a no-op once opened."""
        self._decided.set()

    def wait(self) -> float | None:
        """Block until decided; the timeout to run with, or None when cancelled. Once opened, the
        `before_open` hooks have run when this returns."""
        self._decided.wait(self.max_wait)
        if self._timeout is not None:
            for hook in self._hooks:
                hook()
        return self._timeout


def python_script(command: Sequence[str]) -> tuple[str, list[str], list[str]] | None:
    """(interpreter, flags, [script, args…]) for `python [-IsSEBbOqu…] script.py args`, else None.

    Only flags without a value; `-c`, `-m`, `-X`, `-W` and reading stdin keep the shell door.
    """
    if not command or not _INTERPRETER.fullmatch(os.path.basename(command[0])):
        return None
    count = 1
    while count < len(command) and _PLAIN_FLAGS.fullmatch(command[count]):
        count += 1
    rest = list(command[count:])
    if not rest or not rest[0].endswith(".py"):
        return None
    return command[0], list(command[1:count]), rest


def library_imports(script: Path) -> tuple[str, ...]:
    """The modules `script` imports at its top level, except its own (files beside it).

    A held interpreter imports them before the door opens: library code (the standard
    library, numpy, pandas…) behaves the same whenever it is imported, and this is most
    of a scorer's start. The script's own modules are left to the script, in its order.
    """
    try:
        tree = parse(script.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return ()
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    beside = script.parent
    own = {name for name in names if (beside / f"{name.split('.')[0]}.py").exists()}
    own |= {name for name in names if (beside / name.split(".")[0]).is_dir()}
    return tuple(dict.fromkeys(n for n in names if n not in own and n != "__future__"))


class HoldingSandbox(Protocol):
    """A backend whose `run` can hold its command behind a gate (bwrap and local; docker cannot)."""

    name: str
    holds: bool

    def run(
        self,
        command: Sequence[str],
        workdir: Path,
        limits: Limits,
        env: Mapping[str, str] | None = None,
        readonly_paths: Sequence[Path] = (),
        binds: Sequence[Bind] = (),
        gate: Gate | None = None,
    ) -> Execution: ...


def can_hold(box: Sandbox) -> TypeGuard[HoldingSandbox]:
    return getattr(box, "holds", False) is True
