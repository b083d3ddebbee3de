"""Edits: what a model's answer asks to change, parsed, checked and applied to the parent's files.

Two forms are accepted, in any mix, in one answer; they apply in the order written.

SEARCH/REPLACE blocks, fenced or not, with the file's path on the line before
(or in the opening fence's info string, or inherited from the previous block):

    model.py
    ```python
    <<<<<<< SEARCH
    learning_rate=0.1,
    =======
    learning_rate=0.05,
    >>>>>>> REPLACE
    ```

  Markers may have 5 to 9 `<`/`=`/`>` and any case. An empty SEARCH creates the
  file, or appends to it when it exists. The path line may be written `model.py`,
  `` `model.py` ``, `**model.py**`, `File: model.py`, `### model.py`.

Whole files, in a fenced block that names its path, either in the info string
(```` ```python path=model.py ````, also `file=`, `filename=`, `title=`, or the
path alone: ```` ```model.py ````) or on the line just before the fence
(`File: model.py`, `` `model.py`: ``, `**model.py**`, `# model.py`). A fence
without a path is ignored and the model is told so. A file whose text holds
```` ``` ```` must be fenced with four backticks.

A SEARCH must match the file in exactly one place. Matching tries, in order:
exact lines; lines equal after trailing whitespace and blank edge lines are
dropped; then lines equal after all whitespace is normalised, with the same
indentation shift on every line (the replacement is shifted the same way).
When nothing matches, the feedback quotes the file's closest lines.

A path that leaves the workspace (absolute, `..`, through a link), enters `.git`,
is a protected evaluator file (also through a link inside the workspace), names a
folder, needs a file as a folder, or is ignored by git (the commit would drop it) is
refused; the refusal is feedback, not an error.
Deleting files is not supported.

Reasoning models (DeepSeek-R1, Qwen3, QwQ through Ollama, vLLM or llama.cpp without a
reasoning parser) open their answer with a `<think>…</think>` block, or, when the chat
template opened it, with only the closing `</think>`. `split_reasoning` sets that block
aside: nothing in it is an edit, a plan or an `EXTEND:`, however edit-like; an answer cut
inside it holds no answer at all.

A fence still open when the answer ends is a whole file only when the answer was not
cut (`parse_answer(text, cut=True)` after `finish_reason = length` or a dropped stream):
a file cut mid-way would silently lose its tail. An answer may change at most
`MAX_FILES` files; edits to more are refused.

A line `EXTEND: reason` outside code asks the turn policy for more turns. A path
line that is prose with one backticked path in it ("Here is `model.py`:") names that
path, but only a path that already exists: a file is created only when the answer names
it as a path (in the fence, or on a line of its own), never from a sentence that
mentions "`np.mean`". Unified diffs are not applied; the model is told to use SEARCH/REPLACE.

Written by hand: the formats are conventions of LLM output, not a grammar any
parsing library knows, and the feedback has to speak to the model.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from agent.run import UnsafePathError, safe_path
from evaluators.integrity import expand

_SEARCH = re.compile(r"^\s*<{5,9}\s*SEARCH\s*$", re.IGNORECASE)
_DIVIDER = re.compile(r"^\s*={5,9}\s*$")
_REPLACE = re.compile(r"^\s*>{5,9}\s*REPLACE\s*$", re.IGNORECASE)
_FENCE = re.compile(r"^\s*(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*?)\s*$")
_EXTEND = re.compile(r"^\s*\**\s*EXTEND\s*\**\s*:\s*\**\s*(?P<reason>.+?)\s*$")
_INFO_PATH = re.compile(r"""(?:path|file|filename|title)\s*=\s*["']?(?P<path>[^"'\s]+)["']?""", re.IGNORECASE)
_PATH_PREFIX = re.compile(r"^(?:#+\s*)?(?:file(?:name)?|path)\s*:\s*", re.IGNORECASE)
_PATH_TOKEN = re.compile(r"^[\w.\-/+@~]+$")
_QUOTED_PATH = re.compile(r"`([\w.\-/+@~]+)`")
_ELLIPSIS = re.compile(r"^\s*(#|//)?\s*\.\.\.\s*(\(.*\))?\s*$|rest of (the )?(code|file)", re.IGNORECASE)
_CLOSEST_MAX_LINES = 30
_THINK_OPEN = re.compile(r"\A\s*<(?P<tag>think|thinking)>", re.IGNORECASE)
_THINK_CLOSE_ALONE = re.compile(r"</think>[ \t]*(?:\r?\n|\Z)", re.IGNORECASE)
MAX_FILES = 100  # files one answer may change


# --------------------------------------------------------------------------- parsed forms
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


# --------------------------------------------------------------------------- parsing
def split_reasoning(text: str) -> tuple[str, str]:
    """(answer, reasoning): a reasoning model's leading `<think>…</think>` block(s) set apart.

    Also the headless form, where the chat template wrote `<think>` into the prompt and the
    reply holds only the closing `</think>` at a line's end. An unclosed `<think>` (the answer
    was cut while thinking) is all reasoning: the answer is empty.
    """
    rest, reasoning = text, ""
    while opened := _THINK_OPEN.match(rest):
        close = re.search(rf"</{opened.group('tag')}\s*>", rest[opened.end() :], re.IGNORECASE)
        if close is None:
            return "", text
        end = opened.end() + close.end()
        reasoning, rest = reasoning + rest[:end], rest[end:]
    if not reasoning and "<think>" not in text.lower() and (close := _THINK_CLOSE_ALONE.search(text)):
        reasoning, rest = text[: close.end()], text[close.end() :]
    return (rest.lstrip("\r\n") if reasoning else rest), reasoning


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
        return quoted_paths[0].removeprefix("./") if len(quoted_paths) == 1 else None
    if strict and not (prefixed or quoted or "." in text or "/" in text):
        return None
    if text.endswith(".") and not prefixed and not quoted:
        return None  # a one-word sentence ("Done."), not a file name
    return text.removeprefix("./")


def _info_path(info: str) -> str | None:
    """The path named by a fence's info string (```python path=x.py, or ```x.py)."""
    if match := _INFO_PATH.search(info):
        return match.group("path").removeprefix("./")
    tokens = info.split()
    if len(tokens) == 1 and ("." in tokens[0] or "/" in tokens[0]) and _PATH_TOKEN.match(tokens[0]):
        return tokens[0].removeprefix("./")
    if len(tokens) == 1 and ":" in tokens[0]:  # ```python:model.py
        tail = tokens[0].split(":", 1)[1]
        if tail and _PATH_TOKEN.match(tail):
            return tail.removeprefix("./")
    return None


def _previous_nonblank(lines: list[str], index: int, floor: int) -> int | None:
    i = index - 1
    while i >= floor and not lines[i].strip():
        i -= 1
    return i if i >= floor else None


def _closing_fence(lines: list[str], start: int, fence: str) -> int:
    """Index of the line closing the fence opened at `start` (len(lines) when unclosed)."""
    char, size = fence[0], len(fence)
    for i in range(start + 1, len(lines)):
        stripped = lines[i].strip()
        if stripped and set(stripped) == {char} and len(stripped) >= size:
            return i
    return len(lines)


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
            if _SEARCH.match(line):
                i = self._search_block(i, fence_info=None, fence_start=None)
                continue
            if fence := _FENCE.match(line):
                i = self._fenced(i, fence.group("fence"), fence.group("info"))
                continue
            if match := _EXTEND.match(line):
                self.extend = match.group("reason").strip("*").strip()
            else:
                self.prose[i] = line
            i += 1
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
        if index is None or _SEARCH.match(self.lines[index]) or _REPLACE.match(self.lines[index]):
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
        if path is None:
            path, guessed = self.last_path, self.last_guessed
        divider = end = None
        for i in range(start + 1, len(self.lines)):
            if divider is None and _DIVIDER.match(self.lines[i]):
                divider = i
            elif divider is not None and _REPLACE.match(self.lines[i]):
                end = i
                break
            elif _SEARCH.match(self.lines[i]):
                break
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

    def _fenced(self, start: int, fence: str, info: str) -> int:
        close = _closing_fence(self.lines, start, fence)
        body = self.lines[start + 1 : close]
        if any(_SEARCH.match(line) for line in body):
            i = start + 1
            while i < close:
                if _SEARCH.match(self.lines[i]):
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
            self.notes.append(
                "a unified diff was not applied: send SEARCH/REPLACE blocks (or whole files) instead."
            )
        elif path is None:
            self.unnamed += 1
        elif close == len(self.lines) and self.cut:
            self.notes.append(
                f"the whole file for {path} was cut off before its closing fence (the answer ended early) "
                "and was not applied: send it again complete, or only the lines that change as "
                "SEARCH/REPLACE blocks."
            )
        else:
            text = "\n".join(body)
            self.edits.append(
                WholeFile(len(self.edits) + 1, path, text + ("\n" if text else ""), guessed=guessed)
            )
        return close + 1


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


# --------------------------------------------------------------------------- paths
@dataclass(frozen=True)
class PathGuard:
    """Which paths an answer may write: inside `root`, not in .git, not a protected evaluator file."""

    root: Path
    protected: tuple[str, ...] = ()
    _ignored: dict[str, bool] = field(
        default_factory=dict, compare=False, repr=False
    )  # git's answers, by path

    def refusal(self, path: str) -> str | None:
        """Why `path` may not be written, or None when it may."""
        pure = PurePosixPath(path)
        if not path or pure.is_absolute() or path.startswith("~") or ".." in pure.parts:
            return f"{path!r} is outside the workspace; use a path relative to the workspace root"
        try:
            target = safe_path(self.root, path)
        except UnsafePathError as error:
            return str(error)
        root = self.root.resolve()
        if path.endswith("/") or target == root or target.is_dir():
            return f"{path!r} is a folder, not a file; name the file to write"
        for folder in target.parents:
            if folder == root:
                break
            if folder.exists() and not folder.is_dir():
                return f"{path!r} goes through {folder.relative_to(root).as_posix()!r}, which is a file, not a folder"
        # through a link inside the workspace (`alias.py -> evaluate.py`, `tools -> .`): judge the file written
        real = target.relative_to(root).as_posix()
        if real != PurePosixPath(path).as_posix() and any(
            part.lower().startswith(".git") for part in PurePosixPath(real).parts
        ):
            return f"{path!r} leads through a link to {real!r}, git's own files; candidates may not write it"
        if self.is_protected(path) or self.is_protected(real):
            shown = path if self.is_protected(path) else f"{path} (a link to {real})"
            return f"{shown!r} is a protected evaluator file; it is read-only and edits to it are refused"
        if real not in self._ignored:
            self._ignored[real] = _git_ignores(self.root, real)
        if self._ignored[real]:
            return (
                f"{path!r} is ignored by git (.gitignore): experiments are commits, so it would be lost "
                "before the evaluation; write the code in a file git keeps"
            )
        return None

    def is_protected(self, path: str) -> bool:
        normal = PurePosixPath(path).as_posix()
        for pattern in self.protected:
            bare = pattern.rstrip("/")
            if fnmatch.fnmatch(normal, pattern) or normal == bare or normal.startswith(bare + "/"):
                return True
        return normal in expand(self.root, self.protected) if self.protected else False


# --------------------------------------------------------------------------- matching
@dataclass(frozen=True)
class _Match:
    start: int
    end: int  # exclusive, in file lines
    shift: tuple[str, str] = ("", "")  # (remove, add) on each replacement line


def _strip_blank_edges(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _windows(haystack: list[str], needle: list[str], same: Callable[[str, str], bool]) -> list[int]:
    size = len(needle)
    return [
        start
        for start in range(len(haystack) - size + 1)
        if all(same(haystack[start + k], needle[k]) for k in range(size))
    ]


def _uniform_shift(window: list[str], needle: list[str]) -> tuple[str, str] | None:
    """(remove, add) that maps the needle's indentation onto the window's, the same for every line."""
    shift: tuple[str, str] | None = None
    for have, want in zip(window, needle, strict=True):
        if not have.strip():
            continue
        hi, wi = _indent(have).expandtabs(4), _indent(want).expandtabs(4)
        if hi.endswith(wi) and len(hi) >= len(wi):
            this = ("", hi[: len(hi) - len(wi)])
        elif wi.endswith(hi):
            this = (wi[: len(wi) - len(hi)], "")
        else:
            return None
        if shift is None:
            shift = this
        elif shift != this:
            return None
    return shift or ("", "")


def _squash(line: str) -> str:
    return " ".join(line.split())


def find_unique(lines: list[str], search: list[str]) -> _Match | str:
    """Where `search` matches `lines`, or why not ("none" / "N places")."""
    exact = _windows(lines, search, lambda a, b: a == b)
    if len(exact) == 1:
        return _Match(exact[0], exact[0] + len(search))
    if len(exact) > 1:
        return f"{len(exact)} places"
    trimmed = _strip_blank_edges(search)
    if not trimmed:
        return "none"
    loose = _windows(lines, trimmed, lambda a, b: a.rstrip().expandtabs(4) == b.rstrip().expandtabs(4))
    if len(loose) == 1:
        return _Match(loose[0], loose[0] + len(trimmed))
    if len(loose) > 1:
        return f"{len(loose)} places"
    squashed = _windows(lines, trimmed, lambda a, b: _squash(a) == _squash(b))
    shifted = []
    for start in squashed:
        shift = _uniform_shift(lines[start : start + len(trimmed)], trimmed)
        if shift is not None:
            shifted.append(_Match(start, start + len(trimmed), shift))
    if len(shifted) == 1:
        return shifted[0]
    if len(shifted) > 1:
        return f"{len(shifted)} places"
    return "none"


def _reindent(lines: list[str], shift: tuple[str, str]) -> list[str]:
    remove, add = shift
    if not remove and not add:
        return lines
    out = []
    for line in lines:
        if not line.strip():
            out.append(line)
            continue
        expanded = _indent(line).expandtabs(4) + line.lstrip()
        if remove and expanded.startswith(remove):
            expanded = expanded[len(remove) :]
        elif remove:
            expanded = expanded.lstrip()
        out.append(add + expanded)
    return out


def closest_lines(lines: list[str], search: list[str]) -> tuple[int, list[str]]:
    """The file's window most like `search` (1-based first line number, lines), for feedback."""
    needle = [s for s in _strip_blank_edges(search)]
    if not lines or not needle:
        return 1, lines[:_CLOSEST_MAX_LINES]
    first = needle[0].strip()
    scored = []
    for index, line in enumerate(lines):
        matcher = difflib.SequenceMatcher(None, first, line.strip(), autojunk=False)
        if matcher.real_quick_ratio() < 0.3:
            continue
        scored.append((matcher.ratio(), index))
    anchors = [index for _, index in sorted(scored, reverse=True)[:5]] or [0]
    target = "\n".join(_squash(s) for s in needle)
    best_index, best_ratio = anchors[0], -1.0
    for index in anchors:
        window = "\n".join(_squash(s) for s in lines[index : index + len(needle)])
        ratio = difflib.SequenceMatcher(None, target, window, autojunk=False).ratio()
        if ratio > best_ratio:
            best_index, best_ratio = index, ratio
    shown = lines[best_index : best_index + min(len(needle), _CLOSEST_MAX_LINES)]
    return best_index + 1, shown


# --------------------------------------------------------------------------- applying
@dataclass(frozen=True)
class EditProblem:
    """One edit that did not apply, and what to tell the model."""

    edit: int | None  # the edit's number in the answer; None for a parse problem
    path: str | None
    message: str
    refused: bool = False  # True: a forbidden path, not a matching failure


@dataclass
class EditOutcome:
    """The new text of every file the answer changed, and what did not apply."""

    files: dict[str, str] = field(default_factory=dict)
    applied: list[str] = field(default_factory=list)
    problems: list[EditProblem] = field(default_factory=list)

    @property
    def refused(self) -> list[EditProblem]:
        return [p for p in self.problems if p.refused]

    def feedback(self, limit: int = 20) -> str:
        """The problems, one paragraph each, for the next prompt (the first `limit`, and how many more)."""
        shown = [problem.message for problem in self.problems[:limit]]
        if len(self.problems) > limit:
            shown.append(f"({len(self.problems) - limit} more problems like these are not shown.)")
        return "\n\n".join(shown)


def _split(text: str) -> tuple[list[str], bool, str]:
    newline = "\r\n" if "\r\n" in text else "\n"
    body = text.replace("\r\n", "\n")
    ends = body.endswith("\n")
    lines = body[:-1].split("\n") if ends else body.split("\n")
    return ([] if body == "" else lines), ends, newline


def _join(lines: list[str], ends: bool, newline: str) -> str:
    if not lines:
        return ""
    return newline.join(lines) + (newline if ends else "")


def _block(lines: list[str], first: int) -> str:
    width = len(str(first + len(lines)))
    numbered = "\n".join(f"{first + k:>{width}} | {line}" for k, line in enumerate(lines))
    return f"```\n{numbered}\n```"


def apply_search_replace(edit: SearchReplace, current: str | None) -> str | EditProblem:
    """`current` with the edit applied, or the problem to report."""
    search_lines = edit.search.split("\n") if edit.search else []
    replace_lines = edit.replace.split("\n") if edit.replace else []
    if not _strip_blank_edges(search_lines):
        if current is None:
            return "\n".join(replace_lines) + "\n" if replace_lines else ""
        separator = "" if current.endswith("\n") or not current else "\n"
        return current + separator + ("\n".join(replace_lines) + "\n" if replace_lines else "")
    if current is None:
        return EditProblem(
            edit.number,
            edit.path,
            f"{edit.describe()}: {edit.path} does not exist (or is not a text file). To create it, "
            "leave SEARCH empty or send the whole file.",
        )
    lines, ends, newline = _split(current)
    found = find_unique(lines, search_lines)
    if isinstance(found, _Match):
        trimmed_replace = replace_lines if found.end - found.start == len(search_lines) else None
        if trimmed_replace is None:
            trimmed_replace = _strip_blank_edges(replace_lines) if replace_lines else []
        new = lines[: found.start] + _reindent(trimmed_replace, found.shift) + lines[found.end :]
        return _join(new, ends or not lines, newline)
    if found != "none":
        return EditProblem(
            edit.number,
            edit.path,
            f"{edit.describe()} matched {found}; the SEARCH must match exactly one place. "
            "Include more surrounding lines to make it unique.",
        )
    first, shown = closest_lines(lines, search_lines)
    hint = ""
    if any(_ELLIPSIS.search(line) for line in search_lines):
        hint = " Do not abbreviate with '...': SEARCH must quote every line it replaces."
    return EditProblem(
        edit.number,
        edit.path,
        f"{edit.describe()} did not match; the closest lines in {edit.path} "
        f"(from line {first}) are:\n{_block(shown, first)}\n"
        f"Quote the lines exactly as they are in the file.{hint}",
    )


def apply_edits(edits: Iterable[Edit], read: Callable[[str], str | None], guard: PathGuard) -> EditOutcome:
    """Apply `edits` in order on top of the files `read(path)` returns (None: no such file).

    Each edit that applies is kept, even when others fail; the problems say which did not.
    """
    outcome = EditOutcome()
    current: dict[str, str | None] = {}
    over: list[Edit] = []  # edits to files past the first MAX_FILES
    for edit in edits:
        if edit.path not in outcome.files and len(outcome.files) >= MAX_FILES:
            over.append(edit)
            continue
        reason = guard.refusal(edit.path)
        if reason is not None:
            outcome.problems.append(
                EditProblem(edit.number, edit.path, f"{edit.describe()} was refused: {reason}.", refused=True)
            )
            continue
        if clash := _clash(edit.path, outcome.files):
            outcome.problems.append(
                EditProblem(
                    edit.number,
                    edit.path,
                    f"{edit.describe()} was refused: {edit.path} and {clash}, written by an earlier edit, "
                    "cannot both exist (one would be a folder holding the other).",
                    refused=True,
                )
            )
            continue
        if edit.path not in current:
            current[edit.path] = read(edit.path)
        if edit.guessed and current[edit.path] is None:
            outcome.problems.append(
                EditProblem(
                    edit.number,
                    edit.path,
                    f"{edit.describe()} was not applied: {edit.path} does not exist, and its name was taken "
                    "from a sentence. To create a new file, name it in the fence (```python path=FILE) "
                    "or on a line of its own before the block.",
                )
            )
            continue
        if isinstance(edit, WholeFile):
            result: str | EditProblem = edit.text
        else:
            result = apply_search_replace(edit, current[edit.path])
        if isinstance(result, EditProblem):
            outcome.problems.append(result)
            continue
        current[edit.path] = result
        outcome.files[edit.path] = result
        outcome.applied.append(edit.describe())
    if over:
        outcome.problems.append(
            EditProblem(
                over[0].number,
                over[0].path,
                f"{len(over)} edit(s) from {over[0].describe()} on were refused: one answer may change at "
                f"most {MAX_FILES} files.",
                refused=True,
            )
        )
    return outcome


def _git_ignores(root: Path, path: str) -> bool:
    """Whether git ignores `path` in the checkout `root` (False when `root` is no git checkout)."""
    try:
        done = subprocess.run(
            ["git", "check-ignore", "-q", "--", path], cwd=root, capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _clash(path: str, written: Iterable[str]) -> str | None:
    """A path already written that `path` would need as a folder, or that would need `path` as one."""
    mine = PurePosixPath(path).as_posix()
    for other in written:
        theirs = PurePosixPath(other).as_posix()
        if theirs != mine and (theirs.startswith(mine + "/") or mine.startswith(theirs + "/")):
            return other
    return None


def reader(root: Path, limit: int = 2_000_000) -> Callable[[str], str | None]:
    """Read workspace files as text for `apply_edits` (None for missing, binary or huge files)."""

    def read(path: str) -> str | None:
        target = root / path
        if not target.is_file() or target.stat().st_size > limit:
            return None
        try:
            return target.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            return None

    return read
