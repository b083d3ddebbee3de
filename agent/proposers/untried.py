"""The untried points of a small finite space: the offline proposer's last resort, and its end.

A `[space]` of choices, bools and ints has finitely many points, and a small one (four
algorithms times a flag: 8) is soon all tried. Random moves and repairs then land on
tried points again and again: a run of 20 evaluated one failing point 5 times while
two points were never tried, because after its attempts the proposer took its last
point, tried or not. Enumerating such a space (at most `LIMIT` points, `when` respected)
lets the proposer take an untried point when its moves find none, and say so when none
is left, so that the run stops rather than spend its budget on points it has the
answers for.

"Untried" is under the constraints of the moment (the task's rules and the failing
regions learned mid-run): a point they forbid is not left to try. Untried points are
checked a few at a time (a Z3 check each, ~4 ms; each verdict kept while the rules stay
the same); when none of those passes, Z3 is asked once for any point the rules allow
among those without a verdict, which also proves that none is left. A space too large to enumerate, or continuous, is sampled instead, and
is never called exhausted.
"""

from __future__ import annotations

import heapq
import json
import math
import random
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from agent.space import Param, Point, Space

if TYPE_CHECKING:
    from agent.constraints import Constraints

LIMIT = 10_000  # points enumerated at most: ~0.1 s once, ~1 ms a look-up after
CHECKED = 8  # untried points checked one by one against the rules before Z3 is asked about the rest
SAMPLES = 1_000  # draws for an untried point when the space is not enumerated
SAMPLES_CHECKED = 32  # of which checked against the rules at most (~4 ms each)
FRESH_BATCH = 32  # allowed untried points Z3 is asked for beyond those needed, kept for the next steps


class Untried:
    """The untried points of one space, enumerated once (when finite and small)."""

    def __init__(self, space: Space, limit: int = LIMIT) -> None:
        self.space = space
        self.limit = limit
        self._points: dict[str, Point] | None = None
        self._enumerated = False
        self._rules: tuple[str, ...] = ()  # the rules `_allowed` holds verdicts of
        self._allowed: dict[str, bool] = {}
        # allowed untried points Z3 found beyond those asked for, under the rules named (`_fresh_kept`)
        self._fresh_points: tuple[tuple[str, ...], dict[str, Point]] = ((), {})

    @property
    def points(self) -> dict[str, Point] | None:
        """Every point by its `Space.key`, in declaration order; None when not enumerable."""
        if not self._enumerated:
            listed = enumerate_space(self.space, self.limit)
            self._points = None if listed is None else {self.space.key(p): p for p in listed}
            self._enumerated = True
        return self._points

    def nearest(
        self,
        tried: Collection[str],
        near: Mapping[str, Any] | None,
        rng: random.Random,
        constraints: Constraints | None,
    ) -> Point | None:
        """An untried point the rules allow, the nearest to `near` (ties at random); None when none is found."""
        points = self.points
        if points is None:
            sampled = self._sampled(tried, rng, constraints)
            if sampled is not None or not self.finite:
                return sampled
            found, _ = self._fresh_kept(tried, constraints, at_most=1)
            return found[0] if found else None
        untried = [(k, p) for k, p in points.items() if k not in tried]
        ranked = [
            (self.space.distance(near, p) if near else 0.0, rng.random(), i)
            for i, (_, p) in enumerate(untried)
        ]
        nearest = [untried[i] for _, _, i in heapq.nsmallest(CHECKED, ranked)]
        if constraints is None:
            return nearest[0][1] if nearest else None
        verdicts = self._verdicts(constraints)
        for key, point in nearest:
            if key not in verdicts:
                self._judge(constraints, key, point)
            if verdicts.get(key):
                return point
        found, _ = self.allowed(tried, constraints, at_most=1)
        return found[0] if found else None

    def left(self, tried: Collection[str], constraints: Constraints | None, at_most: int) -> int | None:
        """How many untried points are left, counted up to `at_most`; None when unknown (not enumerable)."""
        points = self.points
        if points is None:
            if not (self.finite and constraints):
                return None
            found, proven = self._fresh_kept(tried, constraints, at_most)
            return len(found) if proven or len(found) == at_most else None
        if constraints is None:
            return min(at_most, sum(1 for k in points if k not in tried))
        found, proven = self.allowed(tried, constraints, at_most)
        return len(found) if proven or len(found) == at_most else None

    def exhausted(self, tried: Collection[str], constraints: Constraints | None) -> str | None:
        """Why no point is left to try ("search space exhausted: …"), or None while one is (or may be)."""
        if self.left(tried, constraints, at_most=1) != 0:
            return None
        points = self.points
        if points is None:  # finite but large: Z3 proved that the rules allow no untried point
            allowed = sum(1 for key in tried if self._allows(constraints, key))
            return f"search space exhausted: {_all(allowed)} the constraints allow evaluated"
        excluded = sum(1 for k in points if k not in tried)
        if not excluded:
            return f"search space exhausted: {_all(len(points))} evaluated"
        # the tried points the rules forbid (a baseline outside them) are not among those they allow
        allowed = sum(1 for k in points if k in tried and self._allows(constraints, k))
        return (
            f"search space exhausted: {_all(allowed)} the constraints allow evaluated "
            f"({len(points) - allowed} more excluded)"
        )

    def _allows(self, constraints: Constraints | None, key: str) -> bool:
        """Whether the rules allow the point of `key` (a kept verdict, else a check; undecided: yes)."""
        if constraints is None:
            return True
        verdict = self._verdicts(constraints).get(key)
        if verdict is None:
            point = (self.points or {}).get(key) or _point_of(key)
            verdict = point is None or self._judge(constraints, key, point) is not False
        return verdict

    @property
    def finite(self) -> bool:
        """Whether the space has finitely many points (no float with a range), enumerable or not."""
        return all(p.spec.type != "float" or p.spec.low == p.spec.high for p in self.space)

    def _fresh(
        self, tried: Collection[str], constraints: Constraints | None, at_most: int
    ) -> tuple[list[Point], bool]:
        """Up to `at_most` untried points the rules allow, from Z3, for a finite space too large to
        enumerate; and whether they are all (`unsat`: no other is left).

        The space's domain and rules, and "not this point" for each point tried: sampling
        found none of a few allowed points among 10,100 and proposed tried ones again."""
        from agent.constraints import Constraints
        from agent.smt import z3

        constraints = constraints if constraints is not None else Constraints(self.space, [])
        compiled = constraints.compiled()
        solver = z3.Solver(ctx=compiled.ctx)
        solver.set("timeout", constraints.ms(constraints.timeout_ms))
        solver.add(*compiled.domain, *compiled.rules)
        for key in tried:
            point = _point_of(key)
            if point is not None:
                solver.add(self._other_than(compiled, point))
        found: list[Point] = []
        for _ in range(at_most + 8):  # a model read back as a tried point (rounding) is excluded again
            if len(found) >= at_most:
                return found, False
            answer = solver.check()
            if answer == z3.unsat:
                return found, True
            if answer != z3.sat:
                return found, False
            point = self.space.complete(compiled.read(solver.model()))
            solver.add(self._other_than(compiled, point))
            key = self.space.key(point)
            if key not in tried and constraints.check(point).passed:
                found.append(point)
        return found, False

    def _fresh_kept(
        self, tried: Collection[str], constraints: Constraints | None, at_most: int
    ) -> tuple[list[Point], bool]:
        """`_fresh`, asked for `FRESH_BATCH` more points than needed and kept: a Z3 question over
        the whole history costs ~2.4 ms a tried point, and the loop asks before every step (7 s a
        step at 3,000 experiments); kept points not tried since answer until they run short."""
        rules = tuple(rule.text for rule in constraints.rules) if constraints is not None else ()
        kept_rules, kept = self._fresh_points
        left = {key: point for key, point in kept.items() if key not in tried} if kept_rules == rules else {}
        if len(left) >= at_most:
            self._fresh_points = (rules, left)
            return list(left.values())[:at_most], False
        found, proven = self._fresh(tried, constraints, at_most + FRESH_BATCH)
        self._fresh_points = (rules, {self.space.key(point): point for point in found})
        return found[:at_most], proven and len(found) <= at_most

    def _other_than(self, compiled: Any, point: Point) -> Any:
        """Z3: any point but `point` (the same values and the same parameters active)."""
        from agent.smt import z3

        if any(
            name not in self.space.params or not self.space.params[name].allows(v)
            for name, v in point.items()
        ):
            return z3.BoolVal(True, compiled.ctx)  # not a point of this space: it rules nothing out
        same = [*compiled.fix(point), *[compiled.active[p.name] == (p.name in point) for p in self.space]]
        return z3.Not(z3.And(*same))

    def allowed(
        self, tried: Collection[str], constraints: Constraints, at_most: int
    ) -> tuple[list[Point], bool]:
        """Up to `at_most` untried points the rules allow, and whether that is all there are.

        The verdicts already known first, then a few more checks (~4 ms each), and only
        then one Z3 question over every point without a verdict (which also proves that
        none of them is allowed): the loop asks before each step, and a question over
        thousands of tried points took 0.4 s to 1.5 s.
        """
        points = self.points or {}
        verdicts = self._verdicts(constraints)
        untried = {k: p for k, p in points.items() if k not in tried}
        found = [p for k, p in untried.items() if verdicts.get(k)][:at_most]
        unknown = {k: p for k, p in untried.items() if k not in verdicts}
        for key in list(unknown)[:CHECKED]:
            if len(found) >= at_most:
                break
            if self._judge(constraints, key, unknown[key]) is not None:  # undecided: stays unknown
                del unknown[key]
            found += [untried[key]] if verdicts.get(key) else []
        if len(found) >= at_most:
            return found, len(found) == sum(1 for k in untried if verdicts.get(k)) and not unknown
        if not unknown:
            return found, True
        more, proven = self._solve(constraints, unknown, at_most - len(found))
        return found + more, proven

    def _solve(
        self, constraints: Constraints, unknown: dict[str, Point], at_most: int
    ) -> tuple[list[Point], bool]:
        """Up to `at_most` of the `unknown` points the rules allow, from Z3; whether no other is.

        One solver: the space's domain, the rules, and "one of the unknown points"; each
        point found is excluded in turn. `unsat` proves the rest forbidden (remembered);
        `unknown` (the time limit) proves nothing.
        """
        from agent.smt import z3

        compiled = constraints.compiled()
        solver = z3.Solver(ctx=compiled.ctx)
        solver.set("timeout", constraints.ms(constraints.timeout_ms))
        solver.add(*compiled.domain, *compiled.rules)
        solver.add(z3.Or(*[z3.And(*compiled.fix(point)) for point in unknown.values()]))
        verdicts = self._verdicts(constraints)
        found: list[Point] = []
        while len(found) < at_most:
            answer = solver.check()
            if answer == z3.unsat:
                verdicts.update(dict.fromkeys(unknown, False))
                return found, True
            if answer != z3.sat:
                return found, False
            point = self.space.complete(compiled.read(solver.model()))
            key = self.space.key(point)
            if key not in unknown:
                return found, False  # not one of them (a rounding?): no proof either way
            verdicts[key] = True
            found.append(unknown.pop(key))
            if not unknown:
                return found, True
            solver.add(z3.Not(z3.And(*compiled.fix(point))))
        return found, False

    def _judge(self, constraints: Constraints, key: str, point: Point) -> bool | None:
        """Whether the rules allow `point`, kept by `key`; None (and nothing kept) when the check
        was undecided in time: a timeout proves nothing, and kept as "forbidden" it made a space
        with untried allowed points "exhausted"."""
        from agent.constraints import Outcome

        outcome = constraints.check(point).outcome
        if outcome is Outcome.UNKNOWN:
            return None
        self._verdicts(constraints)[key] = outcome is Outcome.OK
        return outcome is Outcome.OK

    def _verdicts(self, constraints: Constraints) -> dict[str, bool]:
        """Whether the rules allow each point checked so far, by key; forgotten when the rules change."""
        rules = tuple(rule.text for rule in constraints.rules)
        if rules != self._rules:
            self._rules, self._allowed = rules, {}
        return self._allowed

    def _sampled(
        self, tried: Collection[str], rng: random.Random, constraints: Constraints | None
    ) -> Point | None:
        """A uniform untried point the rules allow, from many draws, for a space not enumerated."""
        checked = 0
        for _ in range(SAMPLES):
            point = self.space.sample(rng)
            if self.space.key(point) in tried:
                continue
            if constraints is None:
                return point
            if constraints.check(point).passed:
                return point
            checked += 1
            if checked >= SAMPLES_CHECKED:
                return None
        return None


def _all(count: int) -> str:
    return "its one point" if count == 1 else f"all {count} points"


def _point_of(key: str) -> Point | None:
    """The point a `Space.key` was made of (exact for a finite space: ints, choices, bools)."""
    try:
        point = json.loads(key)
    except ValueError:
        return None
    return point if isinstance(point, dict) else None


def enumerate_space(space: Space, limit: int = LIMIT) -> list[Point] | None:
    """Every point of `space` (inactive parameters absent), or None: continuous, or over `limit` points."""
    points: list[Point] = [{}]
    for param in space:
        values: list[Any] | None = None
        grown: list[Point] = []
        for point in points:
            if not space.is_active(param.name, point):
                grown.append(point)
                continue
            if values is None:
                values = _values(param, limit)
                if values is None:
                    return None
            grown.extend({**point, param.name: value} for value in values)
            if len(grown) > limit:
                return None
        points = grown
    return points


def _values(param: Param, limit: int) -> list[Any] | None:
    """The legal values of one parameter, or None when there are more than `limit` (or infinitely many)."""
    spec = param.spec
    if spec.type in ("int", "float"):
        low, high = float(spec.low), float(spec.high)  # type: ignore[arg-type]
        if spec.type == "float":
            return [param.coerce(low)] if low == high else None
        first, last = math.ceil(low), math.floor(high)
        return [int(v) for v in range(first, last + 1)] if last - first < limit else None
    values: list[Any] = []
    seen: set[tuple[str, str]] = set()
    for choice in param.choices:  # by type and value: `0 == False == 0.0`, yet each is a choice of its own
        key = (type(choice).__name__, repr(choice))
        if key not in seen:
            seen.add(key)
            values.append(choice)
    return values
