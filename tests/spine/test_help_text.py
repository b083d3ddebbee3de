"""`--help` reflows to the terminal: prose paragraphs are one line each, layouts keep theirs."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from agent.cli import app
from agent.cli.helptext import reflow


def test_prose_paragraphs_join_and_blocks_keep_their_lines() -> None:
    text = """First line.

    A paragraph wrapped
    at the source's width.

    The layout:

        config.yaml     id, name
        grade.py        optional

    - one bullet
      continued
    - two
    plain bullets:
    - a
    - b"""
    assert reflow(text).split("\n\n") == [
        "First line.",
        "A paragraph wrapped at the source's width.",
        "The layout:",
        "    config.yaml     id, name\n    grade.py        optional",
        "- one bullet\n  continued\n- two\nplain bullets:\n- a\n- b",
    ]


def test_a_joined_bullet_list_keeps_one_line_per_bullet() -> None:
    assert reflow("Why:\n- first reason\nsaid long\n- second") == "Why:\n- first reason said long\n- second"


def _commands(group: typer.Typer) -> list[tuple[str, str | None]]:
    found = [(str(c.name or c.callback.__name__), c.help) for c in group.registered_commands]
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            found += _commands(sub.typer_instance)
    return found


def test_every_command_help_is_reflowed() -> None:
    commands = _commands(app)
    assert len(commands) > 20
    for name, help_text in commands:
        assert help_text, f"{name} has no help"
        for paragraph in help_text.split("\n\n"):
            lines = paragraph.splitlines()
            if any(line.startswith(" ") for line in lines) or any(line.startswith("- ") for line in lines):
                continue
            assert len(lines) == 1, f"{name}: a prose paragraph kept its line breaks: {paragraph!r}"


def test_run_help_wraps_at_the_terminal_not_at_the_source() -> None:
    result = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "the LLM proposer when [llm] is set, else the offline `evolve` proposer" in result.output


def test_every_command_help_shows_an_invocation() -> None:
    """A --help that teaches shows how the command is called, not only what it does."""
    from agent.cli.helptext import reflow_help

    reflow_help(app)
    missing = [name for name, text in _commands(app) if "strop " not in (text or "")]
    assert missing == [], f"no example in the help of: {missing}"


def test_flags_show_no_type_and_options_keep_theirs() -> None:
    """`--quiet  -q  <bool>` read as an option that takes a value; a value option keeps its type."""
    shown = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "120"}).output
    quiet = next(line for line in shown.splitlines() if "--quiet" in line)
    time_line = next(line for line in shown.splitlines() if "--time" in line)
    assert "<bool>" not in shown and "bool" not in quiet
    assert "<str>" in time_line


def test_many_valued_parameters_show_their_elements_type() -> None:
    """`RUN <list[str]>` is Python's spelling; `RUN... <str>` says the same in the user's words."""
    rm = CliRunner().invoke(app, ["rm", "--help"], env={"COLUMNS": "120"}).output
    search = CliRunner().invoke(app, ["knowledge", "search", "--help"], env={"COLUMNS": "120"}).output
    run_line = next(line for line in rm.splitlines() if "run ids, unique prefixes" in line)
    type_line = next(line for line in search.splitlines() if "--type" in line and "repeatable" in line)
    assert "list[" not in rm + search
    assert "<str>" in run_line and "<str>" in type_line
