"""Python sources split by meaning: one chunk per function, method and class header.

`ast` gives exact line ranges (decorators included). A class becomes a header
chunk (its `class` line, docstring and the signatures of its methods) plus one
chunk per method linked to it; module-level statements between definitions
are grouped into line windows. Oversized definitions are cut into line windows
that keep the definition's name as their title. Definitions inside top-level `if`/`try` blocks
(platform branches) count as top-level. A file that does not parse is chunked
as plain text.
"""

from __future__ import annotations

import ast

from knowledge.chunkers.text import MAX_CHARS, chunk_text, lines_location
from knowledge.entry import Chunk, EntryType
from sandbox.pyparse import parse

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _first_line(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno] + [d.lineno for d in decorators])


def _segment(lines: list[str], first: int, last: int) -> str:
    return "\n".join(lines[first - 1 : last])


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
    return f"{prefix} {node.name}({ast.unparse(node.args)}){returns}"


def _definition_chunks(
    lines: list[str],
    node: ast.FunctionDef | ast.AsyncFunctionDef,
    qualname: str,
    module: str,
    link: str | None,
) -> list[Chunk]:
    first, last = _first_line(node), node.end_lineno or node.lineno
    text = _segment(lines, first, last)
    title = f"{module}.{qualname}" if module else qualname
    links = (link,) if link else ()
    head = _head(title, node)
    if len(text) <= 2 * MAX_CHARS:
        return [
            Chunk(text, EntryType.IMPLEMENTATION, lines_location(first, last), qualname, title, links, head)
        ]
    parts = chunk_text(text, EntryType.IMPLEMENTATION, title, first, MAX_CHARS, f"{qualname}@")
    return [
        Chunk(p.text, p.type, p.location, p.key, title, links, head if i == 0 else "")
        for i, p in enumerate(parts)
    ]


def _head(title: str, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> str:
    """Name and docstring: what the dense model should read first."""
    doc = ast.get_docstring(node)
    return f"{title}: {doc[:600]}" if doc else ""


def _class_chunks(lines: list[str], node: ast.ClassDef, prefix: str, module: str) -> list[Chunk]:
    qualname = f"{prefix}{node.name}"
    title = f"{module}.{qualname}" if module else qualname
    first = _first_line(node)
    body_start = node.body[0].lineno if node.body else node.lineno
    header = _segment(lines, first, max(first, body_start - 1))
    doc = ast.get_docstring(node)
    members: list[Chunk] = []
    signatures: list[str] = []
    for child in node.body:
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            signatures.append("    " + _signature(child))
            members += _definition_chunks(lines, child, f"{qualname}.{child.name}", module, qualname)
        elif isinstance(child, ast.ClassDef):
            signatures.append(f"    class {child.name}")
            members += _class_chunks(lines, child, f"{qualname}.", module)
    parts = [header]
    if doc:
        parts.append(f'    """{doc}"""')
    parts += signatures
    text = "\n".join(parts)[: 2 * MAX_CHARS]
    location = lines_location(first, node.end_lineno or node.lineno)
    header_chunk = Chunk(text, EntryType.IMPLEMENTATION, location, qualname, title, (), _head(title, node))
    return [header_chunk, *members]


def _flatten(body: list[ast.stmt]) -> list[ast.stmt]:
    """Top-level statements, with `if`/`try` blocks that define functions opened up (platform branches)."""
    out: list[ast.stmt] = []
    for node in body:
        if isinstance(node, ast.If | ast.Try) and any(isinstance(n, _DEFS) for n in ast.walk(node)):
            inner = list(node.body) + list(node.orelse)
            if isinstance(node, ast.Try):
                inner += [s for h in node.handlers for s in h.body] + list(node.finalbody)
            out += _flatten(sorted(inner, key=lambda n: n.lineno))
        else:
            out.append(node)
    return out


def chunk_python(source: str, module: str = "") -> list[Chunk]:
    """Chunk a Python file; `module` (e.g. `statistics`) prefixes titles."""
    try:
        tree = parse(source)
    except (SyntaxError, ValueError):
        return chunk_text(source, EntryType.IMPLEMENTATION, module)
    lines = source.splitlines()
    chunks: list[Chunk] = []
    loose_start: int | None = None

    def flush_loose(end: int) -> None:
        nonlocal loose_start
        if loose_start is not None and end >= loose_start:
            text = _segment(lines, loose_start, end)
            title = f"{module} (module)" if module else "module"
            chunks.extend(
                chunk_text(text, EntryType.IMPLEMENTATION, title, loose_start, MAX_CHARS, "module@")
            )
        loose_start = None

    for node in _flatten(tree.body):
        if isinstance(node, _DEFS):
            flush_loose(_first_line(node) - 1)
            if isinstance(node, ast.ClassDef):
                chunks += _class_chunks(lines, node, "", module)
            else:
                chunks += _definition_chunks(lines, node, node.name, module, None)
        elif loose_start is None:
            loose_start = _first_line(node)
    flush_loose(len(lines))
    return chunks
