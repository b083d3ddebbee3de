"""A tiny domain shipped with the engine, for tests and demos of engines and observers.

Like httpx's `MockTransport`, a fake that belongs to the library: it lets anyone (the
run loop, another domain's author, a user's own tests) drive the real engine without a
real problem. Genomes are tuples of floats; the two objectives are the squared distances
to the points 0 and 1 (their Pareto set is the segment between them). Switches make
it misbehave on purpose: hang, crash the worker, raise, or be rejected by `check`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy

from agent.evolution.domain import Fitness

Vector = tuple[float, ...]


@dataclass(frozen=True)
class ToyDomain:
    """Minimise (|v|², |v - 1|²) over vectors of `size` floats in [-2, 3]."""

    size: int = 3
    hang_above: float | None = None  # evaluate sleeps for ever when v[0] is above this
    crash_above: float | None = None  # the worker process dies when v[0] is above this
    raise_below: float | None = None  # evaluate raises when v[0] is below this
    reject_above: float | None = None  # check rejects when v[0] is above this
    eval_seconds: float = 0.0  # every evaluation sleeps this long
    signature_digits: int = 6  # behaviour signature resolution (novelty rejection)

    def random_genome(self, rng: numpy.random.Generator) -> Vector:
        return tuple(float(v) for v in rng.uniform(-2.0, 3.0, self.size))

    def mutate(self, genome: Vector, rng: numpy.random.Generator) -> Vector:
        values = numpy.array(genome) + rng.normal(0.0, 0.2, self.size)
        return tuple(float(v) for v in numpy.clip(values, -2.0, 3.0))

    def crossover(self, a: Vector, b: Vector, rng: numpy.random.Generator) -> Vector:
        mask = rng.random(self.size) < 0.5
        return tuple(float(x if keep else y) for x, y, keep in zip(a, b, mask, strict=True))

    def check(self, genome: Vector) -> Vector | str:
        if self.reject_above is not None and genome[0] > self.reject_above:
            return f"out of range: v[0] = {genome[0]:.3f} > {self.reject_above}"
        return genome

    def evaluate(self, genome: Vector) -> Fitness:
        first = genome[0]
        if self.crash_above is not None and first > self.crash_above:
            os._exit(3)
        if self.hang_above is not None and first > self.hang_above:
            time.sleep(3600)
        if self.raise_below is not None and first < self.raise_below:
            raise ValueError(f"v[0] = {first} is too small")
        if self.eval_seconds:
            time.sleep(self.eval_seconds)
        values = numpy.array(genome)
        objectives = (float(values @ values), float((values - 1) @ (values - 1)))
        descriptor = (int(numpy.clip((first + 2.0) * 2, 0, 9)),)
        signature = numpy.round(values, self.signature_digits).tobytes()
        return Fitness(objectives, descriptor=descriptor, signature=signature)
