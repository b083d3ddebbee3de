"""The edit parser and applier: the formats models write, fuzzy matching, refusals and feedback."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.edits import (
    PathGuard,
    SearchReplace,
    WholeFile,
    apply_edits,
    apply_search_replace,
    find_unique,
    parse_answer,
    reader,
)

MODEL = """import json


def build(params):
    rate = params["rate"]
    if rate > 1:
        rate = 1
    return Model(rate=rate, depth=3)
"""


def sr(path: str, search: str, replace: str) -> str:
    return f"{path}\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"


def apply_one(text: str | None, search: str, replace: str) -> str:
    result = apply_search_replace(SearchReplace(1, "model.py", search, replace), text)
    assert isinstance(result, str), result
    return result


# --------------------------------------------------------------------------- parsing
def test_unfenced_block_with_path_line_before() -> None:
    parsed = parse_answer("Lower the depth.\n\n" + sr("model.py", "depth=3", "depth=2"))
    assert parsed.edits == (SearchReplace(1, "model.py", "depth=3", "depth=2"),)
    assert parsed.plan == "Lower the depth."


def test_fenced_block_with_path_before_the_fence() -> None:
    text = "Plan.\n\nmodel.py\n```python\n<<<<<<< SEARCH\na = 1\n=======\na = 2\n>>>>>>> REPLACE\n```\n"
    parsed = parse_answer(text)
    assert parsed.edits == (SearchReplace(1, "model.py", "a = 1", "a = 2"),)
    assert "model.py" not in parsed.plan and "```" not in parsed.plan


def test_fenced_block_with_path_inside_the_fence() -> None:
    text = "```\nsrc/model.py\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n```"
    assert parse_answer(text).edits[0].path == "src/model.py"


def test_path_in_the_fence_info_string() -> None:
    text = '```python path="model.py"\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n```'
    assert parse_answer(text).edits[0].path == "model.py"


@pytest.mark.parametrize(
    "line", ["`model.py`", "**model.py**", "File: model.py", "### model.py", "./model.py", "model.py:"]
)
def test_path_line_decorations(line: str) -> None:
    assert parse_answer(sr(line, "a", "b")).edits[0].path == "model.py"


def test_marker_lengths_and_case_vary() -> None:
    text = "model.py\n<<<<<<<< search\na\n=========\nb\n>>>>> Replace\n"
    assert parse_answer(text).edits == (SearchReplace(1, "model.py", "a", "b"),)


def test_consecutive_blocks_inherit_the_path() -> None:
    text = "model.py\n```python\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n<<<<<<< SEARCH\nc\n=======\nd\n>>>>>>> REPLACE\n```"
    edits = parse_answer(text).edits
    assert [(e.number, e.path) for e in edits] == [(1, "model.py"), (2, "model.py")]


@pytest.mark.parametrize(
    "line", ["helpers.py (new file)", "utils/new module.py", "a<b>.py", "b\u200bc.py", "\u202eyp.txt"]
)
def test_a_block_under_a_line_naming_another_file_is_not_applied_to_the_previous_one(line: str) -> None:
    """A new file's block (empty SEARCH) used to inherit the previous block's path: its code was
    appended to model.py. It is left out, said, and the answer sent back (`worth_retrying`)."""
    from agent.edits import EditOutcome
    from agent.proposers.answer_outcome import worth_retrying

    parsed = parse_answer(
        "Idea\n\n" + sr("model.py", "X = 1", "X = 2") + f"\n{line}\n" + sr("", "", "def helper(): ...")[1:]
    )
    assert [(e.number, e.path) for e in parsed.edits] == [(1, "model.py")]
    (note,) = parsed.notes
    assert note.startswith(f"SEARCH block 2 was not applied: the line before it, {line!r}, names a file")
    applied = EditOutcome(files={"model.py": "X = 2\n"}, applied=[], problems=[], applied_to={})
    assert worth_retrying(parsed.edits, applied, list(parsed.notes))  # though block 1 applied


@pytest.mark.parametrize(
    "line",
    [
        "Then clip it with np.clip:",
        "Also in model.py (same file):",
        "Next:",
        "This mirrors the helper in utils.py:",  # prose naming a file between two blocks of one file
        "Keep compatible with requirements.txt pins:",
    ],
)
def test_prose_between_blocks_that_names_no_other_file_continues_the_file(line: str) -> None:
    parsed = parse_answer(sr("model.py", "X = 1", "X = 2") + f"\n{line}\n" + sr("", "Y = 1", "Y = 2")[1:])
    assert [(e.number, e.path) for e in parsed.edits] == [(1, "model.py"), (2, "model.py")]
    assert parsed.notes == ()


def test_two_files_in_one_fence() -> None:
    text = '```\nmodel.py\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\nparams.json\n<<<<<<< SEARCH\n{}\n=======\n{"x": 1}\n>>>>>>> REPLACE\n```'
    assert [e.path for e in parse_answer(text).edits] == ["model.py", "params.json"]


def test_whole_file_with_path_in_info_string() -> None:
    parsed = parse_answer("Rewrite.\n```python path=model.py\nx = 1\n```\n")
    assert parsed.edits == (WholeFile(1, "model.py", "x = 1\n"),)


@pytest.mark.parametrize("header", ["File: model.py", "`model.py`:", "**model.py**", "# model.py"])
def test_whole_file_with_path_line_before(header: str) -> None:
    parsed = parse_answer(f"Plan here.\n\n{header}\n```python\nx = 1\n```\n")
    assert parsed.edits == (WholeFile(1, "model.py", "x = 1\n"),)
    assert parsed.plan == "Plan here."


def test_whole_file_with_bare_path_as_info_string() -> None:
    assert parse_answer("```model.py\nx = 1\n```").edits == (WholeFile(1, "model.py", "x = 1\n"),)


def test_unnamed_code_block_is_ignored_with_a_note() -> None:
    parsed = parse_answer("Here is the code:\n```python\nprint(1)\n```\n")
    assert parsed.edits == ()
    assert "named no file" in parsed.notes[0]


def test_prose_line_before_fence_is_not_a_path() -> None:
    parsed = parse_answer("Here is the new version of the code\n```python\nprint(1)\n```\n")
    assert parsed.edits == ()


def test_unclosed_block_gives_a_note() -> None:
    parsed = parse_answer("model.py\n<<<<<<< SEARCH\na\n=======\nb\n")
    assert parsed.edits == ()
    assert "not closed" in parsed.notes[0]


def test_block_without_any_path_gives_a_note() -> None:
    parsed = parse_answer("<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n")
    assert parsed.edits == () and "names no file" in parsed.notes[0]


def test_extend_request_is_read_outside_code_only() -> None:
    parsed = parse_answer(
        "Plan.\n```python path=a.py\nEXTEND: not me\n```\n**EXTEND:** the bug is narrowed down\n"
    )
    assert parsed.extend == "the bug is narrowed down"
    assert parse_answer("```python path=a.py\nEXTEND: x\n```").extend is None


def test_windows_line_endings_in_the_answer() -> None:
    parsed = parse_answer(sr("model.py", "a", "b").replace("\n", "\r\n"))
    assert parsed.edits == (SearchReplace(1, "model.py", "a", "b"),)


def test_four_backtick_fence_holds_triple_backticks() -> None:
    text = "````markdown path=README.md\n# Title\n```\ncode\n```\n````\n"
    assert parse_answer(text).edits == (WholeFile(1, "README.md", "# Title\n```\ncode\n```\n"),)


def test_mixed_forms_keep_their_order() -> None:
    text = "```python path=new.py\nA = 1\n```\n" + sr("new.py", "A = 1", "A = 2")
    edits = parse_answer(text).edits
    assert [type(e).__name__ for e in edits] == ["WholeFile", "SearchReplace"]
    outcome = apply_edits(edits, lambda p: None, PathGuard(Path("/nonexistent-root")))
    assert outcome.files == {"new.py": "A = 2\n"}


# --------------------------------------------------------------------------- matching
def test_exact_match_replaces_the_lines() -> None:
    new = apply_one(MODEL, "    return Model(rate=rate, depth=3)", "    return Model(rate=rate, depth=5)")
    assert "depth=5" in new and "depth=3" not in new
    assert new.endswith("\n")


def test_trailing_whitespace_and_blank_edges_are_tolerated() -> None:
    search = "\n    if rate > 1:   \n        rate = 1\n\n"
    new = apply_one(MODEL, search, "    rate = min(rate, 1)")
    assert "    rate = min(rate, 1)\n    return" in new


def test_indentation_shift_is_tolerated_and_carried_to_the_replacement() -> None:
    search = "if rate > 1:\n    rate = 1"  # quoted without the function's indentation
    new = apply_one(MODEL, search, "if rate > 2:\n    rate = 2")
    assert "    if rate > 2:\n        rate = 2\n" in new


def test_over_indented_search_is_shifted_back() -> None:
    search = "        if rate > 1:\n            rate = 1"
    new = apply_one(MODEL, search, "        if rate > 0.5:\n            rate = 0.5")
    assert "    if rate > 0.5:\n        rate = 0.5\n" in new


def test_inconsistent_indentation_does_not_match() -> None:
    lines = MODEL.splitlines()
    assert find_unique(lines, ["if rate > 1:", "rate = 1"]) == "none"


def test_internal_whitespace_differences_are_tolerated() -> None:
    new = apply_one(MODEL, '    rate  =\tparams["rate"]', '    rate = float(params["rate"])')
    assert new.count("params") == 2 and "float(params" in new


def test_ambiguous_search_is_refused_with_feedback() -> None:
    text = "x = 1\ny = 2\nx = 1\n"
    problem = apply_search_replace(SearchReplace(3, "a.py", "x = 1", "x = 3"), text)
    assert not isinstance(problem, str)
    assert "SEARCH block 3 for a.py matched 2 places" in problem.message


def test_no_match_quotes_the_closest_lines() -> None:
    search = '    rate = params["learning_rate"]\n    if rate > 1:'
    problem = apply_search_replace(SearchReplace(2, "model.py", search, "x"), MODEL)
    assert not isinstance(problem, str)
    assert problem.message.startswith("SEARCH block 2 for model.py did not match")
    assert '5 |     rate = params["rate"]' in problem.message
    assert "6 |     if rate > 1:" in problem.message


def test_ellipsis_in_search_gets_a_hint() -> None:
    problem = apply_search_replace(
        SearchReplace(1, "m.py", "def build(params):\n    ...\n    return 1", "x"), MODEL
    )
    assert not isinstance(problem, str) and "'...'" in problem.message


def test_empty_search_creates_or_appends() -> None:
    assert apply_one(None, "", "A = 1") == "A = 1\n"
    assert apply_one("B = 2\n", "", "A = 1") == "B = 2\nA = 1\n"
    assert apply_one("B = 2", "", "A = 1") == "B = 2\nA = 1\n"


def test_search_on_a_missing_file_says_so() -> None:
    problem = apply_search_replace(SearchReplace(1, "nope.py", "a", "b"), None)
    assert not isinstance(problem, str) and "does not exist" in problem.message


def test_empty_replace_deletes_lines() -> None:
    assert apply_one("a\nb\nc\n", "b", "") == "a\nc\n"


def test_crlf_files_keep_their_line_endings() -> None:
    assert apply_one("a\r\nb\r\n", "a", "z") == "z\r\nb\r\n"


def test_file_without_final_newline_stays_so() -> None:
    assert apply_one("a\nb", "b", "c") == "a\nc"


# --------------------------------------------------------------------------- paths and applying
@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "model.py").write_text(MODEL)
    (tmp_path / "evaluate.py").write_text("print('score')\n")
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "data.csv").write_text("1,2\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / "link").symlink_to("/etc")
    return tmp_path


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/etc/passwd", "outside the workspace"),
        ("../other/model.py", "outside the workspace"),
        ("sub/../../x.py", "outside the workspace"),
        ("~/x.py", "outside the workspace"),
        (".git/config", "under '.git/'"),
        (".GIT/config", "under '.git/'"),  # git refuses it anyway: it stopped the run with an internal error
        ("sub/.Git/x", "under '.git/'"),
        (".gitignore", "a .git* path"),  # it silently kept new files out of the commit
        (".gitattributes", "a '.gitattributes' file"),
        ("a\x00b.py", "NUL or control character"),
        ("x" * 300 + ".py", "is too long"),
        # fitted the lane, not each evaluation's scratch copy: every evaluation and resume failed
        pytest.param("/".join(["d" * 250] * 17)[:4037] + ".py", "is too long", id="4037-bytes"),
        pytest.param("/".join(["d" * 250] * 5) + ".py", "is too long", id="1255-bytes"),
        pytest.param("d/" * 100 + "x.py", "is too deep", id="101-deep"),  # 1,400 recursed past Python's limit
        ("link/passwd", "outside the workspace"),
        ("evaluate.py", "protected evaluator file"),
        ("eval/data.csv", "protected evaluator file"),
        ("eval/new.csv", "protected evaluator file"),
    ],
)
def test_forbidden_paths_are_refused_with_feedback(workspace: Path, path: str, words: str) -> None:
    guard = PathGuard(workspace, ("evaluate.py", "eval"))
    outcome = apply_edits([WholeFile(1, path, "x\n")], reader(workspace), guard)
    assert outcome.files == {}
    assert outcome.problems[0].refused
    assert words in outcome.problems[0].message


def test_a_lone_surrogate_in_a_file_is_written_not_a_crash(workspace: Path) -> None:
    from agent.run import write_files

    write_files(workspace, {"bin.dat": "ok \udc80\ud800 end"})  # a reply's text that is not valid Unicode
    assert (workspace / "bin.dat").read_text() == "ok ?? end"


def test_good_edits_apply_and_refused_ones_are_reported(workspace: Path) -> None:
    answer = (
        "Plan.\n"
        + sr("model.py", "    return Model(rate=rate, depth=3)", "    return Model(rate=rate, depth=4)")
        + sr("evaluate.py", "print('score')", "print(1)")
    )
    parsed = parse_answer(answer)
    outcome = apply_edits(parsed.edits, reader(workspace), PathGuard(workspace, ("evaluate.py",)))
    assert list(outcome.files) == ["model.py"]
    assert "depth=4" in outcome.files["model.py"]
    assert outcome.applied == ["SEARCH block 1 for model.py"]
    assert [p.edit for p in outcome.refused] == [2]
    assert (workspace / "model.py").read_text() == MODEL  # applying never writes


def test_later_blocks_see_earlier_edits_of_the_same_file(workspace: Path) -> None:
    edits = [
        SearchReplace(1, "model.py", "import json", "import json\nimport math"),
        SearchReplace(2, "model.py", "import math", "import math  # used"),
    ]
    outcome = apply_edits(edits, reader(workspace), PathGuard(workspace))
    assert outcome.files["model.py"].startswith("import json\nimport math  # used\n")


def test_partial_failure_keeps_the_applied_edit(workspace: Path) -> None:
    edits = [
        SearchReplace(1, "model.py", "import json", "import os"),
        SearchReplace(2, "model.py", "this line is not there", "x"),
    ]
    outcome = apply_edits(edits, reader(workspace), PathGuard(workspace))
    assert outcome.files["model.py"].startswith("import os\n")
    assert "SEARCH block 2 for model.py did not match" in outcome.feedback()


def test_huge_answer_gives_a_bounded_plan_and_no_edit() -> None:
    parsed = parse_answer(("word " * 20 + "\n") * 40_000)
    assert parsed.edits == () and len(parsed.plan) <= 2000


def test_prose_line_with_one_backticked_path_names_the_file_as_a_guess() -> None:
    parsed = parse_answer("Here is the updated `src/model.py`:\n```python\nx = 1\n```\n")
    assert parsed.edits == (WholeFile(1, "src/model.py", "x = 1\n", guessed=True),)
    two = parse_answer("Compare `a.py` with `b.py`:\n```python\nx = 1\n```\n")
    assert two.edits == ()
    own_line = parse_answer("`src/model.py`\n```python\nx = 1\n```\n")
    assert own_line.edits == (WholeFile(1, "src/model.py", "x = 1\n"),)


def test_a_guessed_name_edits_an_existing_file_but_never_creates_one(workspace: Path) -> None:
    answer = (
        "The loss should use `np.mean` instead of a sum:\n```python\nloss = np.mean(errors)\n```\n\n"
        "Then in `model.py`:\n```python\nVALUE = 2\n```\n"
    )
    parsed = parse_answer(answer)
    assert [(e.path, e.guessed) for e in parsed.edits] == [("np.mean", True), ("model.py", True)]
    outcome = apply_edits(parsed.edits, reader(workspace), PathGuard(workspace))
    assert "np.mean" not in outcome.files and not (workspace / "np.mean").exists()
    assert "np.mean does not exist, and its name was taken from a sentence" in outcome.feedback()
    assert outcome.files == {"model.py": "VALUE = 2\n"}  # an existing file named in prose is fine
    named = parse_answer("```python path=helpers/new_util.py\ndef f():\n    return 1\n```\n")
    created = apply_edits(named.edits, reader(workspace), PathGuard(workspace))
    assert created.files == {"helpers/new_util.py": "def f():\n    return 1\n"}  # named in the fence


def test_unified_diff_is_not_applied_and_says_so() -> None:
    diff = "```diff\n--- a/model.py\n+++ b/model.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n```\n"
    parsed = parse_answer(diff)
    assert parsed.edits == () and "unified diff" in parsed.notes[0]


@pytest.mark.timeout(20)
def test_a_long_line_of_spaces_is_read_at_once_and_extend_still_found() -> None:
    """`\\s*\\**\\s*EXTEND` tried every split of a run of spaces: a reply line of 200,000 spaces took
    minutes in the strop process, where no deadline cuts it (a run of --time 20s took 121 s)."""
    assert parse_answer(" " * 200_000 + "x").extend is None
    assert parse_answer(" " * 100_000 + "EXTEND" + " " * 100_000 + "x").extend is None
    assert (
        parse_answer("**EXTEND**:  the loss is still NaN  " + " " * 200_000).extend == "the loss is still NaN"
    )


def test_a_crlf_file_keeps_its_line_endings(tmp_path: Path) -> None:
    """`reader` read with newline translation: one SEARCH block on `a = 1\\r\\nb = 2\\r\\n` gave
    'a = 1\\nb = 3\\n', every line of the file changed in the experiment's diff."""
    (tmp_path / "crlf.py").write_bytes(b"a = 1\r\nb = 2\r\n")
    (tmp_path / "lf.py").write_bytes(b"a = 1\nb = 2\n")
    read, guard = reader(tmp_path), PathGuard(tmp_path)
    assert read("crlf.py") == "a = 1\r\nb = 2\r\n"
    block = "crlf.py\n```python\n<<<<<<< SEARCH\nb = 2\n=======\nb = 3\n>>>>>>> REPLACE\n```\n"
    assert apply_edits(parse_answer(block).edits, read, guard).files == {"crlf.py": "a = 1\r\nb = 3\r\n"}
    whole = "```python path=crlf.py\na = 1\nb = 4\n```\n"
    assert apply_edits(parse_answer(whole).edits, read, guard).files == {"crlf.py": "a = 1\r\nb = 4\r\n"}
    append = "crlf.py\n<<<<<<< SEARCH\n=======\nc = 5\n>>>>>>> REPLACE\n"
    assert apply_edits(parse_answer(append).edits, read, guard).files == {
        "crlf.py": "a = 1\r\nb = 2\r\nc = 5\r\n"
    }
    lf = "```python path=lf.py\na = 1\nb = 4\n```\n"
    assert apply_edits(parse_answer(lf).edits, read, guard).files == {"lf.py": "a = 1\nb = 4\n"}
