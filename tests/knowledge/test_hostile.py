"""Hostile inputs to the store and its CLI: special files, symlink loops, folders that cannot be
listed, a store damaged under it, and empty arguments. Each is one clear line or a reported
skip; the user's recorded sources are never dropped on the way."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from knowledge.embedder import HashingEmbedder
from knowledge.errors import StoreUnavailable
from knowledge.manifest import IngestReport
from knowledge.store import KnowledgeStore


def _skipped(report: IngestReport) -> dict[str, str]:
    return {Path(path).name: reason for path, reason in report.unsupported}


def test_fifos_and_symlink_loops_are_skipped_with_a_reason_in_a_folder_and_by_name(
    tmp_path: Path, hashing: HashingEmbedder
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "real.md").write_text("# Real\nwords about kernels\n")
    os.mkfifo(docs / "pipe.md")  # reading it would block forever
    (docs / "a.md").symlink_to(docs / "b.md")
    (docs / "b.md").symlink_to(docs / "a.md")
    store = KnowledgeStore.open(tmp_path / "store", embedder=hashing)
    report = store.add([docs])
    assert report.added == 1
    assert _skipped(report) == {
        "pipe.md": "not a regular file: a FIFO",
        "a.md": "symlink loop",
        "b.md": "symlink loop",
    }
    assert _skipped(store.add([docs / "pipe.md"])) == {"pipe.md": "not a regular file: a FIFO"}
    assert _skipped(store.add([docs / "a.md"])) == {"a.md": "symlink loop"}
    assert [s.source for s in store.list_sources()] == [str(docs / "real.md")]


def test_a_folder_that_cannot_be_listed_is_reported_and_its_sources_kept(
    tmp_path: Path, hashing: HashingEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = tmp_path / "docs"
    (docs / "locked").mkdir(parents=True)
    (docs / "top.md").write_text("# Top\nwords\n")
    (docs / "locked" / "inner.md").write_text("# Inner\nother words\n")
    store = KnowledgeStore.open(tmp_path / "store", embedder=hashing)
    assert store.add([docs]).added == 2
    real_scandir = os.scandir

    def scandir(path: object = ".") -> object:  # what chmod 000 does to a user who is not root
        if Path(str(path)) == docs / "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", scandir)
    again = store.add([docs])
    assert again.removed == 0
    assert _skipped(again) == {"locked": "folder cannot be listed: Permission denied"}
    assert {Path(s.source).name for s in store.list_sources()} == {"top.md", "inner.md"}


def test_a_write_to_a_damaged_store_is_one_error_and_the_sources_stay_recorded(
    tmp_path: Path, hashing: HashingEmbedder
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(3):
        (docs / f"n{i}.md").write_text(f"# Note {i}\nwords number {i}\n")
    root = tmp_path / "store"
    KnowledgeStore.open(root, embedder=hashing).add([docs])
    with contextlib.closing(sqlite3.connect(root / "chroma" / "chroma.sqlite3")) as database:
        database.execute("DROP TABLE embeddings_queue")  # damage that opening does not notice
        database.commit()
    (docs / "new.md").write_text("# New\nfresh words\n")
    store = KnowledgeStore.open(root, embedder=hashing)
    with pytest.raises(StoreUnavailable, match="failed a write .*its recorded sources are kept; rebuild"):
        store.add([docs / "new.md"])
    assert len(store.list_sources()) == 3
    assert KnowledgeStore.rebuild(root, embedder=hashing).added == 4


def test_rebuild_recovers_the_sources_from_chroma_when_their_records_are_lost(
    tmp_path: Path, hashing: HashingEmbedder
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "one.md").write_text("# One\nwords\n")
    (docs / "two.py").write_text("def two():\n    return 2\n")
    root = tmp_path / "store"
    KnowledgeStore.open(root, embedder=hashing).add([docs]).added  # noqa: B018
    (root / "manifest.json").unlink()
    (root / "roots.json").write_text("{")
    report = KnowledgeStore.rebuild(root, embedder=hashing)
    assert report.added == 2
    store = KnowledgeStore.open(root, embedder=hashing, create=False)
    assert sorted(Path(s.source).name for s in store.list_sources()) == ["one.md", "two.py"]


def test_rebuild_with_no_record_left_says_so_instead_of_an_empty_success(
    tmp_path: Path, hashing: HashingEmbedder
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "one.md").write_text("# One\nwords\n")
    root = tmp_path / "store"
    KnowledgeStore.open(root, embedder=hashing).add([docs])
    (root / "manifest.json").unlink()
    (root / "roots.json").unlink()
    database = root / "chroma" / "chroma.sqlite3"
    database.write_bytes(database.read_bytes()[:100])
    with pytest.raises(StoreUnavailable, match=r"no record of the sources survived.*store\.broken-"):
        KnowledgeStore.rebuild(root, embedder=hashing)
    assert KnowledgeStore.open(root, embedder=hashing, create=False).list_sources() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", ""], "error: an empty path"),
        (["remove", ""], "error: an empty source"),
        (["search", " "], "error: the query is empty"),
    ],
)
def test_empty_arguments_are_refused_not_read_as_the_current_folder(
    isolated_home: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "secret.md").write_text("# Secret\nnot for the store\n")
    code = "import sys; from agent.cli import main; sys.argv = ['strop', *sys.argv[1:]]; main()"
    result = subprocess.run(
        [sys.executable, "-c", code, "knowledge", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and result.stderr.startswith(message), result.stderr
    assert "Traceback" not in result.stderr
    assert not (isolated_home / "knowledge" / "manifest.json").exists()
