"""A --checkpoint or --out that cannot be used is refused in one line before the search runs.

Before: --checkpoint naming a folder, a path under a file, or /proc/x crashed with an internal
error after the baselines and left `*.identity.json` litter; `--out ""` (Path("") is ".") wrote
the outputs into the current folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
QUICK = ("--model", "digits-mlp", "--budget-bits", "32", "--generations", "0", "--population", "2",
         "--workers", "0", "--no-baselines", "--json")  # fmt: skip


def strop(*args: str, home: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", "evolve", "quant", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "STROP_HOME": str(home), "PYTHONPATH": str(ROOT)},
        timeout=300,
    )


@pytest.mark.parametrize(
    ("where", "said"),
    [
        ("folder", "is a folder"),
        ("under-a-file", "is a file, not a folder"),
        ("proc", "cannot write in /proc"),
    ],
)
def test_an_unusable_checkpoint_is_refused_before_the_search(tmp_path: Path, where: str, said: str) -> None:
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    path = {
        "folder": tmp_path / "adir",
        "under-a-file": tmp_path / "afile" / "ck.pkl",
        "proc": Path("/proc/x"),
    }[where]
    done = strop(*QUICK, "--checkpoint", str(path), home=tmp_path / "home")
    assert done.returncode == 2, done.stderr[-2000:]
    assert said in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr.lower()
    assert "setup" not in done.stderr, "refused only after the search started"
    assert not list(tmp_path.rglob("*.identity.json"))


def test_an_empty_out_is_refused(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    done = strop(*QUICK, "--out", "", home=tmp_path / "home", cwd=work)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "--out needs a folder" in done.stderr
    assert list(work.iterdir()) == []


def test_no_baselines_and_baselines_all_disagree(tmp_path: Path) -> None:
    """`--no-baselines --baselines all` ran with no baselines, silently."""
    done = strop(*QUICK, "--no-baselines", "--baselines", "all", home=tmp_path / "home")
    assert done.returncode == 2, done.stderr[-2000:]
    assert "--no-baselines and --baselines all disagree" in done.stderr
