"""strop's git commands in a user's repo run none of the programs that repo's config names.

An fsmonitor is a program git starts on `status`/`diff`: strop passes `core.fsmonitor=false`
to each of its own commands, and its clean-tree check ran GitPython's `is_dirty`, which did not.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.spine.conftest import Result, Workspace, git


def test_a_repo_fsmonitor_never_runs_when_strop_evaluates(
    make_workspace: Callable[..., Workspace], cli: Callable[..., Result], tmp_path: Path
) -> None:
    ws = make_workspace()
    marker = tmp_path / "fsmonitor-ran"
    program = tmp_path / "fsmonitor.sh"
    program.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    program.chmod(0o755)
    git(ws.path, "config", "core.fsmonitor", str(program))
    result = cli("eval", str(ws.task), "--json")
    assert result.code == 0, result.stderr[-2000:]
    assert not marker.exists()
    git(ws.path, "status")  # the control: the user's own git does run it
    assert marker.exists()


def test_a_repo_fsmonitor_never_runs_when_strop_checks_for_your_changes(
    make_workspace: Callable[..., Workspace], cli: Callable[..., Result], tmp_path: Path
) -> None:
    """`strop adopt` on a dirty tree names the changed files, without starting the fsmonitor."""
    ws = make_workspace()
    assert cli("eval", str(ws.task), "--json").code == 0
    marker = tmp_path / "fsmonitor-ran"
    program = tmp_path / "fsmonitor.sh"
    program.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    program.chmod(0o755)
    (ws.path / "value.txt").write_text("0.9")
    (ws.path / "evaluate.py").write_text("# staged\n")
    git(ws.path, "add", "evaluate.py")
    git(ws.path, "config", "core.fsmonitor", str(program))  # after the add: the user's git runs it
    result = cli("adopt", "latest/0")
    assert result.code != 0 and "evaluate.py" in result.stderr and "value.txt" in result.stderr, result.stderr
    assert not marker.exists()
