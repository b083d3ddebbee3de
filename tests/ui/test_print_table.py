"""A table keeps every cell legible: whole off a terminal, one line per cell on a narrow one."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table

from agent.cli.render import print_table

ROW = ("c754af", "digits-gbm", "done", "2026-12-04 20:17", "12", "11: accuracy = 0.973294")


def _runs_table() -> Table:
    table = Table("run", "task", "status", "started", "experiments", "best")
    table.add_row(*ROW)
    return table


def _printed(width: int, terminal: bool) -> str:
    console = Console(file=io.StringIO(), width=width, force_terminal=terminal, color_system=None)
    print_table(_runs_table(), console)
    return console.file.getvalue()


def test_a_terminal_too_narrow_for_the_table_gets_one_line_per_cell() -> None:
    for width in (20, 40):
        lines = _printed(width, terminal=True).splitlines()
        assert lines[:2] == ["run: c754af", "task: digits-gbm"] and "best: 11: accuracy = 0.973294" in lines


def test_a_terminal_wide_enough_gets_the_table() -> None:
    text = _printed(100, terminal=True)
    assert "┃ run " in text and "│ c754af │ digits-gbm │" in text


def test_off_a_terminal_the_table_is_drawn_whole_at_its_own_width() -> None:
    lines = _printed(40, terminal=False).splitlines()
    row = next(line for line in lines if "c754af" in line)
    assert all(cell in row for cell in ROW)  # nothing wrapped onto a second line or cut with …
    assert all(line == line.rstrip() for line in lines)


def test_a_long_reason_is_cut_at_a_word_never_inside_a_figure() -> None:
    """Progress lines cut reasons at 90 characters: "…a prompt of about 149" where it said 1497."""
    from agent.cli.render import clip

    reason = (
        "the model call failed: token budget: 1138 tokens left cannot pay for a prompt of about 1497 tokens"
    )
    shown = clip(reason, 90)
    assert len(shown) <= 90 and shown.endswith("about…"), shown
    assert clip("short", 90) == "short"
    assert clip("x" * 200, 10) == "x" * 9 + "…"  # one long word: cut where it must be
