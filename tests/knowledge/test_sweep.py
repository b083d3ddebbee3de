"""Corpora as users have them: an `add` interrupted half-way, copies of a file, files saved with a
byte-order mark, a URL where a path belongs. Found by ingesting this repository and its docs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app
from agent.errors import UserError
from knowledge.chunkers import chunk_file
from knowledge.embedder import HashingEmbedder, MiniLMEmbedder
from knowledge.errors import EntryNotFound, StoreUnavailable
from knowledge.sources import MAX_FILE_BYTES
from knowledge.store import EMBED_BATCH, KnowledgeStore

BOM = b"\xef\xbb\xbf"


def _sections(count: int, word: str) -> str:
    return "".join(
        f"## Section {n}\nThe {word} note number {n} about kernel tuning.\n\n" for n in range(count)
    )


def _interrupted_add(tmp_path: Path, embedder: HashingEmbedder) -> tuple[KnowledgeStore, Path, Path]:
    """A store holding kept.md, and an `add` of big/ stopped by Ctrl-C after its first batch was stored."""
    kept, big = tmp_path / "kept.md", tmp_path / "big"
    kept.write_text("# Kept\nA committed note about zyxwv kernels.\n")
    big.mkdir()
    (big / "many.md").write_text(_sections(EMBED_BATCH + 44, "zyxwv"))
    store = KnowledgeStore.open(tmp_path / "store", embedder=embedder)
    store.add([kept])

    def ctrl_c(done: int, total: int) -> None:
        if done:  # after the first batch is stored, before the write commits
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.add([big], progress=ctrl_c)
    return store, kept, big


def test_an_interrupted_add_leaves_nothing_that_search_returns(
    tmp_path: Path, hashing: HashingEmbedder
) -> None:
    store, kept, _ = _interrupted_add(tmp_path, hashing)
    assert [s.source for s in store.list_sources()] == [str(kept)]
    hits = store.search("zyxwv note about kernel tuning", k=5)
    assert [h.source for h in hits] == [str(kept)]  # not the vectors the interrupted add left
    assert store.search_dense("zyxwv note", k=3) == [hits[0].chunk_id]


def test_running_an_interrupted_add_again_resumes_it(tmp_path: Path, hashing: HashingEmbedder) -> None:
    store, _, big = _interrupted_add(tmp_path, hashing)
    resumed = store.add([big])
    assert (resumed.added, resumed.chunks_embedded) == (1, 44)  # the stored first batch is kept
    assert store.count() == 1 + EMBED_BATCH + 44
    assert store.search("zyxwv note number 7", k=1)[0].source == str(big / "many.md")


def test_a_missing_lexical_index_is_reported_not_searched_as_empty(
    tmp_path: Path, hashing: HashingEmbedder
) -> None:
    (tmp_path / "a.md").write_text("# A\nwords about kernels\n")
    store = KnowledgeStore.open(tmp_path / "store", embedder=hashing)
    store.add([tmp_path / "a.md"])
    shutil.rmtree(tmp_path / "store" / "lexical")
    fresh = KnowledgeStore.open(tmp_path / "store", embedder=hashing)
    with pytest.raises(StoreUnavailable, match="lexical index .* is missing; rebuild"):
        fresh.search("kernels")


def test_copies_of_a_file_do_not_fill_the_results(tmp_path: Path, minilm: MiniLMEmbedder) -> None:
    docs = tmp_path / "docs"
    (docs / "vendored").mkdir(parents=True)
    text = (
        "# Memory\nHalve the batch size when CUDA runs out of memory.\n\n"
        "# Seeds\nFix the numpy and torch seeds for reproducible runs.\n"
    )
    (docs / "guide.md").write_text(text)
    (docs / "vendored" / "guide.md").write_text(text)
    (docs / "oom.md").write_text("# OOM\nGradient checkpointing trades compute for memory.\n")
    store = KnowledgeStore.open(tmp_path / "store", embedder=minilm)
    assert store.add([docs]).added == 3
    hits = store.search("out of memory during training", k=3)
    texts = [" ".join(h.text.split()) for h in hits]
    assert len(hits) == 3 and len(set(texts)) == 3, texts


def test_a_byte_order_mark_does_not_hide_a_files_structure() -> None:
    python = BOM + b'def train(model):\n    """Train with early stopping."""\n    return model\n'
    assert [c.title for c in chunk_file(Path("fit.py"), python)] == ["fit.train"]
    markdown = BOM + b"# Install\npip install strop\n"
    assert chunk_file(Path("doc.md"), markdown)[0].title == "doc.md: Install"
    notebook = BOM + b'{"cells": [{"cell_type": "code", "source": "x = 1"}]}'
    [cell] = chunk_file(Path("nb.ipynb"), notebook)
    assert (cell.text, cell.location) == ("x = 1", "cell 1")


def test_a_url_is_refused_as_a_url(tmp_path: Path, hashing: HashingEmbedder) -> None:
    store = KnowledgeStore.open(tmp_path / "store", embedder=hashing)
    with pytest.raises(EntryNotFound, match="is a URL: the knowledge store reads local files"):
        store.add(["https://example.com/paper.pdf"])
    result = CliRunner().invoke(app, ["knowledge", "add", "https://example.com/paper.pdf"])
    assert isinstance(result.exception, UserError)  # the CLI prints it as one line, exit 2
    assert str(result.exception).startswith("https://example.com/paper.pdf is a URL:")


def test_asking_for_more_hits_than_the_candidate_depth_gets_them(
    tmp_path: Path, hashing: HashingEmbedder
) -> None:
    (tmp_path / "notes.md").write_text(_sections(60, "tuning"))
    store = KnowledgeStore.open(tmp_path / "store", embedder=hashing)
    store.add([tmp_path / "notes.md"])
    assert len(store.search("kernel tuning", k=50, depth=30)) == 50
    assert len(store.search("unrelated words", k=45)) == 45


def test_a_notebook_with_megabytes_of_plots_is_ingested(tmp_path: Path, hashing: HashingEmbedder) -> None:
    plot = {"output_type": "display_data", "data": {"image/png": "iVBORw0KGgo" * 300_000}}  # ~3.3 MB
    cells = [
        {"cell_type": "markdown", "source": ["# Learning-rate sweep\n", "Warmup, then cosine decay."]},
        {"cell_type": "code", "source": "plot(losses)", "outputs": [plot]},
    ]
    notebook = tmp_path / "docs" / "sweep.ipynb"
    notebook.parent.mkdir()
    notebook.write_text(json.dumps({"cells": cells, "nbformat": 4}))
    assert notebook.stat().st_size > MAX_FILE_BYTES
    store = KnowledgeStore.open(tmp_path / "store", embedder=hashing)
    report = store.add([notebook.parent])
    assert (report.added, report.unsupported) == (1, ())
    assert [h.location for h in store.search("learning-rate warmup cosine", k=1)] == ["cell 1"]


def test_a_store_inside_an_added_folder_does_not_ingest_itself(
    tmp_path: Path, hashing: HashingEmbedder
) -> None:
    (tmp_path / "notes.md").write_text("# Notes\nkernel tuning\n")
    store = KnowledgeStore.open(tmp_path / "strop-home" / "knowledge", embedder=hashing)
    assert store.add([tmp_path]).added == 1
    again = store.add([tmp_path])
    assert (again.added, again.updated, again.skipped, again.unsupported) == (0, 0, 1, ())
    assert [s.source for s in store.list_sources()] == [str(tmp_path / "notes.md")]
