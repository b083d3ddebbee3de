"""Fixtures of the budget tests that drive an LLM run: a git workspace whose evaluator prints the
model's VALUE, and the run index of the isolated home."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.run_index import RunIndex
from tests.llm.support import git_workspace


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    evaluate = 'import json, model\nprint(json.dumps({"score": model.VALUE}))\n'
    return git_workspace(tmp_path, {"model.py": "VALUE = 1\n", "evaluate.py": evaluate})


@pytest.fixture
def index(isolated_home: Path) -> Iterator[RunIndex]:
    opened = RunIndex(isolated_home)
    yield opened
    opened.close()
