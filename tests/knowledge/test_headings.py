"""Markdown headings of either style, through a real store: a document underlined with `===` and
`---` (setext) is split and titled exactly as the same document written with `#` and `##` (ATX),
and a `---` that underlines no paragraph of its own is a thematic break, not a heading."""

from __future__ import annotations

from pathlib import Path

from knowledge.embedder import HashingEmbedder, MiniLMEmbedder
from knowledge.entry import Hit
from knowledge.store import KnowledgeStore

INTRO = "Notes gathered while tuning gradient boosting on tabular data."
RATE = "Halve the learning rate and double the number of estimators when validation loss plateaus."
DEPTH = "Shallow trees of depth three to five generalise best on small tabular data."

ATX = f"# Tuning guide\n\n{INTRO}\n\n## Learning rate\n\n{RATE}\n\n## Tree depth\n\n{DEPTH}\n"
SETEXT = (
    f"Tuning guide\n============\n\n{INTRO}\n\n"
    f"Learning rate\n-------------\n\n{RATE}\n\n"
    f"Tree depth\n----------\n\n{DEPTH}\n"
)


def _passages(store: KnowledgeStore, file: Path) -> list[Hit]:
    """Every passage the store holds for `file`, in document order."""
    ids = store.manifest().sources[str(file)]["chunk_ids"]
    return store.hits_for(ids)  # type: ignore[arg-type]


def _outline(hits: list[Hit], file: Path) -> list[tuple[str, tuple[str, ...], str]]:
    """(title without the file name, links, last line of text) of each passage: what the heading
    style must not change (the heading lines themselves, and so the line numbers, differ)."""
    prefix = f"{file.name}: "
    return [(h.title.removeprefix(prefix), h.links, h.text.splitlines()[-1]) for h in hits]


def test_a_setext_document_is_split_and_titled_as_its_atx_twin(
    tmp_path: Path, minilm: MiniLMEmbedder
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    atx, setext = docs / "atx.md", docs / "setext.md"
    atx.write_text(ATX)
    setext.write_text(SETEXT)
    store = KnowledgeStore.open(tmp_path / "store", embedder=minilm)
    report = store.add([docs])
    assert report.added == 2 and not report.unsupported and not report.errors

    expected = [
        ("Tuning guide", (), INTRO),
        ("Tuning guide > Learning rate", ("Tuning guide",), RATE),
        ("Tuning guide > Tree depth", ("Tuning guide",), DEPTH),
    ]
    assert _outline(_passages(store, atx), atx) == expected
    assert _outline(_passages(store, setext), setext) == expected
    depth = next(h for h in _passages(store, setext) if h.text.endswith(DEPTH))
    assert depth.text.startswith("Tree depth\n----------") and depth.location == "lines 11-14"

    hits = store.search("how deep should the boosted trees be", k=4)
    found = next(h for h in hits if h.source == str(setext))
    assert found.title == "setext.md: Tuning guide > Tree depth" and DEPTH in found.text


RULES = """---
title: Front matter, closed by a rule under a key
---
A paragraph, a blank line, then a rule.

---

- a list item
wrapped without indent
---

> a quote
---

<!-- a comment -->
---

```
Inside a fence
--------------
```

Wrapped title
    with an indented second line
---
The only heading of this document.
"""


def test_a_rule_that_underlines_no_paragraph_of_its_own_is_no_heading(
    tmp_path: Path, hashing: HashingEmbedder
) -> None:
    """A `---` opening the document (alone or around front matter), after a blank line, under a
    list item or quote it continues, under HTML or inside a fence is a thematic break, front
    matter or code; a paragraph whose second line is indented still makes a heading, and a
    heading with nothing under it is no passage, as an empty ATX one is not."""
    docs = tmp_path / "docs"
    docs.mkdir()
    notes, opening = docs / "rules.md", docs / "opening.md"
    notes.write_text(RULES + "\nEmpty two-line\nheading\n==============\n# Next\nLast words.\n")
    opening.write_text("---\nWords under a rule that opens the document.\n")
    store = KnowledgeStore.open(tmp_path / "store", embedder=hashing)
    assert store.add([docs]).added == 2
    assert [h.title for h in _passages(store, opening)] == ["opening.md"]
    passages = _passages(store, notes)
    assert [h.title for h in passages] == [
        "rules.md",
        "rules.md: Wrapped title with an indented second line",
        "rules.md: Next",
    ]
    preamble = passages[0].text
    for line in (
        "title: Front",
        "wrapped without indent",
        "> a quote",
        "<!-- a comment -->",
        "Inside a fence",
    ):
        assert line in preamble
    assert passages[1].text.endswith("The only heading of this document.")
    assert passages[2].text == "# Next\nLast words."
