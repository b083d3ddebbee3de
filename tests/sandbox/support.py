"""Opening real backends for the sandbox tests, once each, failing (not skipping) in CI.

With CI=true a backend that cannot start fails the test that needs it; elsewhere
such tests are skipped with the reason (e.g. dockerd not started).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from sandbox.backends import construct, smoke
from sandbox.execution import Sandbox, SandboxError

STRONG = ("docker", "bwrap")
ALL = ("docker", "bwrap", "local")

_opened: dict[str, Sandbox | str] = {}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require_backend(name: str) -> Sandbox:
    """The backend, opened and smoke-tested once per session; fail in CI, skip elsewhere."""
    if name not in _opened:
        try:
            box = construct(name)
            smoke(box)
            _opened[name] = box
        except SandboxError as error:
            _opened[name] = str(error)
    box = _opened[name]
    if isinstance(box, str):
        message = f"{name} sandbox cannot start here: {box}"
        if in_ci():
            pytest.fail(message + " (CI=true: a backend that cannot start is a failure)")
        pytest.skip(message)
    return box


def staged_in(folder: Path, spec: Any, backend: str = "bwrap") -> Any:
    """A StagedEvaluator over `folder`, whose subfolders are named as the spec's (scorer, public, ...)."""
    from evaluators.integrity import ProtectedFiles
    from evaluators.staged import StagedEvaluator
    from evaluators.trusted import TrustedFiles, TrustedSources

    names = ("scorer", "private", "final_private", "public", "final_public")
    sources = TrustedSources(**{name: folder / getattr(spec, name) for name in names if getattr(spec, name)})
    trusted = TrustedFiles.snapshot(sources, folder / "store" / "trusted")
    protected = ProtectedFiles.snapshot(folder / "work", [], folder / "store")
    box = require_backend(backend)
    return StagedEvaluator(spec, protected, trusted, box, folder / "logs", folder / "run", box)


def final_phase_evaluator(folder: Path, files: dict[str, str], backend: str = "bwrap", **spec: Any) -> Any:
    """The final-phase tests' evaluator: `files` (path below `folder` -> text) written, then a
    StagedEvaluator running work/run.py and scoring with scorer/score.py on `public`/`private`,
    the final phase on `final_public`/`final_private`; metric `rows`, maximised, 30 s. `spec`:
    other EvaluatorSpec fields (e.g. `folds`)."""
    from evaluators.spec import EvaluatorSpec

    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    fields: dict[str, Any] = {
        "run": "python run.py",
        "score": "python -I score.py",
        "scorer": "scorer",
        "public": "public",
        "final_public": "final_public",
        "private": "private",
        "final_private": "final_private",
        "metric": "rows",
        "direction": "maximize",
        "timeout": 30,
    }
    return staged_in(folder, EvaluatorSpec(**fields, **spec), backend)
