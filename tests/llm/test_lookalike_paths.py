"""Paths that read as another: a protected file in another letter case or Unicode form, invisible
characters, backslashes, spaces at a name's edge. Refused with a line the model can act on."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from agent.edits import PathGuard, WholeFile, apply_edits, parse_answer, reader
from tests.llm.support import commit_initial, git
from tests.llm.test_hostile_replies import GOOD, committed, run, said

PROTECTED = ("train.py", "eval", "data/*.csv")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A git checkout holding the model, a protected `train.py`, a protected folder and pattern."""
    path = tmp_path / "repo"
    (path / "eval").mkdir(parents=True)
    (path / "data").mkdir()
    (path / "model.py").write_text("VALUE = 1\n")
    (path / "train.py").write_text("print('train')\n")
    (path / "eval" / "answers.csv").write_text("1\n")
    (path / "data" / "test.csv").write_text("2\n")
    commit_initial(path)
    return path


def refusal(workspace: Path, path: str) -> str:
    """What the model is told when an answer writes `path` (fails when it is written)."""
    outcome = apply_edits([WholeFile(1, path, "x = 1\n")], reader(workspace), PathGuard(workspace, PROTECTED))
    assert outcome.files == {}, f"{path!r} was accepted"
    assert outcome.problems[0].refused
    return outcome.problems[0].message


@pytest.mark.parametrize(
    ("path", "twin"),
    [
        ("Train.py", "train.py"),
        ("TRAIN.PY", "train.py"),
        ("\uff54rain.py", "train.py"),  # fullwidth t
        ("Eval/answers.csv", "eval/answers.csv"),
        ("EVAL/new.csv", "eval/new.csv"),
        ("Data/Test.CSV", "data/*.csv"),
    ],
)
def test_a_protected_file_in_another_case_or_form_is_protected(workspace: Path, path: str, twin: str) -> None:
    message = refusal(workspace, path)
    assert f"is the protected evaluator file {twin!r} in another letter case" in message
    assert "case-insensitive disk" in message


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("train.py\u200b", "an invisible format character (U+200B ZERO WIDTH SPACE)"),
        ("\u200btrain.py", "U+200B ZERO WIDTH SPACE"),
        ("tra\u200din.py", "U+200D ZERO WIDTH JOINER"),
        ("\ufefftrain.py", "U+FEFF"),
        ("tr\u00adain.py", "U+00AD SOFT HYPHEN"),
        ("\u202eyp.niart", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("train\u00a0.py", "a space that is not a plain space (U+00A0 NO-BREAK SPACE)"),
        ("train\u3000.py", "U+3000 IDEOGRAPHIC SPACE"),
        ("a\u2028b.py", "a line separator"),
        ("a\x85b.py", "a NUL or control character (U+0085)"),  # C1: passed the old < 32 check
        ("a\x9b31mb.py", "a NUL or control character (U+009B)"),  # CSI: a terminal escape
        ("a\x00b.py", "a NUL or control character"),
        ("a\ud800.py", "a lone surrogate"),  # crashed the guard (UnicodeEncodeError)
        ("a\udc80.py", "a lone surrogate"),  # was written as the non-UTF-8 name b"a\x80.py"
        ("a\ue000.py", "a private-use character"),
        ("train.py\ufe0f", "U+FE0F VARIATION SELECTOR-16"),
        ("train\u3164.py", "U+3164 HANGUL FILLER"),
        ("tra\u034fin.py", "U+034F COMBINING GRAPHEME JOINER"),
    ],
)
def test_a_path_with_an_invisible_character_is_refused(workspace: Path, path: str, words: str) -> None:
    message = refusal(workspace, path)
    assert words in message
    assert "write the path with visible characters only" in message


@pytest.mark.parametrize("path", [".\\train.py", "sub\\model.py", "model.py\\"])
def test_a_backslash_is_refused_as_no_folder_separator(workspace: Path, path: str) -> None:
    message = refusal(workspace, path)
    assert "holds a backslash: write folders with '/'" in message


@pytest.mark.parametrize("path", ["train.py ", " train.py", "eval /x.csv", "sub/ model.py"])
def test_a_name_beginning_or_ending_in_a_space_is_refused(workspace: Path, path: str) -> None:
    assert "begins or ends with a space" in refusal(workspace, path)


@pytest.mark.parametrize(
    ("path", "script"),
    [
        ("ev\u0430luate.py", "Cyrillic"),  # the a is Cyrillic: reads as a new evaluate.py
        ("tr\u0430in.py", "Cyrillic"),
        ("m\u03bfdel.py", "Greek"),  # Greek omicron
        ("src/.\u0435nvrc/x.py", "Cyrillic"),  # a folder's name counts too
    ],
)
def test_a_name_mixing_latin_with_look_alike_letters_is_refused(
    workspace: Path, path: str, script: str
) -> None:
    message = refusal(workspace, path)
    assert f"mixing Latin letters with {script} ones" in message


@pytest.mark.parametrize(
    "path",
    [
        "my model.py",  # a plain space inside a name stays legal
        "caf\u00e9.py",  # NFC
        unicodedata.normalize("NFD", "caf\u00e9.py"),  # a combining accent, as macOS writes names
        "donn\u00e9es/mod\u00e8le.py",
        "Model.py",  # a twin of a file that is not protected: harmless
        "training.py",
        "data/train.json",
        "evaluation/x.py",
        "\u043c\u043e\u0434\u0435\u043b\u044c.py",  # a name wholly in Cyrillic reads as what it is
        "\u03bb_fit.py",  # Greek and Latin in different words
    ],
)
def test_ordinary_names_are_still_written(workspace: Path, path: str) -> None:
    outcome = apply_edits([WholeFile(1, path, "x = 1\n")], reader(workspace), PathGuard(workspace, PROTECTED))
    assert outcome.problems == [] and list(outcome.files) == [path]


@pytest.mark.parametrize("line", ["./", "File: ./", "`./`"])
def test_the_path_dot_slash_is_a_folder_not_outside(workspace: Path, line: str) -> None:
    parsed = parse_answer(f"{line}\n<<<<<<< SEARCH\n=======\nx = 1\n>>>>>>> REPLACE\n")
    assert [edit.path for edit in parsed.edits] == ["./"]
    outcome = apply_edits(parsed.edits, reader(workspace), PathGuard(workspace, PROTECTED))
    assert outcome.files == {}
    message = outcome.problems[0].message
    assert "'./' is a folder, not a file; name the file to write" in message
    assert "outside" not in message


def test_the_fence_path_dot_slash_is_a_folder_too(workspace: Path) -> None:
    parsed = parse_answer("```python path=./\nx = 1\n```\n")
    outcome = apply_edits(parsed.edits, reader(workspace), PathGuard(workspace))
    assert "'./' is a folder, not a file" in outcome.problems[0].message


def test_an_empty_path_names_no_file(workspace: Path) -> None:
    message = refusal(workspace, "")
    assert "an empty path names no file" in message and "outside" not in message


def test_an_answer_writing_train_in_capitals_is_refused_and_the_rest_applies(workspace: Path) -> None:
    answer = (
        "```python path=Train.py\nprint('mine')\n```\n\n"
        "```python path=train.py\u200b\nprint('mine')\n```\n\n"
        "model.py\n<<<<<<< SEARCH\nVALUE = 1\n=======\nVALUE = 2\n>>>>>>> REPLACE\n"
    )
    outcome = apply_edits(parse_answer(answer).edits, reader(workspace), PathGuard(workspace, PROTECTED))
    assert outcome.files == {"model.py": "VALUE = 2\n"}
    assert [p.edit for p in outcome.refused] == [1, 2]


def test_through_a_run_a_protected_twin_is_refused_and_never_committed(
    tmp_path: Path, isolated_home: Path
) -> None:
    workspace = tmp_path / "repo"
    workspace.mkdir()
    (workspace / "model.py").write_text("VALUE = 1\n")
    (workspace / "evaluate.py").write_text('import json, model\nprint(json.dumps({"score": model.VALUE}))\n')
    twin = "```python path=Evaluate.py\nprint('{\"score\": 1e9}')\n```\n\n"
    record, _ = run(tmp_path, workspace, isolated_home, twin + GOOD)
    assert committed(workspace, record, "model.py") == "VALUE = 2\n"
    assert "is the protected evaluator file 'evaluate.py' in another letter case" in said(record)
    assert git(workspace, "ls-tree", "--name-only", record.commit).split() == ["evaluate.py", "model.py"]
