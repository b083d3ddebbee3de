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
checks run in-process with a time limit rather than in a killable subprocess; every
question is also bounded by the search's deadline (`ms`).

Every check, repair and contradiction compiles the rules afresh into an
`agent.rule_formula.Formula`, in a Z3 context of its own (about a millisecond): the
lanes' proposals are checked in several threads at once, and a context per question is
also one less hidden state (an answer depends on the rules and the point, not on what Z3
was asked before in the process). How rules become a formula (strings as indices,
division by zero, floats as exact rationals) is told there.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent.expression import Expression, ExpressionError, check_kinds, parse
from agent.rule_formula import ConstraintError, Formula, Rule, exact
from agent.space import Point, Space

if TYPE_CHECKING:
    from agent.deadline import Deadline


MARGINS = (1e-12, 1e-9, 1e-6, 1e-3)  # by which `Constraints._inward` tightens the rules, in turn


class Outcome(enum.StrEnum):
    OK = "ok"
    VIOLATED = "violated"
    UNKNOWN = "unknown"


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

    def compiled(self, activity: Mapping[str, bool] | None = None, margin: float = 0.0) -> Formula:
        """The space and rules in a new Z3 context (see the module docstring for why new);
        `activity` and `margin` as `Formula` takes them."""
        try:
            return Formula(self.space, self.rules, activity=activity, margin=margin)
        except RecursionError:  # `parse` bounds a rule's depth; a deep caller's stack may still run out
            raise ConstraintError("the rules are too deeply nested to compile: split them") from None

    # ------------------------------------------------------------------ check
    def check(self, point: Mapping[str, Any]) -> Check:
        """Is `point` feasible? Each rule is asked of Z3 with the point's values fixed."""
        bounds = _out_of_bounds(self.space, point)
        if not self.rules:
            return Check(Outcome.VIOLATED, violated=bounds) if bounds else Check(Outcome.OK)
        from agent.smt import z3

        # which parameters are active is Python's word (`Space.activity`), the word the point was
        # built and is written by: a rule on a parameter the candidate gets is never skipped
        compiled = self.compiled(activity=self.space.activity(point))
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

    def broken_as_written(
        self, written: Mapping[str, Any], point: Mapping[str, Any], before: Mapping[str, Any]
    ) -> list[str]:
        """What the rules say of a candidate's files as they are written, where that is not `point`
        (`written` read into the space: values clipped, missing ones at their defaults), which `check`
        judges: the code reads `written`. A rule broken by a value as written (a workspace's
        `a = 7` where the space stops at 5) is named, and so is one reading a value the candidate
        removed (the code then uses its own default, which no rule can be checked on).

        Read in Python: `agent.expression` evaluates exactly as Z3 reads a rule, so on one
        concrete point the two agree (see its module docstring).
        """
        from agent.expression import MissingValue

        values = dict(point)
        removed = [name for name in point if name in before and name not in written]
        for name, value in written.items():
            if name in values and self._readable(name, value) and value != point[name]:
                values[name] = value
        if values == dict(point) and not removed:
            return []
        active = self.space.activity(values)
        said = []
        for rule in self.rules:
            if not all(active.get(name, False) for name in rule.expression.names):
                continue  # guarded by the inactive parameter, as in Z3
            if gone := sorted(rule.expression.names & set(removed)):
                said.append(f"the files no longer write {', '.join(gone)}, which {rule.text!r} reads")
                continue
            try:
                holds = bool(rule.expression.evaluate(values))
            except MissingValue:
                continue
            except ArithmeticError:
                holds = False
            except (TypeError, ValueError):  # a value of a kind the rule cannot read: `check` judged it
                continue
            if not holds:
                shown = ", ".join(f"{name}={values[name]!r}" for name in sorted(rule.expression.names))
                said.append(f"violates {rule.text} as the files write it ({shown})")
        return said

    def _readable(self, name: str, value: Any) -> bool:
        """Whether a value as written is one the rules read as the code does: a number for a number
        parameter (not a string such as "4", which `Space.read` coerces), a bool for a bool, a
        declared choice; other values are judged as read into the space."""
        param = self.space.params.get(name)
        if param is None:
            return False
        kind = param.spec.type
        if kind in ("int", "float"):
            return type(value) in (int, float)
        if kind == "bool":
            return type(value) is bool
        return value in param.choices

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
            repaired = self._on_floats(compiled, repaired) or self._inward(point, repaired) or repaired
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

    def _bisect(self, compiled: Formula, distance: Any, steps: int = 14) -> Point | None:
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
            solver.add(distance <= exact(middle, compiled.ctx))
            answer = solver.check()
            if answer == z3.sat:
                best, high = compiled.read(solver.model()), middle
            else:  # unsat, or unknown: look farther out (a found point is still checked later)
                low = middle
            solver.pop()
        return best

    def _on_floats(self, compiled: Formula, near: Point) -> Point | None:
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
                solver.add(var >= exact(current[rest.name] - hair, compiled.ctx))
                solver.add(var <= exact(current[rest.name] + hair, compiled.ctx))
            value = current[param.name]
            # a short decimal first (a hair away): the parameters pinned after it can then meet an
            # equality exactly (`u + v + w == 2.0` wants w = 2 - u - v as a float's own decimal)
            shorter = [float(f"{value:.{digits}g}") for digits in (12, 9)]
            nearest = [value, math.nextafter(value, math.inf), math.nextafter(value, -math.inf)]
            for candidate in dict.fromkeys([*shorter, *nearest]):
                solver.set("timeout", self.ms(max(1, min(1000, self.timeout_ms // 4))))
                solver.push()
                solver.add(compiled.vars[param.name] == exact(candidate, compiled.ctx))
                answer = solver.check()
                model = solver.model() if answer == z3.sat else None
                solver.pop()
                if model is not None:
                    current = {**compiled.read(model), param.name: candidate}
                    break
            solver.pop()
            if model is None:
                return None
            solver.add(compiled.vars[param.name] == exact(current[param.name], compiled.ctx))
        return current

    def _inward(self, point: Mapping[str, Any], near: Point) -> Point | None:
        """The nearest point that keeps every ordering in the rules by a small margin, or None.

        When the rounded floats of the nearest point (a vertex where two tight rules meet)
        break a rule and no neighbouring float keeps them all, a point a hair inside does:
        rounding moves a float by far less than the margin."""
        from agent.smt import z3

        for margin in MARGINS:
            if self.deadline is not None and self.deadline.expired():
                return None
            compiled = self.compiled(margin=margin)
            optimizer = z3.Optimize(ctx=compiled.ctx)
            optimizer.set("timeout", self.ms(max(1, min(400, self.timeout_ms // 4))))
            optimizer.add(*compiled.domain, *compiled.rules)
            optimizer.minimize(compiled.distance(point))
            if optimizer.check() != z3.sat:
                continue
            found = compiled.read(optimizer.model())
            if self.check(found).passed:
                return found
        return None

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


def constraints_for(task: Any, space: Space | None = None, extra: Iterable[Rule] = ()) -> Constraints:
    """The task's constraints over its space (`extra` rules appended)."""
    spec = task.spec.constraints
    return Constraints(space or Space.from_task(task), [*spec.rules, *extra], timeout=spec.timeout)
