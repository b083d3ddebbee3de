"""Chunking per format: Python by ast, Markdown/RST by heading, PDF by page, notebooks by cell, playbooks."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from knowledge.chunkers import MAX_CHARS, UnsupportedFile, chunk_file
from knowledge.chunkers.markdown import chunk_markdown, chunk_rst
from knowledge.chunkers.text import line_windows
from knowledge.entry import EntryType

PY = '''"""Module doc."""
import os

LIMIT = 3


@decorated
def top(a: int, b: int = 2) -> int:
    """Add things."""
    return a + b


class Store:
    """A store."""

    def get(self, key):
        return key

    async def put(self, key, value):
        pass
'''


def test_python_splits_by_function_class_and_method_with_links_and_lines() -> None:
    chunks = chunk_file(Path("pkg/things.py"), PY.encode())
    by_key = {c.key: c for c in chunks}
    assert {"top", "Store", "Store.get", "Store.put"} <= set(by_key)
    assert by_key["top"].text.startswith("@decorated\ndef top")
    assert by_key["top"].location == "lines 7-10"
    assert by_key["top"].title == "things.top"
    assert by_key["Store.get"].links == ("Store",)
    assert "def get(self, key)" in by_key["Store"].text and "async def put" in by_key["Store"].text
    module = [c for c in chunks if c.key.startswith("module@")]
    assert module and "LIMIT = 3" in module[0].text
    assert all(c.type is EntryType.IMPLEMENTATION for c in chunks)


def test_python_definitions_in_platform_branches_are_found_and_heads_lead_with_the_docstring() -> None:
    source = 'import os\nif os.name == "nt":\n    def usage():\n        """Disk use on Windows."""\nelse:\n    def usage():\n        """Disk use elsewhere."""\n'
    chunks = [c for c in chunk_file(Path("du.py"), source.encode()) if c.key == "usage"]
    assert [c.location for c in chunks] == ["lines 3-4", "lines 6-7"]
    assert chunks[1].embedding_text().startswith("du.usage: Disk use elsewhere.")


def test_python_that_does_not_parse_falls_back_to_line_windows() -> None:
    chunks = chunk_file(Path("bad.py"), b"def broken(:\n    pass\n")
    assert len(chunks) == 1 and chunks[0].location == "lines 1-2"


def test_huge_function_is_cut_into_bounded_windows_that_keep_its_name() -> None:
    body = "\n".join(f"    x{i} = {i}  # filler line to make it long" for i in range(400))
    chunks = chunk_file(Path("big.py"), f"def big():\n{body}\n".encode())
    assert len(chunks) > 2
    assert all(len(c.text) <= MAX_CHARS and c.title == "big.big" for c in chunks)


def test_markdown_by_heading_with_paths_links_and_fences() -> None:
    text = "# Guide\nintro\n\n## Install\nrun pip\n```\n# not a heading\n```\n### From source\nclone it\n## Use\ngo\n"
    chunks = chunk_file(Path("guide.md"), text.encode())
    keys = [c.key for c in chunks]
    assert keys == ["Guide", "Guide > Install", "Guide > Install > From source", "Guide > Use"]
    install = chunks[1]
    assert "# not a heading" in install.text and install.links == ("Guide",)
    assert chunks[2].location == "lines 9-10"
    assert chunks[0].type is EntryType.REFERENCE


def test_rst_headings_follow_adornment_order() -> None:
    text = "=====\nTitle\n=====\n\nIntro.\n\nUsage\n-----\n\nCall it.\n\nDetails\n~~~~~~~\n\nMore.\n"
    chunks = chunk_file(Path("doc.rst"), text.encode())
    assert [c.key for c in chunks] == ["Title", "Title > Usage", "Title > Usage > Details"]


def test_notebook_cells_typed_by_kind() -> None:
    nb = {"cells": [
        {"cell_type": "markdown", "source": ["# Title\n", "words"]},
        {"cell_type": "code", "source": "import numpy as np\nnp.zeros(3)", "outputs": [{"text": "ignored"}]},
        {"cell_type": "code", "source": ""},
    ]}  # fmt: skip
    chunks = chunk_file(Path("a.ipynb"), json.dumps(nb).encode())
    assert [(c.location, c.type) for c in chunks] == [
        ("cell 1", EntryType.REFERENCE),
        ("cell 2", EntryType.IMPLEMENTATION),
    ]
    assert "ignored" not in chunks[1].text


def test_pdf_text_per_page(make_pdf: Callable[[list[str]], bytes]) -> None:
    chunks = chunk_file(Path("paper.pdf"), make_pdf(["Gradient noise scale", "Learning rate warmup"]))
    assert [c.location for c in chunks] == ["page 1", "page 2"]
    assert "warmup" in chunks[1].text


def test_yaml_playbook_typed_sections_and_links() -> None:
    text = """playbook: GBM tuning
sections:
  - id: lr-first
    type: heuristic
    title: Tune the learning rate first
    text: Halve the learning rate and double n_estimators.
    links: [oom-depth]
  - id: oom-depth
    type: environment constraint
    title: Deep trees run out of memory
    text: max_depth above 12 needs more than 2 GiB.
"""
    chunks = chunk_file(Path("gbm.playbook.yaml"), text.encode())
    assert [(c.key, c.type) for c in chunks] == [
        ("lr-first", EntryType.HEURISTIC),
        ("oom-depth", EntryType.ENVIRONMENT),
    ]
    assert chunks[0].links == ("oom-depth",) and chunks[0].title == "GBM tuning: Tune the learning rate first"


def test_markdown_playbook_and_unknown_type_is_an_error_naming_the_section() -> None:
    text = "---\nplaybook: Sorting\n---\nignored preface\n## workflow: Profile first\nRun py-spy.\nLinks: use-timsort\n\n## heuristic: Use timsort\nIt is adaptive.\n"
    chunks = chunk_file(Path("notes.md"), text.encode())
    assert [(c.key, c.type, c.links) for c in chunks] == [
        ("profile-first", EntryType.WORKFLOW, ("use-timsort",)),
        ("use-timsort", EntryType.HEURISTIC, ()),
    ]
    assert chunks[0].location == "lines 5-8" and "ignored" not in chunks[0].text
    with pytest.raises(ValueError, match="Typo section"):
        chunk_file(Path("x.playbook.md"), b"## heuristc: Typo section\nbody\n")


def test_line_windows_respect_lines_and_bound() -> None:
    lines = [f"line {i} " + "x" * 50 for i in range(100)] + ["y" * 4000]
    windows = line_windows(lines, 500)
    assert all(len(text) <= 500 for _, _, text in windows)
    assert windows[0][0] == 1 and windows[1][0] == windows[0][1] + 1
    joined = "\n".join(text for _, _, text in windows[:-8])
    assert joined.splitlines() == lines[: len(joined.splitlines())]


def test_binary_and_non_utf8_are_unsupported() -> None:
    with pytest.raises(UnsupportedFile):
        chunk_file(Path("blob.dat"), b"\x00\x01\x02")
    with pytest.raises(UnsupportedFile):
        chunk_file(Path("latin.txt"), "caf\xe9".encode("latin-1"))


def test_truncated_pdf_is_unsupported_without_pypdf_log_noise(
    make_pdf: Callable[[list[str]], bytes], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for data in (make_pdf(["hello world"])[:200], b"%PDF-1.4\n garbage", b"not a pdf at all"):
        with pytest.raises(UnsupportedFile, match="^unreadable PDF: "):
            chunk_file(Path("trunc.pdf"), data)
    assert not [r.getMessage() for r in caplog.records if r.name.startswith("pypdf")]


@pytest.mark.parametrize("text", ['{"cells": 3}', "[1, 2]", '"cells"', '{"cells": {"a": 1}}'])
def test_json_that_is_not_a_notebook_is_unsupported(text: str) -> None:
    with pytest.raises(UnsupportedFile, match="not a Jupyter notebook"):
        chunk_file(Path("weird.ipynb"), text.encode())


def test_odd_cells_inside_a_notebook_are_passed_over() -> None:
    nb = {"cells": [3, {"source": 5}, {"source": ["ok", 7]}, "x", {"cell_type": "code", "source": "y = 1"}]}
    chunks = chunk_file(Path("odd.ipynb"), json.dumps(nb).encode())
    assert [(c.location, c.text) for c in chunks] == [("cell 3", "ok"), ("cell 5", "y = 1")]


def test_a_document_of_headings_alone_is_one_passage_of_its_headings() -> None:
    """An outline or a stub README (`# Project`) was skipped as "no text"; a heading with nothing
    under it in a document with body text is still no passage of its own."""
    [outline] = chunk_markdown("# Project\n## Install\n\n## Usage\n", "README.md")
    assert outline.text == "# Project\n## Install\n\n## Usage" and outline.location == "lines 1-4"
    [rst] = chunk_rst("Title\n=====\n\nPart\n----\n", "index.rst")
    assert rst.text == "Title\n=====\n\nPart\n----"
    assert [c.title for c in chunk_markdown("# A\n## B\nwords\n", "x.md")] == ["x.md: A > B"]
    assert chunk_markdown("\n \n", "x.md") == []
