"""Sandboxed execution of untrusted commands: one interface, several backends.

    from sandbox import Limits, open_sandbox, read_artifact
    box = open_sandbox()                    # "auto": docker > bwrap > local (warns)
    result = box.run(["python", "eval.py"], workdir, Limits(timeout=60, memory=1 << 30),
                     readonly_paths=[workdir / "eval.py"])
    metrics = read_artifact(workdir, "metrics.json", max_bytes=1 << 20)

Backends: `sandbox.container` (docker), `sandbox.bubblewrap` (bwrap),
`sandbox.local` (local). `strop sandbox check` says which work here.
"""

from sandbox.artifacts import ArtifactError, copy_artifact, read_artifact
from sandbox.backends import BACKENDS, WeakSandboxWarning, open_sandbox
from sandbox.execution import Bind, Execution, KilledBy, Limits, Sandbox, SandboxError

__all__ = [
    "BACKENDS",
    "ArtifactError",
    "Bind",
    "Execution",
    "KilledBy",
    "Limits",
    "Sandbox",
    "SandboxError",
    "WeakSandboxWarning",
    "copy_artifact",
    "open_sandbox",
    "read_artifact",
]
