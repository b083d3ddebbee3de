"""Chunking per format: which file becomes which chunks.

`chunk_file(path, data)` dispatches on the file's name and content:
Python by `ast`; Markdown and reStructuredText by heading; PDFs by page;
notebooks by cell; playbooks (Markdown or YAML, see `playbook`) by typed
section; any other text by size-bounded line windows. Text is UTF-8, or UTF-16
or UTF-32 when the file opens with that byte-order mark. Binary files, files that
fail to decode and files malformed for their format (a truncated PDF, a notebook
without a cell list) raise `UnsupportedFile` with a one-line reason, and are
reported as skipped.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from knowledge.chunkers.markdown import chunk_markdown, chunk_rst
from knowledge.chunkers.notebook import chunk_notebook
from knowledge.chunkers.pdf import chunk_pdf
from knowledge.chunkers.playbook import chunk_playbook, is_playbook
from knowledge.chunkers.python import chunk_python
from knowledge.chunkers.text import MAX_CHARS, chunk_text
from knowledge.chunkers.unsupported import UnsupportedFile
from knowledge.entry import Chunk, EntryType

__all__ = ["MAX_CHARS", "UnsupportedFile", "chunk_file"]

_CODE = {
    ".c", ".h", ".cc", ".cpp", ".hpp", ".cu", ".rs", ".go", ".java", ".js", ".ts", ".tsx", ".jsx",
    ".sh", ".bash", ".toml", ".cfg", ".ini", ".json", ".yaml", ".yml", ".sql", ".r", ".jl", ".m",
    ".f90", ".cmake", ".mk", ".pyx", ".pxd", ".pyi",
}  # fmt: skip


_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: its BOM begins with that one
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _decode(data: bytes) -> str:
    """The file's text. A UTF-8 byte-order mark (Windows editors write one) is dropped: kept, it
    would hide a Markdown file's first heading, make `ast` reject a Python file (chunked then as
    plain text, without its functions) and `json` reject a notebook. A file that opens with a
    UTF-16 or UTF-32 byte-order mark (Windows' "Unicode" in Notepad, PowerShell's `>` redirect)
    is text in that encoding: its NUL bytes made it look binary. NUL bytes without such a mark
    are a binary file."""
    for bom, encoding in _WIDE_BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(encoding)  # the codec reads the mark for the byte order, then drops it
            except UnicodeDecodeError:
                raise UnsupportedFile(
                    f"not {encoding.upper()} text, though it opens with its byte-order mark"
                ) from None
            if "\x00" in text[:8192]:
                raise UnsupportedFile("binary file")
            return text
    if b"\x00" in data[:8192]:
        raise UnsupportedFile("binary file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnsupportedFile("not UTF-8 text") from None


def chunk_file(path: Path, data: bytes) -> list[Chunk]:
    """Chunks of one file, given its bytes. Raises UnsupportedFile or ValueError (malformed playbook)."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return chunk_pdf(data, path.name)
    text = _decode(data)
    if is_playbook(path, text):
        return chunk_playbook(path, text)
    if suffix in (".py", ".pyw"):
        return chunk_python(text, path.stem)
    if suffix in (".md", ".markdown"):
        return chunk_markdown(text, path.name)
    if suffix == ".rst":
        return chunk_rst(text, path.name)
    if suffix == ".ipynb":
        return chunk_notebook(text, path.name)
    kind = (
        EntryType.IMPLEMENTATION
        if suffix in _CODE or path.name in ("Makefile", "Dockerfile")
        else EntryType.REFERENCE
    )
    return chunk_text(text, kind, path.name, 1, MAX_CHARS)
