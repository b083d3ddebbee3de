"""What a write will do, planned without Chroma or a model: new, unchanged and vanished files,
a store kept inside the added folder, and a path the user removed before."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.entry import content_hash
from knowledge.errors import EntryNotFound
from knowledge.ingest_plan import Plan, absolute, plan_path, refuse_url
from knowledge.manifest import Manifest


def test_a_plan_sorts_new_unchanged_and_vanished_files_and_leaves_the_store_out(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "store").mkdir(parents=True)
    (project / "store" / "manifest.json").write_text("{}")  # the store's own files: never ingested
    (project / "kept.md").write_text("# Kept\nsame as before\n")
    (project / "new.md").write_text("# New\nfresh words\n")
    manifest = Manifest("hashing", 4)
    manifest.sources = {
        str(project / "kept.md"): {"hash": content_hash((project / "kept.md").read_bytes())},
        str(project / "gone.md"): {"hash": "0"},
    }

    plan = Plan()
    plan_path(project, manifest, plan, store_root=project / "store")

    assert (plan.added, plan.updated, plan.skipped) == (1, 0, 1)
    assert [(source, [c.title for c in chunks]) for source, _, chunks in plan.files] == [
        (str(project / "new.md"), ["new.md: New"])
    ]
    assert plan.removed == [str(project / "gone.md")]
    assert manifest.roots == [str(project)] and not plan.unsupported


def test_a_removed_path_stays_out_of_its_root_until_named_again(tmp_path: Path) -> None:
    (tmp_path / "drafts").mkdir()
    (tmp_path / "drafts" / "draft.md").write_text("# Draft\nnot yet\n")
    (tmp_path / "done.md").write_text("# Done\nfinished\n")
    manifest = Manifest("hashing", 4, roots=[str(tmp_path)], excluded=[str(tmp_path / "drafts")])

    plan = Plan()
    plan_path(tmp_path, manifest, plan, store_root=tmp_path / "store")
    assert [source for source, _, _ in plan.files] == [str(tmp_path / "done.md")]
    assert plan.left_out == {str(tmp_path / "drafts")}

    again = Plan()
    plan_path(tmp_path / "drafts", manifest, again, store_root=tmp_path / "store")
    assert [source for source, _, _ in again.files] == [str(tmp_path / "drafts" / "draft.md")]
    assert manifest.excluded == []


def test_a_url_and_a_missing_path_are_refused_with_their_reason(tmp_path: Path) -> None:
    with pytest.raises(EntryNotFound, match="is a URL"):
        refuse_url("https://example.org/paper.pdf")
    with pytest.raises(EntryNotFound, match="no such file or folder"):
        plan_path(absolute(tmp_path / "missing"), Manifest("hashing", 4), Plan(), store_root=tmp_path)
