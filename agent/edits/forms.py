"""Edit forms: what a model's answer asks to change, once parsed (SEARCH/REPLACE blocks, whole files)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SearchReplace:
    """Replace the lines `search` with `replace` in `path`. `number` counts edits in the answer, from 1."""

    number: int
    path: str
    search: str
    replace: str
    guessed: bool = False  # the path was picked out of a sentence: it may edit, never create, a file

    def describe(self) -> str:
        return f"SEARCH block {self.number} for {self.path}"


@dataclass(frozen=True)
class WholeFile:
    number: int
    path: str
    text: str
    guessed: bool = False  # the path was picked out of a sentence: it may replace, never create, a file

    def describe(self) -> str:
        return f"whole file {self.number} ({self.path})"


Edit = SearchReplace | WholeFile


@dataclass(frozen=True)
class ParsedAnswer:
    """A model's answer taken apart: its plan in words, its edits, a request for more turns."""

    plan: str
    edits: tuple[Edit, ...]
    extend: str | None = None
    notes: tuple[str, ...] = ()  # problems found while parsing, phrased for the model
