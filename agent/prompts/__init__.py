"""Prompts are data: Markdown templates in this folder, rendered with Jinja2 and strict placeholders.

A placeholder the caller did not supply is an error (`StrictUndefined`), never an
empty string silently sent to a model. To change a prompt, copy this folder and
pass it as `Prompts(folder)`; the templates' names are the contract:

    system.md     the standing instructions: answer format, rules
    propose.md    one turn's request: goal, budget, verdict, history, context, code
    fix_edits.md  the follow-up when some edits of an answer did not apply
    system_structured.md  the standing instructions when edits are answered as JSON
    system_params.md, params.md  asking for `[space]` values instead of code

Jinja2 is imported on first use, so importing this module costs nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

FOLDER = Path(__file__).parent


class Prompts:
    """The templates of one folder (by default, strop's own)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else FOLDER
        self._env: Any = None

    def _environment(self) -> Any:
        if self._env is None:
            import jinja2

            self._env = jinja2.Environment(
                loader=jinja2.FileSystemLoader(str(self.folder)),
                undefined=jinja2.StrictUndefined,
                autoescape=False,
                keep_trailing_newline=False,
                trim_blocks=True,
                lstrip_blocks=True,
            )
        return self._env

    def render(self, template: str, /, **values: Any) -> str:
        """The template (e.g. "propose.md") filled with `values`; missing ones raise."""
        text = self._environment().get_template(template).render(**values)
        return text.strip() + "\n"  # inside, the text is left alone: it quotes code verbatim
