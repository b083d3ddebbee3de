"""Choosing a backend: by name, or "auto" for the strongest one that works here.

Strength order: docker (own image, cgroup limits, no network) > bwrap
(namespaces and rlimits on the host's kernel) > local (a process group; no
isolation). "auto" opens each in turn and keeps the first that runs a trivial
command; the probe is done once per process. Ending up on `local` is loud: a
`WeakSandboxWarning` and a log line, because candidate code then runs with the
caller's rights on the host.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import warnings
from pathlib import Path

from sandbox.execution import Limits, Sandbox, SandboxError

BACKENDS = ("docker", "bwrap", "local")
"""Backend names, strongest first."""

log = logging.getLogger("strop.sandbox")

_chosen: dict[str, str] = {}
_lock = threading.Lock()
_said: set[str] = set()
"""The weak-sandbox lines logged so far in this process (`warn_weak` logs each once)."""
_said_lock = threading.Lock()


class WeakSandboxWarning(UserWarning):
    """Untrusted code is about to run without isolation (the `local` backend)."""


def construct(name: str) -> Sandbox:
    """The backend called `name`, constructed; SandboxError when it cannot start here."""
    if name == "docker":
        from sandbox.container import DockerSandbox

        return DockerSandbox()
    if name == "bwrap":
        from sandbox.bubblewrap import BwrapSandbox

        return BwrapSandbox()
    if name == "local":
        from sandbox.local import LocalSandbox

        return LocalSandbox()
    raise SandboxError(f"unknown sandbox backend {name!r} (choose auto, {', '.join(BACKENDS)})")


def smoke(sandbox: Sandbox) -> None:
    """Run `true` in a scratch workdir; SandboxError when the backend cannot run anything."""
    with tempfile.TemporaryDirectory(prefix="strop-sandbox-probe-") as folder:
        result = sandbox.run(["true"], Path(folder), Limits(timeout=30))
    if not result.ok:
        raise SandboxError(f"{sandbox.name} cannot run a trivial command: {result.tail(300).strip()}")


def warn_weak(reasons: list[str] | None = None) -> None:
    """Say, once and loudly, that candidate code runs unconfined, and why the stronger backends did not open.

    `reasons`: "backend: why" for each stronger backend `auto` tried. Each carries its own fix (join
    the docker group, allow user namespaces, install bubblewrap), which a generic "install docker.io
    or bubblewrap" got wrong wherever both were installed.

    The log line is what the CLI prints (it ignores the Python warning, which would repeat it), and
    a process logs each line once: a two-stage task naming `local` for both its candidates and its
    scorer opened it twice, and every `strop run` and `strop resume` printed the line twice.
    """
    why = (
        f"the stronger ones did not open ({'; '.join(reasons)})"
        if reasons
        else ('it was named (`sandbox = "local"` in the task file: check a task file you did not write)')
    )
    message = (
        "sandbox backend 'local' chosen: candidate code runs on the host with your rights "
        f"(no file, network or process isolation); {why}. See `strop sandbox check`."
    )
    _warn_once(message)


SCORER_ON_HOST = (
    "score_sandbox 'local': your scorer runs on the host with your rights (no file, network or process "
    "isolation), reading what candidates wrote; candidates stay in their own sandbox. See `strop sandbox check`."
)
"""Said when only the scorer's sandbox is `local`: `warn_weak`'s line said the candidates' code ran on
the host, which a task with `sandbox = "docker"` and `score_sandbox = "local"` does not do."""


def _warn_once(message: str) -> None:
    """Log `message` once per process (the CLI prints the log line) and warn it (for callers' filters)."""
    with _said_lock:
        first = message not in _said
        _said.add(message)
    if first:
        log.warning(message)
    warnings.warn(message, WeakSandboxWarning, stacklevel=4)


def open_sandbox(name: str = "auto") -> Sandbox:
    """The backend called `name`; "auto" picks the strongest that works here."""
    if name != "auto":
        sandbox = construct(name)
        if sandbox.name == "local":
            warn_weak()
        return sandbox
    with _lock:
        if "auto" in _chosen:
            return open_sandbox(_chosen["auto"])
        reasons = []
        for candidate in BACKENDS:
            try:
                sandbox = construct(candidate)
                smoke(sandbox)
            except SandboxError as error:
                reasons.append(f"{candidate}: {error}")
                log.info("sandbox %s unavailable: %s", candidate, error)
                continue
            _chosen["auto"] = candidate
            if candidate == "local":
                warn_weak(reasons)
            return sandbox
    raise SandboxError("no sandbox backend works here: " + "; ".join(reasons))


def open_scorer_sandbox(name: str, candidates: Sandbox) -> Sandbox:
    """The sandbox for a trusted scorer: `name`, or for "auto" bwrap where it works, else `candidates`'.

    The scorer is the task owner's code: its sandbox keeps artifacts-as-data and the
    private data away from the network and the host, which namespaces do as well as a
    container, at a tenth of the launch cost (a container per stage would double the
    docker overhead of every experiment).
    """
    if name != "auto":
        scorer = construct(name)
        if scorer.name == "local":
            _warn_once(SCORER_ON_HOST)
        return scorer
    with _lock:
        if "scorer" not in _chosen:
            try:
                smoke(construct("bwrap"))
                _chosen["scorer"] = "bwrap"
            except SandboxError as error:
                log.info("scorer sandbox: bwrap unavailable (%s); using %s", error, candidates.name)
                _chosen["scorer"] = ""
    return construct("bwrap") if _chosen["scorer"] else candidates
