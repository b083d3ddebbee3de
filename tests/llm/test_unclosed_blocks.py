"""Blocks that never close: a whole file whose fence stays open is never applied, cut or not; a
SEARCH/REPLACE block without its closing marker neither. And one turn's decision lines agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.edits import PathGuard, WholeFile, apply_edits, parse_answer, reader
from agent.llm.scripted_server import Reply
from agent.proposers.answer_outcome import drop_unchanged, record_outcome
from agent.run import Candidate
from tests.llm.test_hostile_replies import GOOD, committed, run, said

MODEL = "VALUE = 1\n\ndef important():\n    return VALUE\n"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    (path / "model.py").write_text(MODEL)
    (path / "evaluate.py").write_text('import json, model\nprint(json.dumps({"score": model.VALUE}))\n')
    return path


# ---------------------------------------------------------------------- the parser
@pytest.mark.parametrize(
    "answer",
    [
        pytest.param("Rewrite.\n\n```python path=model.py\n", id="empty-then-end"),
        pytest.param("Rewrite.\n\n```python path=model.py", id="no-newline"),
        pytest.param("Rewrite.\n\nmodel.py\n```python\nVALUE = 2\n", id="path-line-body-no-close"),
        pytest.param("Rewrite.\n\n````python path=model.py\nVALUE = 2\n```\n", id="four-opened-three-closed"),
        pytest.param("Rewrite.\n\n~~~python path=model.py\nVALUE = 2\n", id="tildes"),
    ],
)
def test_a_whole_file_whose_fence_never_closes_is_not_applied_though_not_cut(answer: str) -> None:
    parsed = parse_answer(answer, cut=False)
    assert parsed.edits == ()
    assert len(parsed.notes) == 1
    assert "model.py has no closing fence" in parsed.notes[0]
    assert "model.py was left as it was" in parsed.notes[0]


def test_the_note_names_the_fence_that_would_close_it() -> None:
    note = parse_answer("````python path=model.py\nx = 1\n", cut=False).notes[0]
    assert "send it again ending with ````" in note


def test_a_cut_answer_still_says_it_was_cut() -> None:
    note = parse_answer("```python path=model.py\nVALUE = 2\n", cut=True).notes[0]
    assert "cut off before its closing fence" in note and "model.py was left as it was" in note


def test_an_edit_before_the_open_fence_still_applies() -> None:
    answer = "```python path=a.py\nA = 1\n```\n\n```python path=model.py\n"
    parsed = parse_answer(answer)
    assert parsed.edits == (WholeFile(1, "a.py", "A = 1\n"),)
    assert "model.py has no closing fence" in parsed.notes[0]


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param("model.py\n<<<<<<< SEARCH\nVALUE = 1\n=======\n", id="cut-after-divider"),
        pytest.param("model.py\n<<<<<<< SEARCH\nVALUE = 1\n=======\nVALUE = 2\n", id="no-replace-marker"),
        pytest.param("model.py\n<<<<<<< SEARCH\nVALUE = 1\n", id="no-divider"),
        pytest.param(
            "model.py\n```python\n<<<<<<< SEARCH\nVALUE = 1\n=======\n```\n", id="fenced-no-replace"
        ),
    ],
)
def test_a_search_block_without_its_closing_marker_is_not_applied(answer: str) -> None:
    """Already so before: an empty REPLACE left open must not become a deletion of the SEARCH lines."""
    parsed = parse_answer(answer, cut=False)
    assert parsed.edits == ()
    assert "SEARCH block 1 is not closed" in parsed.notes[0]


def test_a_fenced_search_block_left_open_does_not_swallow_the_next_file() -> None:
    answer = (
        "model.py\n```python\n<<<<<<< SEARCH\nVALUE = 1\n=======\nVALUE = 2\n```\n\n"
        "```python path=other.py\nOTHER = 1\n```\n"
    )
    parsed = parse_answer(answer)
    assert parsed.edits == (WholeFile(1, "other.py", "OTHER = 1\n"),)
    assert "SEARCH block 1 is not closed" in parsed.notes[0]


# ---------------------------------------------------------------------- through a run
def test_an_empty_open_fence_with_finish_stop_leaves_the_file_and_is_sent_back(
    tmp_path: Path, workspace: Path, isolated_home: Path
) -> None:
    """The red team's reply: applied, model.py was emptied (`model.py | 1 -`) and scored as a bug."""
    empty = Reply.text("Rewrite it all.\n\n```python path=model.py\n", finish_reason="stop")
    record, calls = run(tmp_path, workspace, isolated_home, empty, GOOD)
    assert calls == 2  # sent back once, saying so
    assert committed(workspace, record, "model.py") == "VALUE = 2\n\ndef important():\n    return VALUE\n"
    assert "the whole file for model.py has no closing fence" in said(record)


def test_an_open_fence_alone_is_no_candidate_when_the_follow_up_is_no_better(
    tmp_path: Path, workspace: Path, isolated_home: Path
) -> None:
    empty = Reply.text("Rewrite it all.\n\n```python path=model.py\n", finish_reason="stop")
    record, calls = run(tmp_path, workspace, isolated_home, empty, empty)
    assert calls == 2
    assert committed(workspace, record, "model.py") == MODEL
    assert not any(line.startswith("llm: applied") for line in record.decisions)


# ---------------------------------------------------------------------- one turn's decisions agree
def test_a_file_left_as_it_was_is_not_also_listed_as_applied(workspace: Path) -> None:
    """The decisions said both "did not apply: … exactly as it was" and "applied whole file 1"."""
    parsed = parse_answer("Same.\n\n```python path=model.py\n" + MODEL + "```\n")
    outcome = apply_edits(parsed.edits, reader(workspace), PathGuard(workspace, ("evaluate.py",)))
    assert outcome.applied == ["whole file 1 (model.py)"]
    outcome = drop_unchanged(outcome, reader(workspace))
    candidate = Candidate(idea=parsed.plan)
    record_outcome(candidate, outcome, list(parsed.notes), final=True)
    assert outcome.files == {} and outcome.applied == []
    assert not any(line.startswith("llm: applied") for line in candidate.decisions), candidate.decisions
    assert any("exactly as it was" in line for line in candidate.decisions)


def test_only_the_edits_that_changed_a_file_are_listed_as_applied(workspace: Path) -> None:
    answer = "```python path=model.py\n" + MODEL + "```\n\n```python path=new.py\nX = 1\n```\n"
    outcome = apply_edits(parse_answer(answer).edits, reader(workspace), PathGuard(workspace))
    outcome = drop_unchanged(outcome, reader(workspace))
    assert outcome.files == {"new.py": "X = 1\n"}
    assert outcome.applied == ["whole file 2 (new.py)"]


def test_through_a_run_the_unchanged_file_is_not_said_to_be_applied(
    tmp_path: Path, workspace: Path, isolated_home: Path
) -> None:
    record, _ = run(
        tmp_path, workspace, isolated_home, "Same.\n\n```python path=model.py\n" + MODEL + "```\n"
    )
    assert "exactly as it was" in said(record)
    assert "applied whole file 1" not in said(record)
