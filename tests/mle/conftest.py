"""Small competitions in MLE-bench's prepared layout, written by hand into tmp folders."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

CLASSIFICATION_ANSWERS = [("a", "cat"), ("b", "dog"), ("c", "cat"), ("d", "bird")]


def write_competition(
    root: Path,
    *,
    metric: str = "accuracy",
    answers: list[tuple[str, str]] | None = None,
    target: str = "label",
    leaderboard: list[float] | None = None,
    grade_py: str | None = None,
    config_extra: str = "",
) -> Path:
    """A complete competition folder: config, description, public, private, leaderboard."""
    answers = answers if answers is not None else CLASSIFICATION_ANSWERS
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.yaml").write_text(
        f"id: tiny-{metric}\nname: Tiny {metric}\ncompetition_type: simple\n"
        f"description: description.md\ngrader:\n  name: {metric}\n{config_extra}",
        encoding="utf-8",
    )
    (root / "description.md").write_text("# Tiny\nPredict the label of each id.\n", encoding="utf-8")
    public, private = root / "prepared" / "public", root / "prepared" / "private"
    public.mkdir(parents=True, exist_ok=True)
    private.mkdir(parents=True, exist_ok=True)
    first = answers[0][1]
    write_csv(public / "sample_submission.csv", ["id", target], [(i, first) for i, _ in answers])
    write_csv(public / "test.csv", ["id", "x"], [(i, n) for n, (i, _) in enumerate(answers)])
    write_csv(private / "answers.csv", ["id", target], answers)
    scores = (
        leaderboard if leaderboard is not None else [1.0, 0.75, 0.75, 0.5, 0.5, 0.25, 0.25, 0.0, 0.0, 0.0]
    )
    write_csv(root / "leaderboard.csv", ["teamName", "score"], [(f"t{n}", s) for n, s in enumerate(scores)])
    if grade_py is not None:
        (root / "grade.py").write_text(grade_py, encoding="utf-8")
    return root


def strop_mle(
    home: Path, *args: str, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`strop mle ARGS` run as a user runs it (its own process, its own STROP_HOME), output captured."""
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", "mle", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "STROP_HOME": str(home)},
        cwd=cwd,
    )


def write_csv(path: Path, header: list[str], rows: list[tuple[object, ...]] | list[list[object]]) -> Path:
    lines = [",".join(header)] + [",".join(str(value) for value in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def competition_dir(tmp_path: Path) -> Path:
    return write_competition(tmp_path / "tiny")


class OpenAudit:
    """Every `open` of a path under a folder by this process, recorded through Python's audit hook."""

    _active: OpenAudit | None = None
    _lock = threading.Lock()
    _installed = False

    def __init__(self, folder: Path) -> None:
        self.folder = str(folder.resolve())
        self.opened: list[str] = []

    @classmethod
    def _hook(cls, event: str, args: tuple[object, ...]) -> None:
        audit = cls._active
        if audit is None or event != "open" or not isinstance(args[0], str | Path):
            return
        path = str(Path(args[0]).resolve())
        if path.startswith(audit.folder):
            audit.opened.append(path)

    def __enter__(self) -> OpenAudit:
        with OpenAudit._lock:
            if not OpenAudit._installed:  # audit hooks cannot be removed: install one, switch it on and off
                sys.addaudithook(OpenAudit._hook)
                OpenAudit._installed = True
            OpenAudit._active = self
        return self

    def __exit__(self, *exc: object) -> None:
        OpenAudit._active = None


@pytest.fixture
def audit_opens() -> Iterator[type[OpenAudit]]:
    yield OpenAudit
    OpenAudit._active = None
