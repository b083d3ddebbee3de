"""PDFs: the text of each page is a chunk (long pages are cut by lines); location `page N`."""

from __future__ import annotations

import io

from knowledge.chunkers.text import MAX_CHARS, line_windows
from knowledge.entry import Chunk, EntryType


def chunk_pdf(data: bytes, doc_title: str = "") -> list[Chunk]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    chunks = []
    for number, page in enumerate(reader.pages, start=1):
        text = (page.extract_text() or "").strip()
        windows = line_windows(text.splitlines(), MAX_CHARS)
        for part, (_, _, body) in enumerate(windows):
            suffix = f" part {part + 1}" if len(windows) > 1 else ""
            key = f"page {number}{suffix}"
            chunks.append(Chunk(body, EntryType.REFERENCE, key, key, doc_title))
    return chunks
