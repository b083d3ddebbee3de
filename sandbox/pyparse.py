"""Python's `ast.parse` and `ast.literal_eval`, one call at a time across strop's threads.

CPython 3.11 keeps the AST constructor's recursion depth in interpreter state that threads
share, and two threads building Python AST objects at once raise "SystemError: AST constructor
recursion depth mismatch" (python/cpython#106905, fixed in 3.12). strop parses in several
threads at once: each lane of `--parallel` reads its scorer's imports (`sandbox.gate`) and its
marked values (`agent.marks`), constraints are built in lanes (`agent.expression`), and the
knowledge store chunks Python files. A run of `--parallel 2` died of it 3 times in 4. Every
parse in strop goes through here; a parse is micro- to milliseconds, so one lock costs nothing.

Here, in the lowest layer, because `sandbox`, `agent` and `knowledge` all need the same lock.
"""

from __future__ import annotations

import ast
import threading
from typing import Any, Literal, overload

_PARSING = threading.Lock()


@overload
def parse(source: str, mode: Literal["exec"] = "exec") -> ast.Module: ...
@overload
def parse(source: str, mode: Literal["eval"]) -> ast.Expression: ...
def parse(source: str, mode: Literal["exec", "eval"] = "exec") -> ast.Module | ast.Expression:
    """`ast.parse(source, mode=mode)`, serialised (its errors unchanged)."""
    with _PARSING:
        return ast.parse(source, mode=mode)


def literal_eval(text: str) -> Any:
    """`ast.literal_eval(text)`, serialised (its errors unchanged)."""
    with _PARSING:
        return ast.literal_eval(text)
