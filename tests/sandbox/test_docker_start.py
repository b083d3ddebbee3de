"""What the docker engine refuses to start is one line (a verdict), never an internal error."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.execution import Bind, Limits, SandboxError
from tests.sandbox.support import require_backend


def test_a_task_path_of_its_own_does_not_hide_strops_launcher(tmp_path: Path) -> None:
    """`env = { PATH = "/tmp" }` is the container's PATH, where the engine looked up strop's own
    `timeout` and failed to start it ("internal error: APIError … exec: timeout: not found");
    the command's own lookup fails instead, as on bwrap: status 127, a verdict."""
    sandbox = require_backend("docker")
    done = sandbox.run(["python", "-c", "pass"], tmp_path, Limits(timeout=30), env={"PATH": "/tmp"})
    assert done.exit_code == 127, done.tail()


def test_a_bind_the_engine_refuses_is_a_sandbox_error_of_one_line(tmp_path: Path) -> None:
    """`mounts = ["/proc"]`: runc refuses to start the container; that is said, not raised as APIError."""
    sandbox = require_backend("docker")
    with pytest.raises(SandboxError) as refused:
        sandbox.run(["true"], tmp_path, Limits(timeout=30), binds=[Bind(Path("/proc"))])
    message = str(refused.value)
    assert message.startswith("docker could not start the command: ") and "\n" not in message
