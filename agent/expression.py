"""The small expression language of task files: `[constraints]` rules and `when` conditions.

    max_iter * max_depth <= 1200
    batch % 8 == 0
    model == 'knn' -> n_neighbors <= 50            (also: `implies`, or implies(a, b))
    not (degree == 1 and pca > 10)
    abs(a - b) < 3 or min(a, b) >= 2

Parsed with Python's `ast` (never `eval`): the text is first desugared so that an
implication `A -> B` (lowest precedence, right-associative, also inside parentheses)
becomes the conditional `(B) if (A) else True`, then every node of the tree is checked
against a whitelist. The checked tree is the representation: `evaluate` interprets it
in Python (for `when` conditions on concrete points) and `agent.constraints` compiles
the same tree to Z3. Hand-written because no library parses this dialect safely.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_IMPLIES = re.compile(r"->|\bimplies\b(?!\s*\()")
_FUNCTIONS = {"abs", "min", "max", "implies"}
_COMPARE = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn)
_BINARY = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)


class ExpressionError(ValueError):
    """A rule that is not valid in the expression language; the message says what and where."""


@dataclass(frozen=True)
class Expression:
    """A checked expression: its source text, its tree, and the parameter names it reads."""

    text: str
    tree: ast.expr
    names: frozenset[str]

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        return evaluate(self.tree, values)


def parse(text: str) -> Expression:
    """Parse and check `text`; raises `ExpressionError` with one clear line."""
    source = _desugar(text.strip())
    try:
        tree = ast.parse(source, mode="eval").body
    except SyntaxError as error:
        raise ExpressionError(f"rule {text!r} is not a valid expression: {error.msg}") from None
    names: set[str] = set()
    _check(tree, text, names)
    return Expression(text=text.strip(), tree=tree, names=frozenset(names))


# ------------------------------------------------------------------- desugaring
def _desugar(text: str) -> str:
    """Rewrite implications (`->`, `implies`) into conditionals, innermost parentheses first."""
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char in "\"'":
            end = _string_end(text, index)
            out.append(text[index:end])
            index = end
        elif char in "([":
            end = _matching(text, index)
            inner = _desugar(text[index + 1 : end])
            out.append(f"{char}{inner}{text[end]}")
            index = end + 1
        else:
            out.append(char)
            index += 1
    flat = "".join(out)
    parts = _split_top_level(flat)
    if len(parts) == 1:
        return flat
    result = parts[-1].strip()
    for premise in reversed(parts[:-1]):
        result = f"(({result}) if ({premise.strip()}) else True)"
    return result


def _string_end(text: str, start: int) -> int:
    quote = text[start]
    end = text.find(quote, start + 1)
    if end < 0:
        raise ExpressionError(f"unterminated string in {text!r}")
    return end + 1


def _matching(text: str, start: int) -> int:
    pairs = {"(": ")", "[": "]"}
    depth = 0
    index = start
    while index < len(text):
        char = text[index]
        if char in "\"'":
            index = _string_end(text, index)
            continue
        if char in pairs:
            depth += 1
        elif char in ")]":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    raise ExpressionError(f"unbalanced parentheses in {text!r}")


def _split_top_level(text: str) -> list[str]:
    """Split at implication arrows outside strings and parentheses (already desugared inside)."""
    parts: list[str] = []
    depth = 0
    last = 0
    index = 0
    while index < len(text):
        char = text[index]
        if char in "\"'":
            index = _string_end(text, index)
            continue
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif depth == 0 and (match := _IMPLIES.match(text, index)):
            parts.append(text[last:index])
            index = last = match.end()
            continue
        index += 1
    parts.append(text[last:])
    if any(not part.strip() for part in parts):
        raise ExpressionError(f"an implication in {text!r} lacks a side")
    return parts


# --------------------------------------------------------------------- checking
def _check(node: ast.AST, text: str, names: set[str]) -> None:
    match node:
        case ast.Constant(value=value) if isinstance(value, bool | int | float | str):
            return
        case ast.Name(id=name):
            if name in _FUNCTIONS:
                raise ExpressionError(f"in {text!r}: {name} is a function, call it")
            names.add(name)
        case ast.BoolOp(values=values):
            for value in values:
                _check(value, text, names)
        case ast.UnaryOp(op=ast.Not() | ast.USub() | ast.UAdd(), operand=operand):
            _check(operand, text, names)
        case ast.BinOp(op=op, left=left, right=right) if isinstance(op, _BINARY):
            if isinstance(op, ast.Pow) and not (
                isinstance(right, ast.Constant) and type(right.value) is int and 0 <= right.value <= 8
            ):
                raise ExpressionError(f"in {text!r}: ** needs a whole constant exponent from 0 to 8")
            _check(left, text, names)
            _check(right, text, names)
        case ast.Compare(left=left, ops=ops, comparators=comparators):
            if not all(isinstance(op, _COMPARE) for op in ops):
                raise ExpressionError(f"in {text!r}: unsupported comparison (use == != < <= > >= in)")
            _check(left, text, names)
            for op, comparator in zip(ops, comparators, strict=True):
                if isinstance(op, ast.In | ast.NotIn):
                    if not isinstance(comparator, ast.Tuple | ast.List | ast.Set):
                        raise ExpressionError(f"in {text!r}: `in` needs a literal list, e.g. x in (1, 2)")
                    for element in comparator.elts:
                        if not isinstance(element, ast.Constant):
                            raise ExpressionError(f"in {text!r}: `in` lists hold constants only")
                else:
                    _check(comparator, text, names)
        case ast.IfExp(test=test, body=body, orelse=orelse):
            for part in (test, body, orelse):
                _check(part, text, names)
        case ast.Call(func=ast.Name(id=name), args=args, keywords=[]) if name in _FUNCTIONS:
            expected = {"abs": (1, 1), "implies": (2, 2), "min": (2, 8), "max": (2, 8)}[name]
            if not expected[0] <= len(args) <= expected[1]:
                raise ExpressionError(f"in {text!r}: {name}() takes {expected[0]} argument(s)")
            for arg in args:
                _check(arg, text, names)
        case _:
            shown = ast.unparse(node) if isinstance(node, ast.expr) else type(node).__name__
            raise ExpressionError(
                f"in {text!r}: {shown!r} is not allowed (rules use parameters, numbers, strings, "
                "+ - * / // % **, comparisons, and/or/not, ->, abs/min/max)"
            )


# ------------------------------------------------------------------- evaluation
class MissingValue(LookupError):
    """The expression reads a parameter that has no value (e.g. an inactive one)."""


def evaluate(node: ast.expr, values: Mapping[str, Any]) -> Any:
    """Interpret a checked tree on concrete `values`."""
    match node:
        case ast.Constant(value=value):
            return value
        case ast.Name(id=name):
            if name not in values:
                raise MissingValue(name)
            return values[name]
        case ast.BoolOp(op=ast.And(), values=parts):
            return all(evaluate(part, values) for part in parts)
        case ast.BoolOp(op=ast.Or(), values=parts):
            return any(evaluate(part, values) for part in parts)
        case ast.UnaryOp(op=ast.Not(), operand=operand):
            return not evaluate(operand, values)
        case ast.UnaryOp(op=ast.USub(), operand=operand):
            return -evaluate(operand, values)
        case ast.UnaryOp(op=ast.UAdd(), operand=operand):
            return +evaluate(operand, values)
        case ast.BinOp(op=op, left=left, right=right):
            return _binary(op, evaluate(left, values), evaluate(right, values))
        case ast.Compare(left=left, ops=ops, comparators=comparators):
            current = evaluate(left, values)
            for op, comparator in zip(ops, comparators, strict=True):
                other = (
                    [element.value for element in comparator.elts]  # type: ignore[attr-defined]
                    if isinstance(op, ast.In | ast.NotIn)
                    else evaluate(comparator, values)
                )
                if not _compare(op, current, other):
                    return False
                current = other
            return True
        case ast.IfExp(test=test, body=body, orelse=orelse):
            return evaluate(body, values) if evaluate(test, values) else evaluate(orelse, values)
        case ast.Call(func=ast.Name(id="implies"), args=[premise, conclusion]):
            return (not evaluate(premise, values)) or bool(evaluate(conclusion, values))
        case ast.Call(func=ast.Name(id=name), args=args):
            evaluated = [evaluate(arg, values) for arg in args]
            return {
                "abs": lambda: abs(evaluated[0]),
                "min": lambda: min(evaluated),
                "max": lambda: max(evaluated),
            }[name]()
    raise ExpressionError(f"cannot evaluate {ast.unparse(node)!r}")


def _binary(op: ast.operator, left: Any, right: Any) -> Any:
    match op:
        case ast.Add():
            return left + right
        case ast.Sub():
            return left - right
        case ast.Mult():
            return left * right
        case ast.Div():
            return left / right
        case ast.FloorDiv():
            return left // right
        case ast.Mod():
            return left % right
        case ast.Pow():
            return left**right
    raise ExpressionError(f"unsupported operator {type(op).__name__}")


def _compare(op: ast.cmpop, left: Any, right: Any) -> bool:
    match op:
        case ast.Eq():
            return bool(left == right)
        case ast.NotEq():
            return bool(left != right)
        case ast.Lt():
            return bool(left < right)
        case ast.LtE():
            return bool(left <= right)
        case ast.Gt():
            return bool(left > right)
        case ast.GtE():
            return bool(left >= right)
        case ast.In():
            return left in right
        case ast.NotIn():
            return left not in right
    raise ExpressionError(f"unsupported comparison {type(op).__name__}")
