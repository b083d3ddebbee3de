"""Text saved as UTF-16 or UTF-32 with its byte-order mark (Windows' "Unicode" in Notepad,
PowerShell's `>` redirect) is added from a folder as text, with its structure; NUL bytes with no
such mark stay binary, and a file that opens with the mark but does not decode says so."""

from __future__ import annotations

import codecs
from pathlib import Path

from knowledge.embedder import HashingEmbedder
from knowledge.store import KnowledgeStore

MARKDOWN = "Warmup\n======\n\nRaise the learning rate over the first epochs, then decay it.\n"
PYTHON = 'def clip(grads):\n    """Clip gradient norms at one."""\n    return grads\n'


def test_wide_unicode_files_in_a_folder_are_text_with_their_structure(
    tmp_path: Path, hashing: HashingEmbedder
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "warmup.md").write_bytes(codecs.BOM_UTF16_LE + MARKDOWN.encode("utf-16-le"))
    (docs / "clip.py").write_bytes(codecs.BOM_UTF16_BE + PYTHON.encode("utf-16-be"))
    (docs / "wide.md").write_bytes(
        codecs.BOM_UTF32_BE + MARKDOWN.replace("Warmup", "Decay").encode("utf-32-be")
    )
    (docs / "no-mark.txt").write_bytes("Words with no byte-order mark.\n".encode("utf-16-le"))
    (docs / "cut.txt").write_bytes(codecs.BOM_UTF16_LE + "odd".encode("utf-16-le") + b"!")
    store = KnowledgeStore.open(tmp_path / "store", embedder=hashing)

    report = store.add([docs])

    skipped = {Path(path).name: reason for path, reason in report.unsupported}
    assert skipped == {
        "no-mark.txt": "binary file",
        "cut.txt": "not UTF-16 text, though it opens with its byte-order mark",
    }
    assert report.added == 3 and not report.errors
    titles = {Path(h.source).name: h.title for h in store.search("learning rate epochs gradient norms", k=10)}
    assert titles == {"warmup.md": "warmup.md: Warmup", "wide.md": "wide.md: Decay", "clip.py": "clip.clip"}
    [clip] = [h for h in store.search("clip gradient norms", k=3) if h.source.endswith("clip.py")]
    assert clip.text.startswith("def clip(grads):") and "\x00" not in clip.text
