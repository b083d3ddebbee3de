"""Constraint checks before evaluation: `[constraints]` rules compiled to Z3 over the `[space]`.

    [constraints]
    rules = ["max_iter * max_depth <= 1200", "model == 'knn' -> k % 2 == 1"]
    on_violation = "reject"      # or "repair"

A candidate point is checked before it is committed for evaluation:
- `check` fixes every active parameter to the point's value and asks Z3, rule by
  rule, whether the rule can hold. `unsat` names the rule as violated; `unknown`
  (a timeout) is *not* a pass: the point is refused as unproven.
- `repair` asks Z3 `Optimize` for the feasible point nearest to the given one
  (L1 distance in the unit cube; a changed choice or a parameter switched on/off
  costs 1), then checks the result again.

A rule applies only when every parameter it reads is active (its `when` holds):
`k <= 50` says nothing about a point where `k` is inactive. Domain bounds, ints and
choices are constraints too, so a repair always lands inside the space. Extra
exclusion rules (e.g. failing regions remembered from earlier runs) are added as
more rules with their own origin, and reported as such.

Z3's timeout is soft; our formulas are small (a handful of bounded parameters), so
checks run in-process with a time limit rather than in a killable subprocess.
Strings in `choice` parameters are encoded as indices; `==`/`!=`/`in` against a
string constant compare indices.

Every check, repair and contradiction compiles the rules afresh in its own Z3
`Context` (about a millisecond). Z3's shared default context is not safe across
threads: the lanes' proposals are asked for at once (an LLM proposer settling its
points against the rules in several threads), and four threads checking and
repairing in the shared context raised "context mismatch" in three of them. A context
per question is also one less hidden state: an answer depends on the rules and the
point, not on what Z3 was asked before in the process.
"""

from __future__ import annotations

import ast
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from agent.expression import Expression, ExpressionError, parse
from agent.space import Param, Point, Space

if TYPE_CHECKING:
    from agent.smt import z3


class Outcome(enum.StrEnum):
    OK = "ok"
    VIOLATED = "violated"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Rule:
    expression: Expression
    origin: str = "task"  # task | memory | …

    @property
    def text(self) -> str:
        return self.expression.text


@dataclass
class Check:
    """The verdict on one point: which rules it breaks, in words the proposer can use."""

    outcome: Outcome
    violated: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.OK

    @property
    def feedback(self) -> str:
        lines = [f"violates: {rule}" for rule in self.violated]
        lines += [
            f"could not be proven within the time limit (unknown is not a pass): {rule}"
            for rule in self.unknown
        ]
        return "; ".join(lines)


@dataclass
class Repair:
    """A repaired point (None when no feasible point was found or it could not be proven)."""

    point: Point | None
    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    reason: str = ""


class ConstraintError(ValueError):
    """A rule that does not fit the space (unknown parameter, string arithmetic, …)."""


class Constraints:
    """The rules of one task over its space; each question is asked in a Z3 context of its own."""

    def __init__(self, space: Space, rules: Iterable[str | Rule], timeout: float = 10.0) -> None:
        self.space = space
        self.timeout_ms = max(1, int(timeout * 1000))
        self.rules: list[Rule] = []
        for rule in rules:
            self.rules.append(rule if isinstance(rule, Rule) else Rule(_parse(str(rule))))
        for rule in self.rules:
            unknown = sorted(rule.expression.names - set(space.names))
            if unknown:
                raise ConstraintError(f"rule {rule.text!r} reads unknown parameter(s): {', '.join(unknown)}")
        if self.rules:
            self.compiled()  # type errors surface when the task is loaded, not mid-run

    def __bool__(self) -> bool:
        return bool(self.rules)

    def with_rules(self, extra: Iterable[Rule]) -> Constraints:
        """The same constraints plus `extra` rules (e.g. exclusions learned from memory)."""
        return Constraints(self.space, [*self.rules, *extra], timeout=self.timeout_ms / 1000)

    def compiled(self) -> _Compiled:
        """The space and rules in a new Z3 context (see the module docstring for why new)."""
        return _Compiled(self.space, self.rules)

    # ------------------------------------------------------------------ check
    def check(self, point: Mapping[str, Any]) -> Check:
        """Is `point` feasible? Each rule is asked of Z3 with the point's values fixed."""
        bounds = _out_of_bounds(self.space, point)
        if not self.rules:
            return Check(Outcome.VIOLATED, violated=bounds) if bounds else Check(Outcome.OK)
        from agent.smt import z3

        compiled = self.compiled()
        solver = z3.Solver(ctx=compiled.ctx)
        solver.set("timeout", self.timeout_ms)
        solver.add(*compiled.fix(point))
        violated, unknown = list(bounds), []
        for rule, formula in zip(self.rules, compiled.rules, strict=True):
            solver.push()
            solver.add(formula)
            answer = solver.check()
            solver.pop()
            if answer == z3.unsat:
                violated.append(rule.text + ("" if rule.origin == "task" else f" ({rule.origin})"))
            elif answer != z3.sat:
                unknown.append(rule.text)
        if violated:
            return Check(Outcome.VIOLATED, violated=violated, unknown=unknown)
        if unknown:
            return Check(Outcome.UNKNOWN, unknown=unknown)
        return Check(Outcome.OK)

    def contradiction(self) -> list[str] | None:
        """The rules that no point of the space satisfies together (Z3's unsat core), or None.

        Asked once before a run, so that rules no point meets are the user's error up front
        rather than a run of rejected candidates. None also when Z3 cannot tell in time.
        """
        if not self.rules:
            return None
        from agent.smt import z3

        compiled = self.compiled()
        solver = z3.Solver(ctx=compiled.ctx)
        solver.set("timeout", self.timeout_ms)
        solver.add(*compiled.domain)
        labels = {}
        for index, (rule, formula) in enumerate(zip(self.rules, compiled.rules, strict=True)):
            label = z3.Bool(f"rule_{index}", compiled.ctx)
            labels[str(label)] = rule.text
            solver.assert_and_track(formula, label)
        if solver.check() != z3.unsat:
            return None
        return [labels[str(label)] for label in solver.unsat_core()]

    # ----------------------------------------------------------------- repair
    def repair(self, point: Mapping[str, Any]) -> Repair:
        """The nearest feasible point, checked again; None when there is none or it is unproven.

        Z3 `Optimize` answers linear rules exactly; with non-linear rules (`a * b <= c`) it
        often says `unknown`, so the fallback bisects the distance with a plain `Solver`
        (which handles bounded non-linear integer rules well), then puts back any
        parameter whose original value still fits.
        """
        from agent.smt import z3

        compiled = self.compiled()
        distance = compiled.distance(point)
        optimizer = z3.Optimize(ctx=compiled.ctx)
        optimizer.set("timeout", max(1, min(400, self.timeout_ms // 4)))
        optimizer.add(*compiled.domain, *compiled.rules)
        optimizer.minimize(distance)
        answer = optimizer.check()
        if answer == z3.unsat:
            return Repair(None, reason="no point of the space satisfies every rule")
        repaired = compiled.read(optimizer.model()) if answer == z3.sat else self._bisect(compiled, distance)
        if repaired is None:
            return Repair(None, reason="Z3 could not find a repair within the time limit (unknown)")
        repaired = self._restore(point, repaired)
        verdict = self.check(repaired)
        if not verdict.passed:
            return Repair(None, reason=f"the repaired point fails its own check: {verdict.feedback}")
        changed = {
            name: (point.get(name), repaired.get(name))
            for name in self.space.names
            if point.get(name) != repaired.get(name)
        }
        return Repair(repaired, changed=changed)

    def _bisect(self, compiled: _Compiled, distance: Any, steps: int = 14) -> Point | None:
        from agent.smt import z3

        solver = z3.Solver(ctx=compiled.ctx)
        solver.set("timeout", max(1, self.timeout_ms // (steps + 2)))
        solver.add(*compiled.domain, *compiled.rules)
        low, high = 0.0, float(2 * len(self.space.names) + 1)
        best = None
        for _ in range(steps):
            middle = (low + high) / 2
            solver.push()
            solver.add(distance <= _exact(middle, compiled.ctx))
            answer = solver.check()
            if answer == z3.sat:
                best, high = compiled.read(solver.model()), middle
            else:  # unsat, or unknown: look farther out (a found point is still checked later)
                low = middle
            solver.pop()
        return best

    def _restore(self, original: Mapping[str, Any], repaired: Point) -> Point:
        """Put back each original value the repaired point does not need to change."""
        current = dict(repaired)
        for name in self.space.names:
            if name in original and name in current and current[name] != original[name]:
                trial = self.space.complete({**current, name: original[name]}, fill=current)
                if self.check(trial).passed:
                    current = trial
        return current


def _parse(text: str) -> Expression:
    try:
        return parse(text)
    except ExpressionError as error:
        raise ConstraintError(str(error)) from None


def _out_of_bounds(space: Space, point: Mapping[str, Any]) -> list[str]:
    problems = []
    for param in space:
        if param.name not in point:
            continue
        value = point[param.name]
        if param.numeric:
            if not isinstance(value, int | float) or isinstance(value, bool):
                problems.append(f"{param.name}={value!r} is not a number")
            elif not param.spec.low <= value <= param.spec.high:  # type: ignore[operator]
                problems.append(f"{param.name}={value} is outside [{param.spec.low:g}, {param.spec.high:g}]")
            elif param.spec.type == "int" and int(value) != value:
                problems.append(f"{param.name}={value} is not a whole number")
        elif value not in param.choices:
            problems.append(f"{param.name}={value!r} is not one of {param.choices}")
    return problems


def _exact(value: float | int, ctx: z3.Context) -> z3.ArithRef:
    from agent.smt import z3

    fraction = Fraction(value)
    return z3.RealVal(f"{fraction.numerator}/{fraction.denominator}", ctx)


def _number(value: Any, ctx: z3.Context) -> Any:
    from agent.smt import z3

    if isinstance(value, bool):
        return z3.BoolVal(value, ctx)
    if isinstance(value, int):
        return z3.IntVal(value, ctx)
    if isinstance(value, float):
        return _exact(value, ctx)
    raise ConstraintError(f"{value!r} cannot be used as a number")


class _Compiled:
    """Z3 variables, domain, activity and rules of a space, in a context of their own;
    points go in and come out here."""

    def __init__(self, space: Space, rules: list[Rule]) -> None:
        from agent.smt import z3

        self.space = space
        self.ctx = z3.Context()
        self.vars: dict[str, Any] = {}
        self.labels: dict[str, list[Any] | None] = {}  # choice parameters encoded as indices
        for param in space:
            self.vars[param.name], self.labels[param.name] = _variable(param, self.ctx)
        self.active: dict[str, Any] = {}
        for param in space:  # ordered: a `when` only reads earlier parameters
            if param.when is None:
                self.active[param.name] = z3.BoolVal(True, self.ctx)
            else:
                reads = [self.active[name] for name in sorted(param.when.names)]
                self.active[param.name] = z3.And(*reads, self._compile(param.when.tree, param.when.text))
        self.domain = [self._domain(param) for param in space]
        self.rules = [
            z3.Implies(
                z3.And(*[self.active[name] for name in sorted(rule.expression.names)], self.ctx),
                self._as_bool(self._compile(rule.expression.tree, rule.text), rule.text),
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
            elif isinstance(value, int | float) and not isinstance(value, bool):
                pinned.append(
                    self.vars[param.name]
                    == (_exact(value, self.ctx) if param.spec.type == "float" else int(value))
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
                number = raw.as_long() if z3.is_int_value(raw) else float(raw.as_fraction())
                point[param.name] = next((c for c in param.choices if c == number), param.choices[0])
            elif param.spec.type == "int":
                point[param.name] = raw.as_long()
            else:
                point[param.name] = float(raw.as_fraction())
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
                    z3.ToReal(var) - _exact(float(value), self.ctx)
                    if param.spec.type == "int"
                    else var - _exact(float(value), self.ctx)
                )
                scaled = delta * _exact(1.0 / span, self.ctx) if span > 0 else delta
                terms.append(z3.If(active, z3.If(scaled >= 0, scaled, -scaled), 0))
        if not terms:
            return z3.RealVal(0, self.ctx)
        return z3.Sum(*[z3.ToReal(t) if z3.is_int(t) else t for t in terms])

    # ------------------------------------------------------------- compiling
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
        return z3.And(var >= _exact(float(low), self.ctx), var <= _exact(float(high), self.ctx))  # type: ignore[arg-type]

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
                return z3.If(
                    self._as_bool(self._compile(test, text), text),
                    self._compile(body, text),
                    self._compile(orelse, text),
                )
            case ast.Call(func=ast.Name(id="implies"), args=[premise, conclusion]):
                return z3.Implies(
                    self._as_bool(self._compile(premise, text), text),
                    self._as_bool(self._compile(conclusion, text), text),
                )
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
                return a / b if isinstance(op, ast.FloorDiv) else a % b
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

    def _equal(self, left: ast.expr, right: ast.expr, text: str) -> Any:
        """`==`, where a choice parameter may meet one of its labels (compared by index)."""
        from agent.smt import z3

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


def constraints_for(task: Any, space: Space | None = None, extra: Iterable[Rule] = ()) -> Constraints:
    """The task's constraints over its space (`extra` rules appended)."""
    spec = task.spec.constraints
    return Constraints(space or Space.from_task(task), [*spec.rules, *extra], timeout=spec.timeout)
