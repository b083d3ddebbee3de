"""What `strop knowledge add` and `search` print at a project's scale: empty files summed up in one
line (a project has a hundred empty `__init__.py`, each printed on every add), file names with a
newline kept on one line, a score beside each plain-text hit, and a Ctrl-C during `add` that says
how to resume. Run through the real CLI in a child process, with the fast hashing embedder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

_CLI = (
    "import sys, knowledge.store as s, knowledge.embedder as e; s.default_embedder = e.HashingEmbedder; "
    "from agent.cli import main; sys.argv = ['strop', *sys.argv[1:]]; main()"
)

_CLI_CTRL_C = (  # the second batch of embeddings gets a real SIGINT, as a Ctrl-C in the terminal would
    "import os, signal, sys, knowledge.store as s, knowledge.embedder as e\n"
    "class Interrupted(e.HashingEmbedder):\n"
    "    calls = 0\n"
    "    def embed(self, texts):\n"
    "        Interrupted.calls += 1\n"
    "        if Interrupted.calls == 2:\n"
    "            os.kill(os.getpid(), signal.SIGINT)\n"
    "        return super().embed(texts)\n"
    "s.default_embedder = Interrupted\n"
    "from agent.cli import main; sys.argv = ['strop', *sys.argv[1:]]; main()"
)


def _strop(*args: str, code: str = _CLI) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def test_empty_files_are_one_line_and_a_newline_in_a_name_is_shown_escaped(
    isolated_home: Path, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    for n in range(40):
        (project / f"pkg{n:02d}").mkdir(parents=True)
        (project / f"pkg{n:02d}" / "__init__.py").write_text("")
    (project / "py.typed").write_text("")
    (project / "model.py").write_text("def train():\n    return 'halve the batch size'\n")
    (project / "odd\nname.md").write_text("# Odd\nwords about kernels\n")
    (project / "bad\nname.ipynb").write_text('{"cells": 3}')
    for _ in range(2):  # the second add changes nothing, and says so as briefly
        added = _strop("knowledge", "add", str(project))
        assert added.returncode == 0, added.stderr
        lines = [line for line in added.stderr.splitlines() if line]
        assert len(lines) == 2, lines
        assert lines[0] == (f"skipped (not a Jupyter notebook: no list of cells): {project}/bad\\nname.ipynb")
        assert lines[1].startswith(f"skipped 41 files with no text (empty): {project}/pkg00/__init__.py, ")
        assert lines[1].endswith(" and 38 more")
    listed = _strop("knowledge", "list")
    assert f"{project}/odd\\nname.md" in listed.stdout, listed.stdout


def test_plain_search_shows_each_hits_score(isolated_home: Path, tmp_path: Path) -> None:
    (tmp_path / "oom.md").write_text("# Out of memory\nHalve the batch size when training is killed.\n")
    (tmp_path / "seed.md").write_text("# Seeds\nFix numpy seeds for reproducible runs.\n")
    assert _strop("knowledge", "add", str(tmp_path)).returncode == 0
    found = _strop("knowledge", "search", "halve the batch size", "--k", "1")
    [hit] = json.loads(_strop("knowledge", "search", "halve the batch size", "--json", "--k", "1").stdout)
    assert found.returncode == 0, found.stderr
    assert f"1. {tmp_path / 'oom.md'} (lines 1-2) reference score {hit['score']:.2f}" in found.stdout


def test_ctrl_c_during_add_says_the_same_add_resumes_and_it_does(isolated_home: Path, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for f in range(3):
        (docs / f"notes{f}.md").write_text("".join(f"# Part {f}.{i}\ntile{i} words\n\n" for i in range(250)))
    interrupted = _strop("knowledge", "add", str(docs), code=_CLI_CTRL_C)
    assert interrupted.returncode == 130, interrupted.stderr
    assert " ".join(interrupted.stderr.split()).endswith(
        "interrupted after storing 256 chunks; run the same `strop knowledge add` again to resume: "
        "the chunks embedded so far are kept"
    ), interrupted.stderr
    resumed = _strop("knowledge", "add", str(docs), "--json")
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["added"] == 3 and report["chunks_embedded"] == 750 - 256
