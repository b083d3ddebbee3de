"""A write killed hard (SIGKILL, the OOM killer): the store records the roots before embedding,
marks itself as being written, and on opening a marked store with no writer it reads Chroma in a
child process first. Chroma's index files torn by the kill crashed every later `search` and `add`
with a segfault (exit 139) and left `rebuild` nothing to re-add; now they are one line naming
`rebuild`, which re-adds the roots. The writes here are real and killed for real; the torn index
is made by overwriting part of the index file the killed write left, as an interrupted write of it
would."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from knowledge.embedder import HashingEmbedder
from knowledge.store import KnowledgeStore

REPO = Path(__file__).resolve().parents[2]
FILES, SECTIONS = 6, 250  # 1,500 chunks: past Chroma's first flush of its index to disk (1,000)

_KILLED_ADD = """
import os, signal, sys
from knowledge.embedder import HashingEmbedder
from knowledge.store import KnowledgeStore

def progress(done, total):
    if done >= int(sys.argv[3]):
        os.kill(os.getpid(), signal.SIGKILL)

KnowledgeStore.open(sys.argv[1], embedder=HashingEmbedder()).add([sys.argv[2]], progress)
"""

_CLI = (  # the real CLI with the fast embedder in place of MiniLM
    "import sys, knowledge.store as s, knowledge.embedder as e; s.default_embedder = e.HashingEmbedder; "
    "from agent.cli import main; sys.argv = ['strop', *sys.argv[1:]]; main()"
)


def _strop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _CLI, *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def _docs(folder: Path) -> Path:
    folder.mkdir()
    for f in range(FILES):
        sections = "".join(f"# Part {f}.{i}\nkernel{f} tile{i} words\n\n" for i in range(SECTIONS))
        (folder / f"notes{f}.md").write_text(sections)
    return folder


def _kill_add(store: Path, docs: Path, after_chunks: int) -> None:
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_ADD, str(store), str(docs), str(after_chunks)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr


def test_a_store_torn_by_a_killed_first_add_names_rebuild_and_rebuild_re_adds_the_roots(
    isolated_home: Path, tmp_path: Path
) -> None:
    docs = _docs(tmp_path / "docs")
    store = isolated_home / "knowledge"
    _kill_add(store, docs, after_chunks=1280)
    assert json.loads((store / "roots.json").read_text())["roots"] == [str(docs)]
    assert (store / "writing.json").exists()
    [index] = list((store / "chroma").glob("*/data_level0.bin"))
    torn = bytearray(index.read_bytes())
    torn[1000 : len(torn) // 2] = b"\xff" * (len(torn) // 2 - 1000)
    index.write_bytes(bytes(torn))

    for command in (["knowledge", "search", "kernel3 tile7"], ["knowledge", "add", str(docs)]):
        done = _strop(*command)
        assert done.returncode == 2, (command, done.returncode, done.stderr)
        message = " ".join(done.stderr.split())
        assert "was damaged by a killed add (reading its vectors crashed with SIGSEGV)" in message
        assert f"`strop knowledge rebuild` re-adds {docs}" in message and "Traceback" not in message

    rebuilt = _strop("knowledge", "rebuild")
    assert rebuilt.returncode == 0 and f"added {FILES}," in rebuilt.stdout, rebuilt.stderr
    [aside] = list(isolated_home.glob("knowledge.broken-*"))
    assert (aside / "chroma").is_dir() and (aside / "writing.json").exists()  # nothing of it reused
    found = _strop("knowledge", "search", "kernel3 tile7", "--json", "--k", "1")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)[0]["source"] == str(docs / "notes3.md")


def test_a_killed_add_that_left_chroma_readable_is_resumed_by_the_same_add(
    tmp_path: Path, hashing: HashingEmbedder
) -> None:
    docs = _docs(tmp_path / "docs")
    root = tmp_path / "store"
    _kill_add(root, docs, after_chunks=512)
    store = KnowledgeStore.open(root, embedder=hashing)  # probes in a child, finds Chroma readable
    assert not (root / "writing.json").exists()
    report = store.add([docs])
    assert report.added == FILES and 0 < report.chunks_embedded < FILES * SECTIONS
    assert store.count() == FILES * SECTIONS
    assert store.search("kernel3 tile7", k=1)[0].source == str(docs / "notes3.md")
    store.close()


def test_a_write_that_finishes_or_fails_leaves_no_mark(tmp_path: Path, hashing: HashingEmbedder) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\nwords\n")
    store = KnowledgeStore.open(tmp_path / "store", embedder=hashing)
    store.add([docs])
    assert not (store.root / "writing.json").exists()

    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt

    (docs / "b.md").write_text("# B\nmore words\n")
    with pytest.raises(KeyboardInterrupt):
        store.add([docs], progress=interrupt)
    assert not (store.root / "writing.json").exists()
    store.close()
