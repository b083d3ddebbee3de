"""Jupyter notebooks: one chunk per non-empty cell (outputs dropped); location `cell N`.

Code cells are `implementation`, Markdown cells `reference`. The .ipynb JSON
is read directly: nbformat would add a dependency to read two fields.
"""

from __future__ import annotations

import json

from knowledge.chunkers.text import MAX_CHARS, line_windows
from knowledge.entry import Chunk, EntryType


def chunk_notebook(text: str, doc_title: str = "") -> list[Chunk]:
    try:
        cells = json.loads(text).get("cells", [])
    except (json.JSONDecodeError, AttributeError) as error:
        raise ValueError(f"not a Jupyter notebook: {error}") from error
    chunks = []
    for number, cell in enumerate(cells, start=1):
        source = cell.get("source", "")
        body = "".join(source) if isinstance(source, list) else str(source)
        if not body.strip():
            continue
        kind = EntryType.IMPLEMENTATION if cell.get("cell_type") == "code" else EntryType.REFERENCE
        windows = line_windows(body.splitlines(), MAX_CHARS)
        for part, (_, _, piece) in enumerate(windows):
            key = f"cell {number}" + (f" part {part + 1}" if len(windows) > 1 else "")
            chunks.append(Chunk(piece, kind, key, key, doc_title))
    return chunks
