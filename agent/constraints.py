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
A `choice` with strings among its options is encoded as an index; it can only be
compared (`==`, `!=`, `in`) with constants or another such choice, never computed with
or ordered (`agent.expression.check_kinds` refuses that when the rules are loaded, for
rules and `when` conditions alike). A division by zero breaks the rule it is in (Z3
alone would let `x / 0` take any value). Points are floats while Z3 answers in exact
rationals, or irrationals on a curved boundary: a repair's answer is rounded to floats
and, where rounding broke a rule, pinned to floats one parameter at a time.

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
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from agent.expression import Expression, ExpressionError, check_kinds, parse
from agent.space import Param, Point, Space

if TYPE_CHECKING:
    from agent.deadline import Deadline
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
    """A rule that does not fit the space, in one line: an unknown parameter, arithmetic or
    ordering on a choice of strings (`c + 1`, `c < 'b'`: such a choice has no order), a
    number where a condition belongs, a rule too long or too deeply nested."""


@dataclass(frozen=True)
class Clash:
    """The up-front check of the rules together: the clashing rules (None when none was found),
    and whether Z3 decided within its time (an undecided check found none, and proved nothing)."""

    rules: list[str] | None
    decided: bool


class Constraints:
    """The rules of one task over its space; each question is asked in a Z3 context of its own."""

    def __init__(
        self,
        space: Space,
        rules: Iterable[str | Rule],
        timeout: float = 10.0,
        deadline: Deadline | None = None,
    ) -> None:
        self.space = space
        self.timeout_ms = max(1, int(timeout * 1000))
        # the run's search deadline, set by the loop: no Z3 question outlasts it (an undecidable rule
        # spent its whole timeout on every check and repair, and a 30 s run took 68 s)
        self.deadline = deadline
        self.rules: list[Rule] = []
        kinds = {param.name: param.kind for param in space}
        for rule in rules:
            rule = rule if isinstance(rule, Rule) else Rule(_parse(str(rule)))
            unknown = sorted(rule.expression.names - set(space.names))
            if unknown:
                raise ConstraintError(f"rule {rule.text!r} reads unknown parameter(s): {', '.join(unknown)}")
            try:
                check_kinds(rule.expression, kinds)
            except ExpressionError as error:
                if rule.origin == "task":
                    raise ConstraintError(str(error)) from None
                continue  # a learned rule (memory) the space cannot state: left out, not a crash mid-run
            self.rules.append(rule)
        if self.rules:
            self.compiled()  # type errors surface when the task is loaded, not mid-run

    def __bool__(self) -> bool:
        return bool(self.rules)

    def with_rules(self, extra: Iterable[Rule]) -> Constraints:
        """The same constraints plus `extra` rules (e.g. exclusions learned from memory)."""
        return Constraints(self.space, [*self.rules, *extra], self.timeout_ms / 1000, self.deadline)

    def ms(self, cap: int) -> int:
        """Z3's timeout for one question: `cap` milliseconds, less when the deadline is nearer."""
        left = math.inf if self.deadline is None else self.deadline.left()
        return max(1, min(cap, int(left * 1000))) if math.isfinite(left) else max(1, cap)

    def compiled(self) -> _Compiled:
        """The space and rules in a new Z3 context (see the module docstring for why new)."""
        try:
            return _Compiled(self.space, self.rules)
        except RecursionError:  # `parse` bounds a rule's depth; a deep caller's stack may still run out
            raise ConstraintError("the rules are too deeply nested to compile: split them") from None

    # ------------------------------------------------------------------ check
    def check(self, point: Mapping[str, Any]) -> Check:
        """Is `point` feasible? Each rule is asked of Z3 with the point's values fixed."""
        bounds = _out_of_bounds(self.space, point)
        if not self.rules:
            return Check(Outcome.VIOLATED, violated=bounds) if bounds else Check(Outcome.OK)
        from agent.smt import z3

        compiled = self.compiled()
        solver = z3.Solver(ctx=compiled.ctx)
        solver.set("timeout", self.ms(self.timeout_ms))
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
        return self.clash().rules

    def clash(self, seconds: float | None = None) -> Clash:
        """`contradiction`, asked for at most `seconds` (default: the rules' timeout), and whether
        Z3 decided: an undecided check is said to the user, whose candidates Z3 may not prove."""
        if not self.rules:
            return Clash(None, decided=True)
        from agent.smt import z3

        compiled = self.compiled()
        solver = z3.Solver(ctx=compiled.ctx)
        cap = self.timeout_ms if seconds is None else min(self.timeout_ms, max(1, int(seconds * 1000)))
        solver.set("timeout", self.ms(cap))
        solver.add(*compiled.domain)
        labels = {}
        for index, (rule, formula) in enumerate(zip(self.rules, compiled.rules, strict=True)):
            label = z3.Bool(f"rule_{index}", compiled.ctx)
            labels[str(label)] = rule.text
            solver.assert_and_track(formula, label)
        answer = solver.check()
        if answer != z3.unsat:
            return Clash(None, decided=answer == z3.sat)
        return Clash([labels[str(label)] for label in solver.unsat_core()], decided=True)

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
        optimizer.set("timeout", self.ms(max(1, min(400, self.timeout_ms // 4))))
        optimizer.add(*compiled.domain, *compiled.rules)
        optimizer.minimize(distance)
        answer = optimizer.check()
        if answer == z3.unsat:
            return Repair(None, reason="no point of the space satisfies every rule")
        repaired = compiled.read(optimizer.model()) if answer == z3.sat else self._bisect(compiled, distance)
        if repaired is None:
            return Repair(None, reason="Z3 could not find a repair within the time limit (unknown)")
        if not self.check(repaired).passed:  # rounded to floats off a boundary (e.g. x = y = √0.2)
            repaired = self._on_floats(compiled, repaired) or repaired
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
        step_ms = max(1, self.timeout_ms // (steps + 2))
        solver.add(*compiled.domain, *compiled.rules)
        low, high = 0.0, float(2 * len(self.space.names) + 1)
        best = None
        for _ in range(steps):
            if self.deadline is not None and self.deadline.expired():
                break
            solver.set("timeout", self.ms(step_ms))  # each step: the deadline comes nearer
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

    def _on_floats(self, compiled: _Compiled, near: Point) -> Point | None:
        """A point that keeps the rules exactly as floats, within a hair of `near`, or None.

        Z3's answer is exact (a rational, or an irrational on a curved boundary: the point
        of `x * y >= 0.2` nearest (0.1, 0.1) is x = y = √0.2); its nearest floats may break
        the rule it touches. Each float parameter in turn is pinned to its float or one of the
        two next to it, while Z3 moves the ones not pinned yet (within 1e-6 of their range)
        to keep the rules; ints, choices and which parameters are active stay as they are.
        """
        from agent.smt import z3

        solver = z3.Solver(ctx=compiled.ctx)
        solver.set("timeout", self.ms(max(1, min(1000, self.timeout_ms // 4))))
        solver.add(*compiled.domain, *compiled.rules)
        floats = [param for param in self.space if param.spec.type == "float" and param.name in near]
        solver.add(*compiled.fix({k: v for k, v in near.items() if k not in {p.name for p in floats}}))
        solver.add(*[compiled.active[p.name] == (p.name in near) for p in self.space])
        current = dict(near)
        for index, param in enumerate(floats):
            solver.push()
            for rest in floats[index + 1 :]:
                hair = 1e-6 * (float(rest.spec.high) - float(rest.spec.low)) or 1e-12  # type: ignore[arg-type]
                var = compiled.vars[rest.name]
                solver.add(var >= _exact(current[rest.name] - hair, compiled.ctx))
                solver.add(var <= _exact(current[rest.name] + hair, compiled.ctx))
            value = current[param.name]
            for candidate in (value, math.nextafter(value, math.inf), math.nextafter(value, -math.inf)):
                solver.set("timeout", self.ms(max(1, min(1000, self.timeout_ms // 4))))
                solver.push()
                solver.add(compiled.vars[param.name] == _exact(candidate, compiled.ctx))
                answer = solver.check()
                model = solver.model() if answer == z3.sat else None
                solver.pop()
                if model is not None:
                    current = {**compiled.read(model), param.name: candidate}
                    break
            solver.pop()
            if model is None:
                return None
            solver.add(compiled.vars[param.name] == _exact(current[param.name], compiled.ctx))
        return current

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


def _float(raw: Any) -> float:
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
                self.active[param.name] = z3.And(*reads, self._condition(param.when))
        self.domain = [self._domain(param) for param in space]
        self.rules = [
            z3.Implies(
                z3.And(*[self.active[name] for name in sorted(rule.expression.names)], self.ctx),
                self._condition(rule.expression),
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
                number = raw.as_long() if z3.is_int_value(raw) else _float(raw)
                point[param.name] = next((c for c in param.choices if c == number), param.choices[0])
            elif param.spec.type == "int":
                point[param.name] = raw.as_long()
            else:
                point[param.name] = _float(raw)
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
    def _condition(self, expression: Expression) -> Any:
        """`expression` as a Z3 condition, false wherever Python's evaluation divides by zero."""
        from agent.smt import z3

        value = self._as_bool(self._compile(expression.tree, expression.text), expression.text)
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


def constraints_for(task: Any, space: Space | None = None, extra: Iterable[Rule] = ()) -> Constraints:
    """The task's constraints over its space (`extra` rules appended)."""
    spec = task.spec.constraints
    return Constraints(space or Space.from_task(task), [*spec.rules, *extra], timeout=spec.timeout)
