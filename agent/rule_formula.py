"""A space and its `[constraints]` rules as one Z3 formula, in a context of its own.

`Formula` is what `agent.constraints.Constraints` asks its questions of: parameters become
Z3 variables, `when` conditions become activity literals, domains and rules become
implications guarded by activity, and points go in (pinned) and come out (read back from a
model) here.

Encoding choices, each for a reason:
- A `choice` with strings among its options is encoded as an index; it can only be
  compared (`==`, `!=`, `in`) with constants or another such choice, never computed with
  or ordered (`agent.expression.check_kinds` refuses that when the rules are loaded).
- A division by zero breaks the rule it is in: Z3 alone would let `x / 0` take any value.
- Floats enter as the decimal they are written as (`exact`: 0.3 is 3/10, the reading of
  `agent.expression.decimal`, which Python's evaluation shares), and a model's reals leave
  as the nearest float; an irrational answer (a curved boundary) through a 40-digit
  rational (`as_float`).
- `//` and `%` are Python's: the quotient is floored for either sign of the divisor (Z3's
  integer `div` and `mod` are Euclidean: `1 % -2` would be 1 there, -1 in Python).
- Each `Formula` has its own `z3.Context`: Z3's shared default context is not safe across
  threads (four lanes checking at once raised "context mismatch" in three of them).
"""

from __future__ import annotations

import ast
import contextlib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from agent.expression import Expression, decimal
from agent.space import Param, Point, Space

if TYPE_CHECKING:
    from agent.smt import z3


@dataclass(frozen=True)
class Rule:
    expression: Expression
    origin: str = "task"  # task | memory | …

    @property
    def text(self) -> str:
        return self.expression.text


class ConstraintError(ValueError):
    """A rule that does not fit the space, in one line: an unknown parameter, arithmetic or
    ordering on a choice of strings (`c + 1`, `c < 'b'`: such a choice has no order), a
    number where a condition belongs, a rule too long or too deeply nested."""


def exact(value: float | int | Fraction, ctx: z3.Context) -> z3.ArithRef:
    """`value` as a Z3 rational; a float as the decimal it is written as (`decimal`)."""
    from agent.smt import z3

    fraction = decimal(value) if isinstance(value, float) else Fraction(value)
    return z3.RealVal(f"{fraction.numerator}/{fraction.denominator}", ctx)


def as_float(raw: Any) -> float:
    """A model's real as the nearest float; an irrational (algebraic) one through a 40-digit
    rational approximation (it has no exact fraction: `as_fraction` fails on it)."""
    from agent.smt import z3

    if z3.is_algebraic_value(raw):
        raw = raw.approx(40)
    return float(raw.as_fraction())


def _number(value: Any, ctx: z3.Context) -> Any:
    from agent.smt import z3

    if isinstance(value, bool):
        return z3.BoolVal(value, ctx)
    if isinstance(value, int):
        return z3.IntVal(value, ctx)
    if isinstance(value, float):
        return exact(value, ctx)
    raise ConstraintError(f"{value!r} cannot be used as a number")


class Formula:
    """Z3 variables, domain, activity and rules of a space, in a context of their own;
    points go in and come out here."""

    def __init__(
        self,
        space: Space,
        rules: list[Rule],
        activity: Mapping[str, bool] | None = None,
        margin: float = 0.0,
    ) -> None:
        """`activity`, when given, decides which parameters are active (a check takes Python's
        word, `Space.activity`, so that a rule is never skipped on a reading of its own);
        `margin` tightens each ordering in the rules by that much (`a <= b` as `a + m <= b`),
        for a point whose floats keep the rules however they round (`Constraints.repair`)."""
        from agent.smt import z3

        self.space = space
        self._margin = Fraction(margin) if margin else None
        self._sign = 0  # +1 while compiling a rule's parts that must hold: those are tightened
        self.ctx = z3.Context()
        self.vars: dict[str, Any] = {}
        self.labels: dict[str, list[Any] | None] = {}  # choice parameters encoded as indices
        for param in space:
            self.vars[param.name], self.labels[param.name] = _variable(param, self.ctx)
        self.active: dict[str, Any] = {}
        for param in space:  # ordered: a `when` only reads earlier parameters
            if activity is not None:
                self.active[param.name] = z3.BoolVal(bool(activity.get(param.name)), self.ctx)
            elif param.when is None:
                self.active[param.name] = z3.BoolVal(True, self.ctx)
            else:
                reads = [self.active[name] for name in sorted(param.when.names)]
                self.active[param.name] = z3.And(*reads, self._condition(param.when))
        self.domain = [self._domain(param) for param in space]
        self.rules = [
            z3.Implies(
                z3.And(*[self.active[name] for name in sorted(rule.expression.names)], self.ctx),
                self._rule(rule.expression),
            )
            for rule in rules
        ]

    # --------------------------------------------------------------- points
    def fix(self, point: Mapping[str, Any]) -> list[Any]:
        """Equalities pinning each active parameter of `point` (values outside the domain stay free)."""
        from agent.smt import z3

        pinned = []
        for param in self.space:
            if param.name not in point:
                continue
            value = point[param.name]
            labels = self.labels[param.name]
            if labels is not None:
                if value in labels:
                    pinned.append(self.vars[param.name] == labels.index(value))
            elif param.spec.type == "bool":
                pinned.append(self.vars[param.name] == z3.BoolVal(bool(value), self.ctx))
            elif param.spec.type == "choice":
                if value in param.choices:
                    pinned.append(self.vars[param.name] == _number(value, self.ctx))
            elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                pinned.append(
                    self.vars[param.name]
                    == (exact(value, self.ctx) if param.spec.type == "float" else int(value))
                )
        return pinned

    def read(self, model: Any) -> Point:
        from agent.smt import z3

        point: Point = {}
        for param in self.space:
            if not z3.is_true(model.eval(self.active[param.name], model_completion=True)):
                continue
            raw = model.eval(self.vars[param.name], model_completion=True)
            labels = self.labels[param.name]
            if labels is not None:
                point[param.name] = labels[raw.as_long()]
            elif param.spec.type == "bool":
                point[param.name] = z3.is_true(raw)
            elif param.spec.type == "choice":
                number = raw.as_long() if z3.is_int_value(raw) else as_float(raw)
                point[param.name] = next((c for c in param.choices if c == number), param.choices[0])
            elif param.spec.type == "int":
                point[param.name] = raw.as_long()
            else:
                point[param.name] = as_float(raw)
        return point

    def distance(self, point: Mapping[str, Any]) -> Any:
        """L1 distance to `point` in the unit cube, plus 1 per changed choice or activity."""
        from agent.smt import z3

        terms = []
        for param in self.space:
            var, active = self.vars[param.name], self.active[param.name]
            was_active = param.name in point
            terms.append(z3.If(active, 0, 1) if was_active else z3.If(active, 1, 0))
            if not was_active:
                continue
            value = point[param.name]
            labels = self.labels[param.name]
            if labels is not None:
                index = labels.index(value) if value in labels else -1
                terms.append(z3.If(z3.And(active, var != index), 1, 0))
            elif param.spec.type == "bool":
                terms.append(z3.If(z3.And(active, var != z3.BoolVal(bool(value), self.ctx)), 1, 0))
            elif param.spec.type == "choice":
                same = (
                    var == _number(value, self.ctx) if value in param.choices else z3.BoolVal(False, self.ctx)
                )
                terms.append(z3.If(z3.And(active, z3.Not(same)), 1, 0))
            else:
                span = float(param.spec.high) - float(param.spec.low)  # type: ignore[arg-type]
                delta = (
                    z3.ToReal(var) - exact(float(value), self.ctx)
                    if param.spec.type == "int"
                    else var - exact(float(value), self.ctx)
                )
                scaled = delta * exact(1.0 / span, self.ctx) if span > 0 else delta
                terms.append(z3.If(active, z3.If(scaled >= 0, scaled, -scaled), 0))
        if not terms:
            return z3.RealVal(0, self.ctx)
        return z3.Sum(*[z3.ToReal(t) if z3.is_int(t) else t for t in terms])

    # ------------------------------------------------------------- compiling
    def _rule(self, expression: Expression) -> Any:
        self._sign = 1 if self._margin else 0
        try:
            return self._condition(expression)
        finally:
            self._sign = 0

    def _condition(self, expression: Expression) -> Any:
        """`expression` as a Z3 condition, false wherever Python's evaluation divides by zero."""
        from agent.smt import z3

        value = self._as_bool(self._compile(expression.tree, expression.text), expression.text)
        with self._signed(0):  # where it is defined, exactly (no margin)
            defined = self._defined(expression.tree, expression.text)
        return value if z3.is_true(defined) else z3.And(defined, value)

    def _defined(self, node: ast.expr, text: str) -> Any:
        """Where evaluating `node` divides by no zero; a part that Python's evaluation skips
        (after a false `and`, a true `or` or a chain's false link, the branch not taken) does
        not count, so `x > 0 -> 1 / x < 2` holds at x = 0 in Python and in Z3 alike."""
        match node:
            case ast.BinOp(op=op, left=left, right=right):
                parts = [self._defined(left, text), self._defined(right, text)]
                if isinstance(op, ast.Div | ast.FloorDiv | ast.Mod):
                    parts.append(self._compile(right, text) != 0)
                return self._all(parts)
            case ast.UnaryOp(operand=operand):
                return self._defined(operand, text)
            case ast.BoolOp(op=op, values=values):
                steps = [(self._defined(value, text), value) for value in values]
                return self._in_turn(steps, lambda value: self._truth(value, text, isinstance(op, ast.And)))
            case ast.Compare(left=left, ops=ops, comparators=comparators):
                steps: list[tuple[Any, Any]] = [(self._defined(left, text), None)]
                current = left
                for op, right in zip(ops, comparators, strict=True):  # a link's right side, then the link
                    inner = (
                        self._all([]) if isinstance(op, ast.In | ast.NotIn) else self._defined(right, text)
                    )
                    steps.append((inner, (op, current, right)))
                    current = right
                return self._in_turn(steps, lambda link: self._compare(*link, text))
            case ast.IfExp(test=test, body=body, orelse=orelse):
                parts = [self._defined(part, text) for part in (test, body, orelse)]
                if all(self._trivial(part) for part in parts):
                    return parts[0]
                from agent.smt import z3

                chosen = z3.If(self._truth(test, text, True), parts[1], parts[2])
                return self._all([parts[0], chosen])
            case ast.Call(func=ast.Name(id="implies"), args=[premise, conclusion]):
                steps = [(self._defined(premise, text), premise), (self._defined(conclusion, text), None)]
                return self._in_turn(steps, lambda value: self._truth(value, text, True))
            case ast.Call(args=args):
                return self._all([self._defined(arg, text) for arg in args])
        return self._all([])

    def _in_turn(self, steps: list[tuple[Any, Any]], goes_on: Any) -> Any:
        """Definedness of parts evaluated in turn: step i counts only where `goes_on` held for
        every step before it (`goes_on(item)` is the Z3 condition to go past that step)."""
        from agent.smt import z3

        if all(self._trivial(defined) for defined, _ in steps):
            return self._all([])
        parts, reached = [], []
        for defined, item in steps:
            if not self._trivial(defined):
                parts.append(z3.Implies(z3.And(*reached), defined) if reached else defined)
            if item is not None:
                reached.append(goes_on(item))
        return self._all(parts)

    def _truth(self, node: ast.expr, text: str, wanted: bool) -> Any:
        from agent.smt import z3

        value = self._as_bool(self._compile(node, text), text)
        return value if wanted else z3.Not(value)

    def _trivial(self, condition: Any) -> bool:
        from agent.smt import z3

        return bool(z3.is_true(condition))

    def _all(self, parts: list[Any]) -> Any:
        from agent.smt import z3

        kept = [part for part in parts if not self._trivial(part)]
        if not kept:
            return z3.BoolVal(True, self.ctx)
        return kept[0] if len(kept) == 1 else z3.And(*kept)

    def _domain(self, param: Param) -> Any:
        from agent.smt import z3

        var = self.vars[param.name]
        labels = self.labels[param.name]
        if labels is not None:
            return z3.And(var >= 0, var < len(labels))
        if param.spec.type == "bool":
            return z3.BoolVal(True, self.ctx)
        if param.spec.type == "choice":
            return z3.Or(*[var == _number(choice, self.ctx) for choice in param.choices])
        low, high = param.spec.low, param.spec.high
        if param.spec.type == "int":
            import math

            return z3.And(var >= math.ceil(low), var <= math.floor(high))  # type: ignore[arg-type]
        return z3.And(var >= exact(float(low), self.ctx), var <= exact(float(high), self.ctx))  # type: ignore[arg-type]

    def _as_bool(self, value: Any, text: str) -> Any:
        from agent.smt import z3

        if isinstance(value, bool):
            return z3.BoolVal(value, self.ctx)
        if not z3.is_bool(value):
            raise ConstraintError(f"rule {text!r} is not a condition (it computes a number)")
        return value

    def _compile(self, node: ast.expr, text: str) -> Any:
        from agent.smt import z3

        match node:
            case ast.Constant(value=value) if isinstance(value, str):
                raise ConstraintError(f"in {text!r}: the string {value!r} can only be compared to a choice")
            case ast.Constant(value=value):
                return _number(value, self.ctx)
            case ast.Name(id=name):
                return self.vars[name]
            case ast.BoolOp(op=ast.And(), values=parts):
                return z3.And(*[self._as_bool(self._compile(p, text), text) for p in parts])
            case ast.BoolOp(op=ast.Or(), values=parts):
                return z3.Or(*[self._as_bool(self._compile(p, text), text) for p in parts])
            case ast.UnaryOp(op=ast.Not(), operand=operand):
                with self._signed(-self._sign):
                    return z3.Not(self._as_bool(self._compile(operand, text), text))
            case ast.UnaryOp(op=ast.USub(), operand=operand):
                return -self._compile(operand, text)
            case ast.UnaryOp(op=ast.UAdd(), operand=operand):
                return self._compile(operand, text)
            case ast.BinOp(op=op, left=left, right=right):
                return self._binary(op, left, right, text)
            case ast.Compare(left=left, ops=ops, comparators=comparators):
                parts = []
                current = left
                for op, comparator in zip(ops, comparators, strict=True):
                    parts.append(self._compare(op, current, comparator, text))
                    current = comparator
                return z3.And(*parts) if len(parts) > 1 else parts[0]
            case ast.IfExp(test=test, body=body, orelse=orelse):
                with self._signed(0):
                    condition = self._as_bool(self._compile(test, text), text)
                return z3.If(condition, self._compile(body, text), self._compile(orelse, text))
            case ast.Call(func=ast.Name(id="implies"), args=[premise, conclusion]):
                with self._signed(-self._sign):
                    premise_value = self._as_bool(self._compile(premise, text), text)
                return z3.Implies(premise_value, self._as_bool(self._compile(conclusion, text), text))
            case ast.Call(func=ast.Name(id="abs"), args=[arg]):
                value = self._compile(arg, text)
                return z3.If(value >= 0, value, -value)
            case ast.Call(func=ast.Name(id=name), args=args) if name in ("min", "max"):
                values = [self._compile(arg, text) for arg in args]
                result = values[0]
                for value in values[1:]:
                    result = (
                        z3.If(value < result, value, result)
                        if name == "min"
                        else z3.If(value > result, value, result)
                    )
                return result
        raise ConstraintError(f"in {text!r}: cannot compile {ast.unparse(node)!r} to Z3")

    def _binary(self, op: ast.operator, left: ast.expr, right: ast.expr, text: str) -> Any:
        from agent.smt import z3

        a, b = self._compile(left, text), self._compile(right, text)
        for value in (a, b):
            if z3.is_bool(value):
                raise ConstraintError(f"in {text!r}: arithmetic on a condition")
        match op:
            case ast.Add():
                return a + b
            case ast.Sub():
                return a - b
            case ast.Mult():
                return a * b
            case ast.Div():
                return z3.ToReal(a) / z3.ToReal(b) if z3.is_int(a) and z3.is_int(b) else a / b
            case ast.FloorDiv() | ast.Mod():
                if not (z3.is_int(a) and z3.is_int(b)):
                    raise ConstraintError(
                        f"in {text!r}: // and % need whole-number operands (int parameters)"
                    )
                # Python floors the quotient; Z3's `div` is Euclidean (the same for b > 0 only)
                quotient = z3.If(b >= 0, a / b, (-a) / (-b))
                return quotient if isinstance(op, ast.FloorDiv) else a - b * quotient
            case ast.Pow():
                exponent = right.value  # type: ignore[attr-defined]  # checked: a constant int
                result = z3.IntVal(1, self.ctx) if z3.is_int(a) else z3.RealVal(1, self.ctx)
                for _ in range(exponent):
                    result = result * a
                return result
        raise ConstraintError(f"in {text!r}: unsupported operator")

    def _compare(self, op: ast.cmpop, left: ast.expr, right: ast.expr, text: str) -> Any:
        from agent.smt import z3

        if isinstance(op, ast.In | ast.NotIn):
            options = [element.value for element in right.elts]  # type: ignore[attr-defined]
            hits = [self._equal(left, ast.Constant(value=o), text) for o in options]
            inside = z3.Or(*hits) if hits else z3.BoolVal(False, self.ctx)
            return inside if isinstance(op, ast.In) else z3.Not(inside)
        if isinstance(op, ast.Eq | ast.NotEq):
            equal = self._equal(left, right, text)
            return equal if isinstance(op, ast.Eq) else z3.Not(equal)
        a, b = self._compile(left, text), self._compile(right, text)
        if self._margin and self._sign:  # where it must hold, by a margin; where it must fail, too
            m = exact(self._margin, self.ctx) * self._sign
            if isinstance(op, ast.Lt | ast.LtE):
                a = a + m
            elif isinstance(op, ast.Gt | ast.GtE):
                b = b + m
        match op:
            case ast.Lt():
                return a < b
            case ast.LtE():
                return a <= b
            case ast.Gt():
                return a > b
            case ast.GtE():
                return a >= b
        raise ConstraintError(f"in {text!r}: unsupported comparison")

    @contextlib.contextmanager
    def _signed(self, sign: int) -> Iterator[None]:
        before, self._sign = self._sign, sign
        try:
            yield
        finally:
            self._sign = before

    def _equal(self, left: ast.expr, right: ast.expr, text: str) -> Any:
        """`==`, where a choice parameter may meet one of its labels (compared by index), or
        another choice (equal where their labels are: their indices may differ)."""
        from agent.smt import z3

        if isinstance(left, ast.Name) and isinstance(right, ast.Name):
            mine, theirs = self.labels.get(left.id), self.labels.get(right.id)
            if mine is not None and theirs is not None:
                same = [
                    z3.And(self.vars[left.id] == i, self.vars[right.id] == j)
                    for i, a in enumerate(mine)
                    for j, b in enumerate(theirs)
                    if a == b
                ]
                return z3.Or(*same) if same else z3.BoolVal(False, self.ctx)
        for name_side, other in ((left, right), (right, left)):
            if isinstance(name_side, ast.Name) and self.labels.get(name_side.id) is not None:
                labels = self.labels[name_side.id] or []
                if isinstance(other, ast.Constant):
                    if other.value not in labels:
                        return z3.BoolVal(False, self.ctx)
                    return self.vars[name_side.id] == labels.index(other.value)
        a, b = self._compile(left, text), self._compile(right, text)
        return a == b


def _variable(param: Param, ctx: z3.Context) -> tuple[Any, list[Any] | None]:
    from agent.smt import z3

    kind = param.spec.type
    if kind == "int":
        return z3.Int(param.name, ctx), None
    if kind == "float":
        return z3.Real(param.name, ctx), None
    if kind == "bool":
        return z3.Bool(param.name, ctx), None
    choices = param.choices
    if all(isinstance(c, int) and not isinstance(c, bool) for c in choices):
        variable = z3.Int(param.name, ctx)
    elif all(isinstance(c, int | float) and not isinstance(c, bool) for c in choices):
        variable = z3.Real(param.name, ctx)
    else:
        return z3.Int(param.name, ctx), choices
    return variable, None
