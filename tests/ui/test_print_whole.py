"""A tree printed off a terminal (`strop log RUN | grep buggy`) keeps every label whole."""

from __future__ import annotations

import pytest
from rich.tree import Tree

from agent.cli.render import print_whole


def test_a_long_label_is_not_cut_at_80_columns_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    reason = "(the scorer did not accept the outputs: wrong answer: count 66666 sum 6666733332) " * 3
    tree = Tree("run 20655b")
    tree.add("9 buggy  model: compress=True  " + reason.strip()).add("12 ok  child")
    print_whole(tree)
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].endswith(reason.strip()) and len(lines[1]) > 250
    assert lines[2].strip().endswith("12 ok  child")  # one line per label: nothing wrapped
    assert all(line == line.rstrip() for line in lines)  # and nothing padded to the wide width
