"""Applying edits: the parsed edits applied in order on top of the parent's files, with what did not apply."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from agent.edits.forms import Edit, SearchReplace, WholeFile
from agent.edits.guard import PathGuard
from agent.edits.matching import Match, closest_lines, find_unique, reindent, strip_blank_edges

_ELLIPSIS = re.compile(r"^\s*(#|//)?\s*\.\.\.\s*(\(.*\))?\s*$|rest of (the )?(code|file)", re.IGNORECASE)
MAX_FILES = 100  # files one answer may change


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
    # each `applied` description -> the path it wrote, so that `without` can drop what changed nothing
    applied_to: dict[str, str] = field(default_factory=dict)

    @property
    def refused(self) -> list[EditProblem]:
        return [p for p in self.problems if p.refused]

    def without(self, paths: Collection[str]) -> EditOutcome:
        """This outcome less the files `paths` and the applied edits that wrote them.

        For files an answer left exactly as they were: listed as applied beside "nothing
        changed", one turn's decisions said both that the edit applied and that it did not.
        """
        gone = set(paths)
        return EditOutcome(
            files={path: text for path, text in self.files.items() if path not in gone},
            applied=[edit for edit in self.applied if self.applied_to.get(edit) not in gone],
            problems=list(self.problems),
            applied_to={edit: path for edit, path in self.applied_to.items() if path not in gone},
        )

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


def _crlf(text: str | None) -> bool:
    """Whether `text` ends its lines with CRLF (every one of them): edits to it keep doing so."""
    return bool(text) and "\r\n" in text and text.count("\n") == text.count("\r\n")


def _in_newlines_of(current: str | None, text: str) -> str:
    """`text` (as parsed: LF lines) with `current`'s line endings: a CRLF file stays CRLF."""
    return text.replace("\r\n", "\n").replace("\n", "\r\n") if _crlf(current) else text


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
    if not strip_blank_edges(search_lines):
        if current is None:
            return "\n".join(replace_lines) + "\n" if replace_lines else ""
        separator = "" if current.endswith("\n") or not current else "\n"
        added = separator + ("\n".join(replace_lines) + "\n" if replace_lines else "")
        return current + _in_newlines_of(current, added)
    if current is None:
        return EditProblem(
            edit.number,
            edit.path,
            f"{edit.describe()}: {edit.path} does not exist (or is not a text file). To create it, "
            "leave SEARCH empty or send the whole file.",
        )
    lines, ends, newline = _split(current)
    found = find_unique(lines, search_lines)
    if isinstance(found, Match):
        trimmed_replace = replace_lines if found.end - found.start == len(search_lines) else None
        if trimmed_replace is None:
            trimmed_replace = strip_blank_edges(replace_lines) if replace_lines else []
        new = lines[: found.start] + reindent(trimmed_replace, found.shift) + lines[found.end :]
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
            result: str | EditProblem = _in_newlines_of(current[edit.path], edit.text)
        else:
            result = apply_search_replace(edit, current[edit.path])
        if isinstance(result, EditProblem):
            outcome.problems.append(result)
            continue
        current[edit.path] = result
        outcome.files[edit.path] = result
        outcome.applied.append(edit.describe())
        outcome.applied_to[edit.describe()] = edit.path
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
        try:  # bytes, not `read_text`: its newline translation made a CRLF file LF, every line changed
            return target.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            return None

    return read
