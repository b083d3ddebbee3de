"""The answer parser: a model's answer taken apart into its plan, its edits and an `EXTEND:` request.

The formats it reads are described in `agent.edits`. Written by hand: they are conventions of
LLM output, not a grammar any parsing library knows, and the notes it leaves speak to the model.
"""

from __future__ import annotations

import re

from agent.edits.forms import Edit, ParsedAnswer, SearchReplace, WholeFile
from agent.edits.markers import FENCE, REPLACE, SEARCH, closing_fence, search_block_bounds

# matched on the stripped line, each run of spaces taken by one token only: the form with \s*\**\s*
# tried every split of a long run of spaces (a 200,000-space line took minutes: quadratic)
_EXTEND = re.compile(r"(?:\*+\s*)?EXTEND\s*(?:\*+\s*)?:\s*(?:\*+\s*)?(?P<reason>.*\S)")
_INFO_PATH = re.compile(r"""(?:path|file|filename|title)\s*=\s*["']?(?P<path>[^"'\s]+)["']?""", re.IGNORECASE)
_PATH_PREFIX = re.compile(r"^(?:#+\s*)?(?:file(?:name)?|path)\s*:\s*", re.IGNORECASE)
_PATH_TOKEN = re.compile(r"^[\w.\-/+@~]+$")
_QUOTED_PATH = re.compile(r"`([\w.\-/+@~]+)`")
# a file name in prose: a stem and one of the extensions an answer's files have
_FILE_NAME = re.compile(
    r"[\w.\-/+@~]*\.(?:py|pyi|ipynb|txt|md|rst|json|jsonl|toml|yaml|yml|cfg|ini|csv|tsv|c|h|cc|cpp|hpp|cu|rs"
    r"|go|js|ts|java|sh|r|jl|sql|html|css|xml|mk)\b",
    re.IGNORECASE,
)
UNAPPLIED_BLOCK = "was not applied: the line before it"
"""In the note on a block that creates or appends code under a line naming another file: such a
block is left out (its code would land in the previous block's file), so the answer is sent back."""
DIFF_NOTE = "a unified diff was not applied: send SEARCH/REPLACE blocks (or whole files) instead."


def _guessed_path(raw: str) -> str | None:
    """The one backticked path in a prose line ("Here is `model.py`:"), or None."""
    text = raw.strip().strip("*").strip()
    text = _PATH_PREFIX.sub("", text).strip().strip("*").strip().rstrip(":").strip()
    text = text.strip("`").strip().rstrip(":").strip("*").strip()
    text = re.sub(r"^#+\s*", "", text)
    if text and _PATH_TOKEN.match(text):
        return None  # the line is a path of its own, not prose
    return _clean_path(raw, strict=True)


def _clean_path(raw: str, strict: bool) -> str | None:
    """A path from a line like `**File: model.py**:`; None when the line is prose, not a path."""
    text = raw.strip()
    prefixed = bool(_PATH_PREFIX.match(text.strip("*`# ")))
    text = text.strip("*").strip()
    text = _PATH_PREFIX.sub("", text).strip()
    text = text.strip("*").strip().rstrip(":").strip()
    quoted = text.startswith("`") and text.endswith("`") and len(text) > 2
    text = text.strip("`").strip().rstrip(":").strip("*").strip()
    text = re.sub(r"^#+\s*", "", text)
    if not text or not _PATH_TOKEN.match(text):
        quoted_paths = [t for t in _QUOTED_PATH.findall(raw) if "." in t or "/" in t]
        return _relative(quoted_paths[0]) if len(quoted_paths) == 1 else None
    if strict and not (prefixed or quoted or "." in text or "/" in text):
        return None
    if text.endswith(".") and not prefixed and not quoted:
        return None  # a one-word sentence ("Done."), not a file name
    return _relative(text)


def _relative(path: str) -> str:
    """`path` without a leading `./`; `./` alone stays, so that the guard says it names a folder."""
    return path.removeprefix("./") or path


def _info_path(info: str) -> str | None:
    """The path named by a fence's info string (```python path=x.py, or ```x.py)."""
    if match := _INFO_PATH.search(info):
        return _relative(match.group("path"))
    tokens = info.split()
    if len(tokens) == 1 and ("." in tokens[0] or "/" in tokens[0]) and _PATH_TOKEN.match(tokens[0]):
        return _relative(tokens[0])
    if len(tokens) == 1 and ":" in tokens[0]:  # ```python:model.py
        tail = tokens[0].split(":", 1)[1]
        if tail and _PATH_TOKEN.match(tail):
            return _relative(tail)
    return None


def _previous_nonblank(lines: list[str], index: int, floor: int) -> int | None:
    i = index - 1
    while i >= floor and not lines[i].strip():
        i -= 1
    return i if i >= floor else None


class _Parser:
    def __init__(self, text: str, cut: bool = False) -> None:
        self.cut = cut
        self.lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        self.edits: list[Edit] = []
        self.notes: list[str] = []
        self.prose: dict[int, str] = {}  # line index -> prose line; path lines are taken out
        self.extend: str | None = None
        self.last_path: str | None = None
        self.last_guessed = False
        self.guessed = False
        self.unnamed = 0

    def run(self) -> ParsedAnswer:
        i = 0
        lines = self.lines
        while i < len(lines):
            line = lines[i]
            if SEARCH.match(line):
                i = self._search_block(i, fence_info=None, fence_start=None)
                continue
            if fence := FENCE.match(line):
                i = self._fenced(i, fence.group("fence"), fence.group("info"))
                continue
            if "EXTEND" in line and (match := _EXTEND.match(line.strip())):
                self.extend = match.group("reason").strip("*").strip()
            else:
                self.prose[i] = line
            i += 1
        if _holds_diff([self.prose[k] for k in sorted(self.prose)]):
            self._diff_note()  # written outside a fence: the same note as inside one
        if self.unnamed and not self.edits:
            self.notes.append(
                f"{self.unnamed} code block(s) named no file and were ignored: put the path in the fence "
                "(```python path=FILE) or use SEARCH/REPLACE blocks with the path on the line before."
            )
        plan = _plan([self.prose[k] for k in sorted(self.prose)])
        return ParsedAnswer(plan=plan, edits=tuple(self.edits), extend=self.extend, notes=tuple(self.notes))

    def _path_line(self, index: int | None) -> str | None:
        """The path written on line `index`, taken out of the prose; None when it holds no path.

        `self.guessed` says whether it was picked out of a sentence rather than written as a path.
        """
        self.guessed = False
        if index is None or SEARCH.match(self.lines[index]) or REPLACE.match(self.lines[index]):
            return None
        path = _clean_path(self.lines[index], strict=True)
        if path is not None:
            self.guessed = _guessed_path(self.lines[index]) is not None
            self.prose.pop(index, None)
        return path

    def _path_before(self, index: int, fence_info: str | None, fence_start: int | None) -> str | None:
        """The path for a SEARCH marker at `index`: fence info, the line before, or before the fence."""
        if fence_info is not None and (path := _info_path(fence_info)):
            return path
        floor = 0 if fence_start is None else fence_start + 1
        before = _previous_nonblank(self.lines, index, floor)
        if before is None and fence_start is not None:
            before = _previous_nonblank(self.lines, fence_start, 0)
        return self._path_line(before)

    def _search_block(self, start: int, fence_info: str | None, fence_start: int | None) -> int:
        """Parse the block whose SEARCH marker is at `start`; returns the index after it."""
        number = len(self.edits) + 1
        self.guessed = False
        path = self._path_before(start, fence_info, fence_start)
        guessed = self.guessed
        if path is None and (named := self._another_file_named(start, fence_start)):
            divider, end = search_block_bounds(self.lines, start)
            if (
                divider is not None
                and end is not None
                and not "\n".join(self.lines[start + 1 : divider]).strip()
            ):
                self.notes.append(
                    f"SEARCH block {number} {UNAPPLIED_BLOCK}, {named!r}, names a file but is no path "
                    "alone (write the file's path by itself on the line before each block); its new code "
                    f"was not added to {self.last_path!r}, the previous block's file."
                )
                return end + 1
        if path is None:
            path, guessed = self.last_path, self.last_guessed
        divider, end = search_block_bounds(self.lines, start)
        if divider is None or end is None:
            self.notes.append(
                f"SEARCH block {number} is not closed: it needs a line '=======' and then '>>>>>>> REPLACE'."
            )
            return (divider or start) + 1
        if path is None:
            self.notes.append(
                f"SEARCH block {number} names no file: write the file's path on the line before it."
            )
            return end + 1
        search = "\n".join(self.lines[start + 1 : divider])
        replace = "\n".join(self.lines[divider + 1 : end])
        self.edits.append(SearchReplace(number, path, search, replace, guessed=guessed))
        self.last_path, self.last_guessed = path, guessed
        return end + 1

    def _another_file_named(self, start: int, fence_start: int | None) -> str | None:
        """The line before the SEARCH marker at `start` (cut to 80 characters) when it names a file
        other than the previous block's but is no path alone ("helpers.py (new file)", "utils/new module.py").

        A block with an empty SEARCH under such a line (new code) was appended to the previous
        block's file, model.py. One with a SEARCH still continues that file: prose between two
        blocks of one file often names others ("This mirrors the helper in utils.py:"), and a
        SEARCH that is not in the file fails to match and is sent back. Only names with a source
        or data extension count, so prose naming a call (`np.clip`) never does.
        """
        if self.last_path is None:
            return None  # nothing to inherit: the block is refused for naming no file anyway
        floor = 0 if fence_start is None else fence_start + 1
        before = _previous_nonblank(self.lines, start, floor)
        if before is None and fence_start is not None:
            before = _previous_nonblank(self.lines, fence_start, 0)
        if before is None:
            return None
        named = [match.group(0) for match in _FILE_NAME.finditer(self.lines[before])]
        others = [name for name in named if _relative(name) != self.last_path]
        if not others or self.last_path in {_relative(name) for name in named}:
            return None
        line = self.lines[before].strip()
        return line if len(line) <= 80 else line[:79] + "…"

    def _fenced(self, start: int, fence: str, info: str) -> int:
        close = closing_fence(self.lines, start, fence)
        body = self.lines[start + 1 : close]
        if any(SEARCH.match(line) for line in body):
            i = start + 1
            while i < close:
                if SEARCH.match(self.lines[i]):
                    i = self._search_block(i, fence_info=info, fence_start=start)
                else:
                    self.prose[i] = self.lines[i]
                    i += 1
            return i if i > close else close + 1
        path = _info_path(info)
        guessed = False
        if path is None:
            before = _previous_nonblank(self.lines, start, 0)
            if before is not None and before >= start - 2:
                path = self._path_line(before)
                guessed = self.guessed
        if path is None and (info.strip().lower() in ("diff", "patch") or _looks_like_diff(body)):
            self._diff_note()
        elif path is None:
            self.unnamed += 1
        elif close == len(self.lines):
            self.notes.append(self._unclosed(path, fence))
        else:
            text = "\n".join(body)
            self.edits.append(
                WholeFile(len(self.edits) + 1, path, text + ("\n" if text else ""), guessed=guessed)
            )
        return close + 1

    def _diff_note(self) -> None:
        if DIFF_NOTE not in self.notes:
            self.notes.append(DIFF_NOTE)

    def _unclosed(self, path: str, fence: str) -> str:
        """The note for a whole file whose fence never closes: never applied, cut or not.

        Whether the file is complete cannot be told: an answer that ends in
        "```python path=model.py" and nothing more, with `finish_reason = stop`, was applied
        as an empty model.py. A model that forgot the closing fence sends the file again.
        """
        if self.cut:
            return (
                f"the whole file for {path} was cut off before its closing fence (the answer ended early) "
                f"and was not applied; {path} was left as it was: send it again complete, or only the "
                "lines that change as SEARCH/REPLACE blocks."
            )
        return (
            f"the whole file for {path} has no closing fence (a line {fence} after its last line), so it "
            f"was not applied; {path} was left as it was: send it again ending with {fence}, or only the "
            "lines that change as SEARCH/REPLACE blocks."
        )


def _holds_diff(lines: list[str]) -> bool:
    """Whether prose holds a unified diff: a `--- ` line, a `+++ ` line right after, a hunk header later."""
    for i in range(len(lines) - 1):
        if lines[i].startswith("--- ") and lines[i + 1].startswith("+++ "):
            return any(line.startswith("@@ ") for line in lines[i + 2 :])
    return False


def _looks_like_diff(body: list[str]) -> bool:
    heads = [line for line in body[:6] if line.strip()]
    return any(line.startswith(("--- ", "+++ ", "@@ ")) for line in heads) and any(
        line.startswith("@@") for line in body
    )


def _plan(prose: list[str], limit: int = 2000) -> str:
    text = "\n".join(prose).strip()
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text[:limit].rstrip()


def parse_answer(text: str, cut: bool = False) -> ParsedAnswer:
    """Take a model's answer apart into plan, edits, an extension request, and parse notes.

    `text` is the answer without its reasoning (`split_reasoning`); `cut`: it ended before
    the model finished (token limit, dropped stream), so a fence left open is not a whole file.
    """
    return _Parser(text, cut).run()
