"""Command help that reflows to the terminal's width.

Typer's rich mode keeps a docstring's single line breaks, so prose wrapped at the source's
100 columns comes out ragged in an 80-column terminal (a lone word on every other line).
Typer's markdown mode would reflow it but reads `*`, `_` and `<run>` as markup. So strop keeps
rich mode and joins each prose paragraph's lines itself before Typer sees the text; indented
blocks (layouts, examples) keep their lines, and a bullet list keeps one line per bullet.

Typer 0.29's rich help prints a flag's type as `<bool>` (`--quiet  -q  <bool>`), which reads as an
option that takes a value (`--quiet true`); `show_flags_untyped` gives flags no type column.
"""

from __future__ import annotations

import inspect

import typer
from typer.core import TyperArgument, TyperOption


def reflow(text: str) -> str:
    """`text` with every prose paragraph on one line; indented blocks and bullets kept."""
    return "\n\n".join(_paragraph(p) for p in inspect.cleandoc(text).split("\n\n"))


def _paragraph(paragraph: str) -> str:
    lines = paragraph.splitlines()
    if not lines or lines[0].startswith("\b") or any(line.startswith((" ", "\t")) for line in lines):
        return paragraph
    joined: list[str] = []
    for line in lines:
        if joined and not _is_bullet(line):
            joined[-1] = f"{joined[-1]} {line.strip()}"
        else:
            joined.append(line.strip())
    return "\n".join(joined)


def _is_bullet(line: str) -> bool:
    return line.lstrip().startswith(("- ", "• ", "* "))


def reflow_help(app: typer.Typer) -> None:
    """Reflow the help of `app`, its commands and its groups, recursively (before it is run)."""
    if isinstance(app.info.help, str):
        app.info.help = reflow(app.info.help)
    for command in app.registered_commands:
        doc = command.help if isinstance(command.help, str) else inspect.getdoc(command.callback)
        if doc:
            command.help = reflow(doc)
    for group in app.registered_groups:
        if isinstance(group.help, str):
            group.help = reflow(group.help)
        if group.typer_instance is not None:
            reflow_help(group.typer_instance)


def show_flags_untyped() -> None:
    """Flags (`--json`, `--quiet`, `--help`) show no `<bool>` in the help: they take no value; a
    parameter taking many values shows its element's type (`<str>`, not `<list[str]>`): its `...`
    or "repeatable" says there may be many, and `list[str]` is Python's word, not the user's."""
    for kind in (TyperOption, TyperArgument):
        _untype(kind)


def _untype(kind: type[TyperOption] | type[TyperArgument]) -> None:
    typed = kind.display_type_rich
    if getattr(typed, "strop_untyped_flags", False):
        return

    def display_type_rich(self: TyperOption | TyperArgument, ctx: object) -> str | None:
        if getattr(self, "is_flag", False):
            return None
        shown = typed(self, ctx)  # type: ignore[arg-type]
        return _element(shown) if shown else shown

    display_type_rich.strop_untyped_flags = True  # type: ignore[attr-defined]
    kind.display_type_rich = display_type_rich  # type: ignore[method-assign]


def _element(shown: str) -> str:
    """`<list[Path]>` → `<Path>`; anything else as it is."""
    if shown.startswith("<list[") and shown.endswith("]>"):
        return f"<{shown[len('<list[') : -len(']>')]}>"
    return shown
