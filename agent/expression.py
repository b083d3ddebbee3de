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

Both readings must mean the same, so what could differ is refused or defined here:
- `check_kinds` types a tree against the space before either reading: arithmetic and
  ordering (`<`, `<=`, `>`, `>=`) take numbers only; a choice with a string among its
  options (and a string constant) is compared with `==`, `!=` or `in` only, to constants
  or to another such choice. Python would order strings alphabetically while Z3 holds a
  choice as its index, so ordering strings is an error rather than two meanings.
- a division (`/`, `//`, `%`) by zero makes the whole expression false: Python raises
  there, and Z3 leaves `x / 0` unconstrained (any value), which passed `1 / x <= 2` at
  x = 0. A `when` that divides by zero is false (the parameter inactive), a rule that
  does is broken. Only divisions that Python's evaluation reaches count (`x > 0 -> 1 / x
  < 2` holds at x = 0), as `and`, `or`, `->`, `if` and chained comparisons stop early.
- numbers are exact in both readings: a float (a literal or a parameter's value) stands for
  the shortest decimal that reads back as it (`0.3` is 3/10, `1e-4` is 1/10000, as written,
  not the binary float next to it), and `evaluate` computes with `fractions.Fraction` just
  as Z3 computes with rationals (`n / 10 == 0.1` holds at n = 1 in both; `x ** 8` never
  overflows). `//` and `%` are Python's (floor) in both, for either sign of the divisor.
- a tree is at most `MAX_DEPTH` deep (a sum of n terms is n deep): deeper trees overflow
  Python's recursion in the parser, the checks or the Z3 compiler.
"""

from __future__ import annotations

import ast
import enum
import keyword
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from sandbox.pyparse import parse as python_parse

_IMPLIES = re.compile(r"->|\bimplies\b(?!\s*\()")
_FUNCTIONS = {"abs", "min", "max", "implies"}
_COMPARE = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn)
_BINARY = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
MAX_DEPTH = 200  # nodes from the root to the deepest leaf; see the module docstring
RESERVED = frozenset(keyword.kwlist) | _FUNCTIONS  # words a parameter cannot be called: rules read them


class ExpressionError(ValueError):
    """A rule that is not valid in the expression language; the message says what and where."""


@dataclass(frozen=True)
class Expression:
    """A checked expression: its source text, its tree, and the parameter names it reads."""

    text: str
    tree: ast.expr
    names: frozenset[str]

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        """The value on `values`, exact: a number comes back as an int or a `Fraction`."""
        return evaluate(self.tree, values)

    def holds(self, values: Mapping[str, Any]) -> bool:
        """Whether the condition is true on `values`; false where it divides by zero, as Z3
        reads it (see the module docstring). `MissingValue` passes."""
        try:
            return bool(evaluate(self.tree, values))
        except ArithmeticError:
            return False


def parse(text: str) -> Expression:
    """Parse and check `text`; raises `ExpressionError` with one clear line."""
    too_deep = ExpressionError(
        f"rule {_shown(text)} is too long or too deeply nested (at most {MAX_DEPTH} levels; a sum or "
        "chain of n terms is n levels): split it into several rules"
    )
    try:
        source = _desugar(text.strip())
        tree = python_parse(source, mode="eval").body  # one at a time: see `sandbox.pyparse`
    except SyntaxError as error:
        raise ExpressionError(f"rule {_shown(text)} is not a valid expression: {error.msg}") from None
    except (RecursionError, MemoryError):
        raise too_deep from None
    if _depth(tree) > MAX_DEPTH:
        raise too_deep
    names: set[str] = set()
    _check(tree, text, names)
    return Expression(text=text.strip(), tree=tree, names=frozenset(names))


def _shown(text: str) -> str:
    """`text` quoted for a one-line message, cut when long (a 600-term sum is not worth printing)."""
    return repr(text) if len(text) <= 120 else repr(text[:100]) + f"… ({len(text)} characters)"


def _depth(tree: ast.AST) -> int:
    """The depth of `tree`, counted without recursion (a too-deep tree is what this guards)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


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
    if len(parts) > 1 and any(not part.strip() for part in parts):  # `()` alone is not an implication
        raise ExpressionError(f"an implication in {text!r} lacks a side")
    return parts


# --------------------------------------------------------------------- checking
def _check(node: ast.AST, text: str, names: set[str]) -> None:
    match node:
        case ast.Constant(value=float() as value) if not math.isfinite(value):
            raise ExpressionError(f"in {_shown(text)}: a number is too large (beyond ±1.8e308)")
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
                    if not comparator.elts:
                        raise ExpressionError(
                            f"in {text!r}: `in` has an empty list, which nothing is in; list the values, "
                            "e.g. x in (1, 2)"
                        )
                    for element in comparator.elts:
                        if not isinstance(element, ast.Constant):
                            raise ExpressionError(f"in {text!r}: `in` lists hold constants only")
                        _check(element, text, names)
                else:
                    _check(comparator, text, names)
        case ast.IfExp(test=test, body=body, orelse=orelse):
            for part in (test, body, orelse):
                _check(part, text, names)
        case ast.Call(func=ast.Name(id=name), args=args, keywords=[]) if name in _FUNCTIONS:
            expected = {"abs": (1, 1), "implies": (2, 2), "min": (2, 8), "max": (2, 8)}[name]
            if not expected[0] <= len(args) <= expected[1]:
                count = (
                    f"{expected[0]} argument" + ("s" if expected[0] > 1 else "")
                    if expected[0] == expected[1]
                    else f"{expected[0]} to {expected[1]} arguments"
                )
                raise ExpressionError(f"in {text!r}: {name}() takes {count}, not {len(args)}")
            for arg in args:
                _check(arg, text, names)
        case _:
            shown = ast.unparse(node) if isinstance(node, ast.expr) else type(node).__name__
            raise ExpressionError(
                f"in {text!r}: {shown!r} is not allowed (rules use parameters, numbers, strings, "
                "+ - * / // % **, comparisons, and/or/not, ->, abs/min/max)"
            )


# ------------------------------------------------------------------------ kinds
class Kind(enum.StrEnum):
    """What a parameter or a part of an expression stands for, checked before it is used."""

    INT = "whole number"
    REAL = "number"
    CONDITION = "condition"
    LABEL = "choice"  # a choice with a string (or a bool) among its options; compared, never computed


_NUMBERS = (Kind.INT, Kind.REAL)


def check_kinds(expression: Expression, kinds: Mapping[str, Kind]) -> None:
    """Refuse, with one line, an expression that Python and Z3 would not read alike.

    `kinds` gives each parameter's kind; every name the expression reads must be in it.
    The whole must be a condition; see the module docstring for what each part may be.
    """
    text = expression.text
    if _kind(expression.tree, text, kinds) is not Kind.CONDITION:
        raise ExpressionError(f"rule {_shown(text)} is not a condition (it computes a number)")


def _kind(node: ast.expr, text: str, kinds: Mapping[str, Kind]) -> Kind:
    match node:
        case ast.Constant(value=bool()):
            return Kind.CONDITION
        case ast.Constant(value=int()):
            return Kind.INT
        case ast.Constant(value=float()):
            return Kind.REAL
        case ast.Constant():
            return Kind.LABEL
        case ast.Name(id=name):
            return kinds[name]
        case ast.BoolOp(values=parts):
            for part in parts:
                _condition(part, text, kinds)
            return Kind.CONDITION
        case ast.UnaryOp(op=ast.Not(), operand=operand):
            _condition(operand, text, kinds)
            return Kind.CONDITION
        case ast.UnaryOp(operand=operand):
            return _number(operand, text, kinds)
        case ast.BinOp(op=op, left=left, right=right):
            return _arithmetic(op, _number(left, text, kinds), _number(right, text, kinds), text)
        case ast.Compare(left=left, ops=ops, comparators=comparators):
            current = left
            for op, comparator in zip(ops, comparators, strict=True):
                _link(op, current, comparator, text, kinds)
                current = comparator
            return Kind.CONDITION
        case ast.IfExp(test=test, body=body, orelse=orelse):
            _condition(test, text, kinds)
            return _branches(_kind(body, text, kinds), _kind(orelse, text, kinds), node, text)
        case ast.Call(func=ast.Name(id="implies"), args=args):
            for arg in args:
                _condition(arg, text, kinds)
            return Kind.CONDITION
        case ast.Call(args=args):
            numbers = [_number(arg, text, kinds) for arg in args]
            return Kind.INT if all(kind is Kind.INT for kind in numbers) else Kind.REAL
    raise ExpressionError(f"in {_shown(text)}: cannot type {ast.unparse(node)!r}")


def _arithmetic(op: ast.operator, left: Kind, right: Kind, text: str) -> Kind:
    if isinstance(op, ast.Div):
        return Kind.REAL
    if isinstance(op, ast.FloorDiv | ast.Mod):
        if left is not Kind.INT or right is not Kind.INT:
            raise ExpressionError(f"in {_shown(text)}: // and % need whole-number operands (int parameters)")
        return Kind.INT
    if isinstance(op, ast.Pow):
        return left
    return Kind.INT if left is right is Kind.INT else Kind.REAL


def _branches(body: Kind, orelse: Kind, node: ast.expr, text: str) -> Kind:
    if body is orelse and body is not Kind.LABEL:
        return body
    if body in _NUMBERS and orelse in _NUMBERS:
        return Kind.REAL
    raise ExpressionError(
        f"in {_shown(text)}: the branches of {ast.unparse(node)!r} must be both numbers or both conditions"
    )


def _condition(node: ast.expr, text: str, kinds: Mapping[str, Kind]) -> None:
    if (kind := _kind(node, text, kinds)) is not Kind.CONDITION:
        raise ExpressionError(
            f"in {_shown(text)}: {ast.unparse(node)!r} is a {kind.value}, where and/or/not/-> need a condition"
        )


def _number(node: ast.expr, text: str, kinds: Mapping[str, Kind]) -> Kind:
    kind = _kind(node, text, kinds)
    if kind in _NUMBERS:
        return kind
    raise ExpressionError(f"in {_shown(text)}: {_not_a_number(node, kind)}")


def _not_a_number(node: ast.expr, kind: Kind) -> str:
    shown = ast.unparse(node)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return f"the string {node.value!r} can only be compared to a choice (==, != or in)"
    if kind is Kind.LABEL:
        return (
            f"{shown} is a choice with strings among its options: it can only be compared with ==, != "
            "or in (no arithmetic, no ordering: its options have no order)"
        )
    return f"{shown!r} is a condition, not a number (arithmetic or ordering on a condition)"


def _link(op: ast.cmpop, left: ast.expr, right: ast.expr, text: str, kinds: Mapping[str, Kind]) -> None:
    """One link of a comparison: ordering takes numbers; ==, != and `in` take like with like."""
    if isinstance(op, ast.Lt | ast.LtE | ast.Gt | ast.GtE):
        _number(left, text, kinds)
        _number(right, text, kinds)
        return
    others = right.elts if isinstance(op, ast.In | ast.NotIn) else [right]  # type: ignore[attr-defined]
    for other in others:
        _equality(left, other, text, kinds)


def _equality(left: ast.expr, right: ast.expr, text: str, kinds: Mapping[str, Kind]) -> None:
    """A choice of strings meets a constant or another such choice; numbers meet numbers,
    conditions conditions. Z3 holds such a choice as an index: anything else would compare the index."""
    sides = (left, right)
    if any(_kind(side, text, kinds) is Kind.LABEL for side in sides):
        choices = [side for side in sides if isinstance(side, ast.Name) and kinds[side.id] is Kind.LABEL]
        if len(choices) == 2 or (choices and any(isinstance(side, ast.Constant) for side in sides)):
            return
        if not choices:  # a string constant, met by no choice
            string = next(side for side in sides if _kind(side, text, kinds) is Kind.LABEL)
            raise ExpressionError(f"in {_shown(text)}: {_not_a_number(string, Kind.LABEL)}")
        other = right if choices[0] is left else left
        raise ExpressionError(
            f"in {_shown(text)}: {ast.unparse(choices[0])} is a choice with strings among its options: "
            f"compare it with a constant or another such choice, not with {ast.unparse(other)!r}"
        )
    kinds_met = {_kind(side, text, kinds) for side in sides}
    if Kind.CONDITION in kinds_met and len(kinds_met) > 1:
        raise ExpressionError(
            f"in {_shown(text)}: {ast.unparse(left)!r} and {ast.unparse(right)!r} compare a condition with a number"
        )


# ------------------------------------------------------------------- evaluation
class MissingValue(LookupError):
    """The expression reads a parameter that has no value (e.g. an inactive one)."""


def decimal(value: float) -> Fraction:
    """A float as the number it is written as: the shortest decimal that reads back as it
    (`0.1` is 1/10). Z3 (`agent.rule_formula`) reads floats the same way."""
    return Fraction(repr(float(value)))


def exact(value: Any) -> Any:
    """`value` as the expression language reads it: a float as its `decimal`, else as it is."""
    return decimal(value) if type(value) is float and math.isfinite(value) else value


def evaluate(node: ast.expr, values: Mapping[str, Any]) -> Any:
    """Interpret a checked tree on concrete `values`, exactly (floats as their `decimal`)."""
    match node:
        case ast.Constant(value=value):
            return exact(value)
        case ast.Name(id=name):
            if name not in values:
                raise MissingValue(name)
            return exact(values[name])
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
                    [exact(element.value) for element in comparator.elts]  # type: ignore[attr-defined]
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
        case ast.Div():  # two ints: an exact ratio, as Z3 has it (not the float `1 / 10`)
            if type(left) is int and type(right) is int:
                return Fraction(left, right)
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
