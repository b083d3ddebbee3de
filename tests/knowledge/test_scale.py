"""A store past SQLite's 32,766 bound variables. Chroma 1.5.9 reads `get()` of every item's
texts with one variable per item, so a store could not hold more than about 32,700 chunks: the
add that crossed it failed after embedding everything ("too many SQL variables"). Every call
that may name or return many items now goes in pages. Kept cheap: tiny chunks, an 8-dimension
hashing embedder, and batches of 5,000, through the real Chroma."""

from __future__ import annotations

from pathlib import Path

import pytest

import knowledge.store as store_module
from knowledge.embedder import HashingEmbedder
from knowledge.store import KnowledgeStore
from knowledge.vectors import ChunkVectors

FILES, SECTIONS = 33, 1001  # 33,033 chunks


@pytest.mark.slow  # about 35 s on two shared cores: Chroma's own upsert of 33,033 items
def test_a_store_of_more_than_33000_chunks_adds_searches_and_removes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "EMBED_BATCH", 5000)
    docs = tmp_path / "docs"
    docs.mkdir()
    for f in range(FILES):
        (docs / f"f{f}.md").write_text("".join(f"# s{i}\nw{f}x{i}\n" for i in range(SECTIONS)))
    store = KnowledgeStore.open(tmp_path / "store", embedder=HashingEmbedder(dim=8))
    report = store.add([docs])
    assert report.chunks_embedded == FILES * SECTIONS and store.count() == FILES * SECTIONS
    assert store.search("w7x500", k=1)[0].source == str(docs / "f7.md")
    assert store.remove(docs / "f0.md") == 1
    assert store.count() == (FILES - 1) * SECTIONS
    store.close()

    vectors = ChunkVectors(store.root)  # every read of many items, straight from Chroma
    everything = vectors.everything()
    assert len({i for i, _, _, _ in everything}) == (FILES - 1) * SECTIONS
    ids = [i for i, _, _, _ in everything]
    assert len(vectors.hits(ids)) == len(ids)
    assert len(vectors.cosines(HashingEmbedder(dim=8).embed(["w7x500"])[0], ids)) == len(ids)
    vectors.sweep(set(ids[:100]))
    assert vectors.count() == 100
    vectors.close()
