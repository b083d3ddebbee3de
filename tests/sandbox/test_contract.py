"""The `Sandbox.run` contract, on every backend: what the evaluator relies on."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

from sandbox import Limits, SandboxError, WeakSandboxWarning, open_sandbox
from sandbox.bubblewrap import bwrap_argv
from sandbox.execution import KilledBy, Sandbox
from sandbox.runtime import Runtime
from sandbox.workspace import Workspace, lend

LIMITS = Limits(timeout=30, memory=1 << 30)


def test_exit_code_output_and_cwd(backend: Sandbox, workdir: Path) -> None:
    result = backend.run(
        ["/bin/sh", "-c", "pwd; echo oops >&2; exit 3"], workdir, LIMITS, env={"STROP_PHASE": "validate"}
    )
    assert result.exit_code == 3 and result.killed_by is None and not result.ok
    assert result.stdout.strip() == str(workdir.resolve())
    assert result.stderr.strip() == "oops"
    assert result.backend == backend.name


def test_evaluator_python_stack_works(backend: Sandbox, workdir: Path) -> None:
    (workdir / "evaluate.py").write_text(
        "import json, os, numpy, sklearn\n"
        "open('metrics.json', 'w').write(json.dumps({'phase': os.environ['STROP_PHASE']}))\n"
        "print(numpy.arange(3).sum())\n"
    )
    result = backend.run(["python", "evaluate.py"], workdir, LIMITS, env={"STROP_PHASE": "validate"})
    assert result.ok, result.tail()
    assert result.stdout.strip() == "3"
    assert (workdir / "metrics.json").read_text() == '{"phase": "validate"}'
    assert os.stat(workdir / "metrics.json").st_uid == os.stat(workdir).st_uid, "ownership not given back"
    assert result.cpu_time > 0.05 and (result.peak_memory or 0) > 20 << 20


def test_readonly_paths_are_protected(strong_backend: Sandbox, workdir: Path) -> None:
    evaluator = workdir / "evaluate.py"
    evaluator.write_text("print('real')\n")
    script = "open('evaluate.py', 'w').write('print(\"fake\")')"
    result = strong_backend.run(["python", "-c", script], workdir, LIMITS, readonly_paths=[evaluator])
    assert result.exit_code != 0 and "Read-only file system" in result.stderr
    assert evaluator.read_text() == "print('real')\n"


def test_readonly_path_must_be_inside_workdir(backend: Sandbox, workdir: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not inside the workdir"):
        backend.run(["true"], workdir, LIMITS, readonly_paths=[tmp_path])


def test_missing_command_is_the_commands_failure(backend: Sandbox, workdir: Path) -> None:
    result = backend.run(["no-such-command-here"], workdir, LIMITS)
    assert result.exit_code == 127 and result.killed_by is None


def test_cpu_time_limit(backend: Sandbox, workdir: Path) -> None:
    limits = Limits(timeout=20, cpu_time=1)
    result = backend.run(["python", "-c", "while True: pass"], workdir, limits)
    assert result.killed_by is KilledBy.TIMEOUT and result.wall_time < 10


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(SandboxError, match="unknown sandbox backend"):
        open_sandbox("vm")


def test_choosing_local_warns_loudly() -> None:
    with pytest.warns(WeakSandboxWarning, match="no file, network or process isolation"):
        box = open_sandbox("local")
    assert box.name == "local"


def test_auto_picks_the_strongest_that_works() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeakSandboxWarning)
        box = open_sandbox("auto")
    from tests.sandbox.support import require_backend

    for name in ("docker", "bwrap"):
        try:
            require_backend(name)
        except pytest.skip.Exception:
            continue
        assert box.name == name
        return
    assert box.name == "local"


def test_bwrap_layout_binds_runtime_readonly_and_workspace_writable(tmp_path: Path) -> None:
    space = Workspace.of(tmp_path, [])
    runtime = Runtime(
        binds=(Path("/usr"), Path("/opt/py")), links=(("/bin", "usr/bin"),), python_bin=Path("/opt/py/bin")
    )
    argv = bwrap_argv("bwrap", ["true"], space, Limits(), runtime, (65534, 65534), as_root=True)
    text = " ".join(argv)
    assert "--unshare-net" in argv and "--unshare-pid" in argv and "--die-with-parent" in argv
    assert "--new-session" in argv
    assert "--ro-bind /opt/py /opt/py" in text and f"--bind {tmp_path} {tmp_path}" in text
    assert text.index("--tmpfs /tmp") < text.index(f"--bind {tmp_path}"), (
        "the workspace must sit on top of /tmp"
    )
    assert "--reuid=65534" in text and "--no-new-privs" in text
    assert "--unshare-net" not in bwrap_argv(
        "bwrap", ["true"], space, Limits(network=True), runtime, (1, 1), True
    )


@pytest.mark.skipif(os.getuid() != 0, reason="lending a workspace needs root")
def test_lend_gives_every_path_back(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "file").write_text("x")
    (tmp_path / "keep").write_text("x")
    (tmp_path / "link").symlink_to("/etc/passwd")
    os.chown(tmp_path / "sub" / "file", 1234, 1234)
    with lend(tmp_path, 65534, 65534, keep=[tmp_path / "keep"]):
        assert os.lstat(tmp_path / "sub").st_uid == 65534
        assert os.lstat(tmp_path / "keep").st_uid == 0
        (tmp_path / "new").write_text("y")
    assert os.lstat(tmp_path / "sub").st_uid == 0
    assert os.lstat(tmp_path / "sub" / "file").st_uid == 1234
    assert os.lstat(tmp_path / "new").st_uid == 0
    assert os.stat("/etc/passwd").st_uid == 0


def test_a_local_scorer_beside_a_stronger_candidate_sandbox_says_the_scorer_is_on_the_host() -> None:
    """`sandbox = "bwrap"`, `score_sandbox = "local"`: the line said the *candidates'* code ran on
    the host, which is what a user picks docker or bwrap to avoid; it is the scorer that does."""
    from sandbox.backends import open_scorer_sandbox

    with pytest.warns(WeakSandboxWarning) as caught:
        scorer = open_scorer_sandbox("local", candidates=open_sandbox("bwrap"))
    said = [str(w.message) for w in caught]
    assert scorer.name == "local"
    assert any("your scorer runs on the host" in line for line in said)
    assert not any("candidate code runs on the host" in line for line in said)
