"""PDFs: the text of each page is a chunk (long pages are cut by lines); location `page N`.

pypdf raises many exception types on malformed files (its own errors, but
also KeyError, TypeError, ...), so any failure while reading becomes
`UnsupportedFile`: one bad PDF is skipped, not fatal to a folder. pypdf also
logs warnings ("invalid pdf header") that would reach the terminal through
Python's last-resort handler; its logger is quietened, since we
report the outcome ourselves.
"""

from __future__ import annotations

import io
import logging

from knowledge.chunkers.text import MAX_CHARS, line_windows
from knowledge.chunkers.unsupported import UnsupportedFile
from knowledge.entry import Chunk, EntryType


def _page_texts(data: bytes) -> list[str]:
    """Text of each page; raises UnsupportedFile with a one-line reason if pypdf cannot read it."""
    logging.getLogger("pypdf").setLevel(logging.CRITICAL)
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        return [(page.extract_text() or "").strip() for page in reader.pages]
    except Exception as error:  # noqa: BLE001 - pypdf's failure modes are not one exception type
        detail = " ".join(str(error).split()) or type(error).__name__
        raise UnsupportedFile(f"unreadable PDF: {detail}") from None


def chunk_pdf(data: bytes, doc_title: str = "") -> list[Chunk]:
    chunks = []
    for number, text in enumerate(_page_texts(data), start=1):
        windows = line_windows(text.splitlines(), MAX_CHARS)
        for part, (_, _, body) in enumerate(windows):
            suffix = f" part {part + 1}" if len(windows) > 1 else ""
            key = f"page {number}{suffix}"
            chunks.append(Chunk(body, EntryType.REFERENCE, key, key, doc_title))
    return chunks
