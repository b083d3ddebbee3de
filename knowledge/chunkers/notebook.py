"""Jupyter notebooks: one chunk per non-empty cell (outputs dropped); location `cell N`.

Code cells are `implementation`, Markdown cells `reference`. The .ipynb JSON
is read directly: nbformat would add a dependency to read two fields. Because
it is read by hand, its shape is checked here: JSON that is not a notebook
(no object, `cells` not a list) raises `UnsupportedFile` so the file is skipped
with a reason instead of failing the whole `add`; odd cells inside a real
notebook are passed over.
"""

from __future__ import annotations

import json

from knowledge.chunkers.text import MAX_CHARS, line_windows
from knowledge.chunkers.unsupported import UnsupportedFile
from knowledge.entry import Chunk, EntryType


def _cells(text: str) -> list[object]:
    """The notebook's cell list; raises UnsupportedFile when the JSON is not a notebook."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise UnsupportedFile(f"not a Jupyter notebook: {error}") from None
    cells = data.get("cells", []) if isinstance(data, dict) else None
    if not isinstance(cells, list):
        raise UnsupportedFile("not a Jupyter notebook: no list of cells")
    return cells


def _source(cell: object) -> str:
    """A cell's source text ('' for a cell that is not an object or has no text source)."""
    source = cell.get("source", "") if isinstance(cell, dict) else ""
    if isinstance(source, list):
        return "".join(line for line in source if isinstance(line, str))
    return source if isinstance(source, str) else ""


def chunk_notebook(text: str, doc_title: str = "") -> list[Chunk]:
    chunks = []
    for number, cell in enumerate(_cells(text), start=1):
        body = _source(cell)
        if not body.strip():
            continue
        code = isinstance(cell, dict) and cell.get("cell_type") == "code"
        kind = EntryType.IMPLEMENTATION if code else EntryType.REFERENCE
        windows = line_windows(body.splitlines(), MAX_CHARS)
        for part, (_, _, piece) in enumerate(windows):
            key = f"cell {number}" + (f" part {part + 1}" if len(windows) > 1 else "")
            chunks.append(Chunk(piece, kind, key, key, doc_title))
    return chunks
