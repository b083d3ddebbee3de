"""The store with the real MiniLM model: incremental ingestion on this repository, retrieval, removal."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from knowledge.embedder import HashingEmbedder, MiniLMEmbedder
from knowledge.errors import EntryNotFound
from knowledge.sources import MAX_FILE_BYTES
from knowledge.store import KnowledgeStore

REPO = Path(__file__).resolve().parents[2]


def _copy_repo(dest: Path, parts: list[str] | None = None) -> Path:
    """A snapshot of this repository's tracked docs and code (others edit the live tree meanwhile)."""
    files = subprocess.run(
        ["git", "-C", str(REPO), "ls-files"], capture_output=True, text=True, check=True
    ).stdout
    for name in files.splitlines():
        if parts and not any(name.startswith(p) for p in parts):
            continue
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = _copy_repo(tmp_path_factory.mktemp("repo"), ["knowledge/", "README.md"])
    docs = Path("/work/shared/docs")
    if docs.is_dir():
        shutil.copytree(docs, root / "docs")
    (root / "docs").mkdir(exist_ok=True)
    (root / "docs" / "tuning.playbook.md").write_text(
        "---\nplaybook: Tuning\n---\n## heuristic: Shrink the batch on out-of-memory\n"
        "When training dies with MemoryError, halve the batch size and accumulate gradients.\n"
    )
    return root


def test_reingesting_unchanged_embeds_nothing_and_an_edit_reembeds_only_that_file(
    tmp_path: Path, corpus: Path, minilm: MiniLMEmbedder
) -> None:
    store = KnowledgeStore.open(tmp_path / "store", embedder=minilm)
    seen: list[tuple[int, int]] = []
    first = store.add([corpus], progress=lambda done, total: seen.append((done, total)))
    files = sum(1 for p in corpus.rglob("*") if p.is_file())
    assert first.added == files and first.chunks_embedded == store.count() > 100
    assert seen[-1] == (first.chunks_embedded, first.chunks_embedded)

    again = store.add([corpus])
    assert (again.chunks_embedded, again.added, again.updated, again.removed, again.skipped) == (
        0,
        0,
        0,
        0,
        files,
    )

    edited = corpus / "knowledge" / "fusion.py"
    before = {s.source: s.chunks for s in store.list_sources()}[str(edited)]
    edited.write_text(edited.read_text() + "\n\ndef tie_break(a, b):\n    return min(a, b)\n")
    third = store.add([corpus])
    after = {s.source: s.chunks for s in store.list_sources()}[str(edited)]
    assert (third.updated, third.added, third.skipped) == (1, 0, files - 1)
    assert third.chunks_embedded == after == before + 1
    assert store.count() == first.chunks_embedded + 1

    (corpus / "docs" / "tuning.playbook.md").unlink()
    fourth = store.add([corpus])
    assert (fourth.removed, fourth.chunks_embedded) == (1, 0)
    assert store.count() == sum(s.chunks for s in store.list_sources())


def test_search_finds_by_meaning_by_identifier_and_filters_types(
    tmp_path: Path, minilm: MiniLMEmbedder
) -> None:
    root = tmp_path / "src"
    (root / "docs").mkdir(parents=True)
    (root / "knowledge").mkdir()
    for name in ("fusion.py", "lock.py", "lexical.py", "sources.py"):
        shutil.copy2(REPO / "knowledge" / name, root / "knowledge" / name)
    (root / "docs" / "ops.playbook.yaml").write_text(
        "playbook: Ops\nsections:\n  - type: environment\n    title: No GPU here\n"
        "    text: The machines have two CPU cores and no GPU; use CPU wheels of torch.\n"
    )
    store = KnowledgeStore.open(tmp_path / "store", embedder=minilm)
    store.add([root])
    hits = store.search("combine two ranked lists into one ranking", k=5)
    assert any(h.source.endswith("fusion.py") for h in hits)
    hits = store.search("reciprocal_rank_fusion", k=3)
    assert hits[0].title.endswith("reciprocal_rank_fusion") and hits[0].lexical_rank == 1
    assert hits[0].location.startswith("lines ") and hits[0].type == "implementation"
    env = store.search("which hardware do the machines have", k=3, types=["environment"])
    assert [h.type for h in env] == ["environment"] and env[0].source.endswith("ops.playbook.yaml")
    assert store.search("anything", types=["workflow"]) == []


def test_remove_source_or_folder_and_unknown_source(tmp_path: Path, hashing: HashingEmbedder) -> None:
    root = tmp_path / "src"
    (root / "a").mkdir(parents=True)
    (root / "a" / "one.md").write_text("# One\nalpha beta\n")
    (root / "two.md").write_text("# Two\ngamma delta\n")
    store = KnowledgeStore.open(tmp_path / "store", embedder=hashing)
    store.add([root])
    assert store.remove(root / "a") == 1
    assert [s.source for s in store.list_sources()] == [str(root / "two.md")]
    assert {h.source for h in store.search("alpha beta")} == {str(root / "two.md")}
    with pytest.raises(EntryNotFound):
        store.remove(root / "nope.md")
    with pytest.raises(EntryNotFound, match="no such file"):
        store.add([tmp_path / "missing"])


def test_a_removed_folder_stays_out_until_it_is_added_by_name(
    tmp_path: Path, hashing: HashingEmbedder
) -> None:
    """Adding the parent again, or rebuilding, must not undo a removal; naming the path (or a file in it) does."""
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    for name, text in {"a.md": "alpha", "sub/b.md": "beta", "sub/c.md": "gamma"}.items():
        (root / name).write_text(f"# {name}\n{text}\n")
    store_dir = tmp_path / "store"

    def sources() -> list[str]:
        with KnowledgeStore.open(store_dir, embedder=hashing) as store:
            return [Path(s.source).relative_to(root).as_posix() for s in store.list_sources()]

    with KnowledgeStore.open(store_dir, embedder=hashing) as store:
        store.add([root])
        assert store.remove(root / "sub") == 2
        again = store.add([root])
    assert (again.added, again.left_out) == (0, (str(root / "sub"),))
    assert sources() == ["a.md"]
    KnowledgeStore.rebuild(store_dir, embedder=hashing)
    assert sources() == ["a.md"]

    with KnowledgeStore.open(store_dir, embedder=hashing) as store:
        assert store.add([root / "sub" / "b.md"]).added == 1  # a file inside it: that file alone
        store.add([root])
    assert sources() == ["a.md", "sub/b.md"]
    KnowledgeStore.rebuild(store_dir, embedder=hashing)
    assert sources() == ["a.md", "sub/b.md"]

    with KnowledgeStore.open(store_dir, embedder=hashing) as store:
        assert store.add([root / "sub"]).added == 1  # the removed path itself: all of it again
    KnowledgeStore.rebuild(store_dir, embedder=hashing)
    assert sources() == ["a.md", "sub/b.md", "sub/c.md"]

    with KnowledgeStore.open(store_dir, embedder=hashing) as store:
        assert store.remove(root / "a.md") == 1  # one file, too
        assert store.add([root]).left_out == (str(root / "a.md"),)
        assert store.remove(root) == 2
        assert store.add([root]).added == 3  # the folder removed is the folder named: back in full
    assert sources() == ["a.md", "sub/b.md", "sub/c.md"]


def test_whole_repository_reingest_counts(tmp_path: Path, hashing: HashingEmbedder) -> None:
    """All of this repository's tracked files (a snapshot), twice: the second time embeds nothing."""
    root = _copy_repo(tmp_path / "repo")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    store = KnowledgeStore.open(tmp_path / "store", embedder=hashing)
    first = store.add([root])
    assert first.chunks_embedded > 500 and not first.errors
    second = store.add([root])
    assert second.chunks_embedded == 0 and second.skipped == first.added


def _skipped(report: object) -> dict[str, str]:
    """{file name: reason} of the files an add skipped."""
    return {Path(path).name: reason for path, reason in report.unsupported}  # type: ignore[attr-defined]


def test_an_unreadable_file_is_skipped_and_the_rest_of_the_folder_added(
    tmp_path: Path, hashing: HashingEmbedder, make_pdf: object
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "trunc.pdf").write_bytes(make_pdf(["hello"])[:200])  # type: ignore[operator]
    (docs / "weird.ipynb").write_text('{"cells": 3}')
    (docs / "good.md").write_text("# Good\nkeep this sentence\n")
    store = KnowledgeStore.open(tmp_path / "store", embedder=hashing)
    report = store.add([docs])
    assert report.added == 1 and not report.errors
    skipped = _skipped(report)
    assert skipped["trunc.pdf"].startswith("unreadable PDF: ")
    assert skipped["weird.ipynb"].startswith("not a Jupyter notebook")
    assert [s.source for s in store.list_sources()] == [str(docs / "good.md")]


def test_a_file_without_text_is_skipped_as_no_text_and_headings_alone_are_text(
    tmp_path: Path, hashing: HashingEmbedder
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "heading.md").write_text("# Only a heading\n")
    (docs / "empty.txt").write_text("")
    (docs / "blank.md").write_text("\n  \n")
    (docs / "body.md").write_text("# Body\nsome words\n")
    store = KnowledgeStore.open(tmp_path / "store", embedder=hashing)
    report = store.add([docs])
    assert report.added == 2 and _skipped(report) == {"empty.txt": "no text", "blank.md": "no text"}
    assert store.search("only a heading", k=1)[0].text == "# Only a heading"
    (docs / "body.md").write_text("# Body\n")
    again = store.add([docs])
    assert again.updated == 1 and store.search("body", k=1)[0].text == "# Body"
    (docs / "body.md").write_text("")
    gone = store.add([docs])
    assert gone.removed == 1 and _skipped(gone)["body.md"] == "no text"
    assert [s.source for s in store.list_sources()] == [str(docs / "heading.md")]


def test_a_symlink_out_of_the_folder_is_skipped_unless_named_alone(
    tmp_path: Path, hashing: HashingEmbedder
) -> None:
    secret = tmp_path / "outside" / "secret.md"
    secret.parent.mkdir()
    secret.write_text("# Secret\nroot:x:0:0 password hash\n")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "real.md").write_text("# Real\nfine words\n")
    (docs / "passwd.md").symlink_to(secret)
    (docs / "alias.md").symlink_to(docs / "real.md")  # stays inside: read once, as real.md
    store = KnowledgeStore.open(tmp_path / "store", embedder=hashing)
    report = store.add([docs])
    assert report.added == 1
    assert _skipped(report) == {"passwd.md": f"symlink to {secret}, outside {docs}"}
    assert [s.source for s in store.list_sources()] == [str(docs / "real.md")]
    assert all(h.source != str(secret) for h in store.search("root:x:0:0"))
    assert store.add([docs / "passwd.md"]).added == 1  # the user's explicit choice
    assert str(secret) in {s.source for s in store.list_sources()}


def test_the_size_cap_applies_to_a_lone_file_and_a_folder_alike(
    tmp_path: Path, hashing: HashingEmbedder
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    big = docs / "huge.md"
    big.write_text("# Huge\n" + "x" * (MAX_FILE_BYTES + 1))
    (docs / "small.md").write_text("# Small\nwords\n")
    store = KnowledgeStore.open(tmp_path / "store", embedder=hashing)
    alone = store.add([big])
    assert alone.added == 0 and _skipped(alone) == {"huge.md": "over 2 MB"}
    folder = store.add([docs])
    assert (folder.added, folder.removed) == (1, 0) and _skipped(folder) == {"huge.md": "over 2 MB"}
    assert [s.source for s in store.list_sources()] == [str(docs / "small.md")]


SETEXT = """---
title: Tuning notes
---
Preface words.

Install
=======

Run pip install, then check the wheel.

Gradient boosting depth
-----------------------

Shallow trees of depth three to five generalise best on small tabular data.

- a list item
---

```
Not a heading
-------------
```
"""


def test_setext_headings_and_wide_unicode_text_are_passages_like_any_other(
    tmp_path: Path, hashing: HashingEmbedder
) -> None:
    """A Markdown section underlined by === or --- is its own passage, its heading carried as an
    ATX one's is (front matter, a rule after a list and a code fence are not headings); text saved
    as UTF-16 or UTF-32 with its byte-order mark is text, and NUL bytes without one stay binary."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "notes.md").write_text(SETEXT)
    words = "Learning rate warmup steadies the first epochs of training.\n"
    (docs / "le.txt").write_bytes(words.encode("utf-16"))  # BOM, then little-endian on this machine
    (docs / "be.txt").write_bytes(b"\xfe\xff" + words.replace("Learning", "Momentum").encode("utf-16-be"))
    (docs / "wide.txt").write_bytes(words.replace("Learning", "Dropout").encode("utf-32"))
    (docs / "blob.txt").write_bytes(b"ab\x00cd\x00" * 10)
    store = KnowledgeStore.open(tmp_path / "store", embedder=hashing)
    report = store.add([docs])
    assert _skipped(report) == {"blob.txt": "binary file"}
    assert report.added == 4 and not report.errors
    hits = store.search("depth of boosted trees on small tabular data", k=10)
    section = next(h for h in hits if h.source.endswith("notes.md") and "Shallow trees" in h.text)
    assert section.title == "notes.md: Install > Gradient boosting depth"
    assert "Not a heading" in section.text and "a list item" in section.text  # not headings of their own
    titles = {h.title for h in store.search("tuning notes install", k=10) if h.source.endswith("notes.md")}
    assert titles == {"notes.md", "notes.md: Install", "notes.md: Install > Gradient boosting depth"}
    for name, first in (("le.txt", "Learning"), ("be.txt", "Momentum"), ("wide.txt", "Dropout")):
        found = [h for h in store.search(f"{first} warmup epochs", k=10) if h.source.endswith(name)]
        assert found and found[0].text.startswith(first), name
