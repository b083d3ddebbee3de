"""Benchmark: strop's engine vs DEAP tree GP and gplearn at equal wall time (acceptance 3).

Same target (default exp2 on [0, 1]), same operations (add, sub, mul, div, sqrt;
strop also has fma), one process each, the same time. The score is the max relative
error of each one's best program over 100 001 evenly spaced inputs, evaluated in
float64 against extended precision. Goal: strop ≥ 100× lower than both. Also prints
candidates evaluated per second for each (strop's candidates include fitting their
constants; GP candidates are evaluated once with the constants they carry).

    nice -n 10 .venv/bin/python benchmarks/numerics_vs_gp.py --time 120
"""

from __future__ import annotations

import argparse
import math
import operator
import random
import time
import warnings

import numpy

from agent.domains.numerics.discovery import discover
from agent.domains.numerics.request import Request
from agent.domains.numerics.targets import FORMATS, TARGETS

TRAIN = 256


def _truth(fn: str, x: numpy.ndarray) -> numpy.ndarray:
    return TARGETS[fn].truth(x, FORMATS["float64"]).astype(numpy.float64)


def _max_relative(values: numpy.ndarray, truth: numpy.ndarray) -> float:
    with numpy.errstate(all="ignore"):
        errors = numpy.abs(numpy.asarray(values, dtype=numpy.float64) - truth) / numpy.abs(truth)
    return float(numpy.max(numpy.where(numpy.isfinite(errors), errors, numpy.inf)))


def run_deap(fn: str, lo: float, hi: float, seconds: float, seed: int):
    from deap import algorithms, base, creator, gp, tools

    random.seed(seed)
    x_train = numpy.linspace(lo, hi, TRAIN)
    t_train = _truth(fn, x_train)

    def div(a, b):
        with numpy.errstate(all="ignore"):
            return numpy.where(numpy.abs(b) > 1e-6, a / numpy.where(b == 0, 1, b), 1.0)

    def sqrt(a):
        return numpy.sqrt(numpy.abs(a))

    pset = gp.PrimitiveSet("MAIN", 1)
    for function, arity in ((operator.add, 2), (operator.sub, 2), (operator.mul, 2), (div, 2), (sqrt, 1)):
        pset.addPrimitive(function, arity)
    pset.addEphemeralConstant(f"c{seed}_{time.time_ns()}", lambda: random.uniform(-2, 2))
    pset.renameArguments(ARG0="x")
    if not hasattr(creator, "FitnessMin"):
        creator.create("FitnessMin", base.Fitness, weights=(-1.0,))
        creator.create("Individual", gp.PrimitiveTree, fitness=creator.FitnessMin)
    toolbox = base.Toolbox()
    toolbox.register("expr", gp.genHalfAndHalf, pset=pset, min_=1, max_=4)
    toolbox.register("individual", tools.initIterate, creator.Individual, toolbox.expr)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)
    toolbox.register("compile", gp.compile, pset=pset)
    evaluations = [0]

    def evaluate(individual):
        evaluations[0] += 1
        function = toolbox.compile(expr=individual)
        with numpy.errstate(all="ignore"):
            values = numpy.broadcast_to(function(x_train), x_train.shape)
        error = _max_relative(values, t_train)
        return (error if math.isfinite(error) else 1e30,)

    toolbox.register("evaluate", evaluate)
    toolbox.register("select", tools.selTournament, tournsize=7)
    toolbox.register("mate", gp.cxOnePoint)
    toolbox.register("expr_mut", gp.genFull, min_=0, max_=2)
    toolbox.register("mutate", gp.mutUniform, expr=toolbox.expr_mut, pset=pset)
    limit = gp.staticLimit(key=operator.attrgetter("height"), max_value=17)
    toolbox.decorate("mate", limit)
    toolbox.decorate("mutate", limit)
    population = toolbox.population(n=500)
    hall = tools.HallOfFame(1)
    started = time.time()
    for individual in population:
        individual.fitness.values = toolbox.evaluate(individual)
    hall.update(population)
    while time.time() - started < seconds:
        offspring = algorithms.varAnd(toolbox.select(population, len(population)), toolbox, 0.5, 0.2)
        for individual in offspring:
            if not individual.fitness.valid:
                individual.fitness.values = toolbox.evaluate(individual)
        population = offspring
        hall.update(population)
    elapsed = time.time() - started
    best = toolbox.compile(expr=hall[0])
    return best, evaluations[0] / elapsed, str(hall[0])


def run_gplearn(fn: str, lo: float, hi: float, seconds: float, seed: int):
    from gplearn.fitness import make_fitness
    from gplearn.genetic import SymbolicRegressor

    x_train = numpy.linspace(lo, hi, TRAIN)
    t_train = _truth(fn, x_train)

    def max_relative(y, y_pred, w):
        return _max_relative(y_pred, y)

    metric = make_fitness(function=max_relative, greater_is_better=False)
    population = 1000
    model = SymbolicRegressor(
        population_size=population, generations=1, function_set=("add", "sub", "mul", "div", "sqrt"),
        metric=metric, const_range=(-2.0, 2.0), parsimony_coefficient=0.0, random_state=seed,
        warm_start=True, n_jobs=1, verbose=0,
    )  # fmt: skip
    started = time.time()
    generations = 0
    while time.time() - started < seconds:
        generations += 1
        model.set_params(generations=generations)
        model.fit(x_train[:, None], t_train)
    elapsed = time.time() - started
    return (
        (lambda x: model.predict(numpy.asarray(x)[:, None])),
        population * generations / elapsed,
        str(model._program),
    )


def main() -> None:
    warnings.filterwarnings("ignore")
    parser = argparse.ArgumentParser()
    parser.add_argument("--fn", default="exp2")
    parser.add_argument("--interval", default="0,1")
    parser.add_argument("--time", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    lo, hi = (float(v) for v in args.interval.split(","))
    dense = numpy.linspace(lo, hi, 100_001)
    truth = _truth(args.fn, dense)

    report = discover(
        Request(args.fn, lo, hi, "float64", time_budget=args.time, seed=args.seed, workers=1, max_cost=10)
    )
    strop_best = min(report.front, key=lambda entry: entry.max_rel_error)  # on the verification set
    strop_error = strop_best.max_rel_error
    strop_rate = report.stats.evals_per_second

    deap_best, deap_rate, deap_text = run_deap(args.fn, lo, hi, args.time, args.seed)
    with numpy.errstate(all="ignore"):
        deap_error = _max_relative(numpy.broadcast_to(deap_best(dense), dense.shape), truth)
    gpl_best, gpl_rate, gpl_text = run_gplearn(args.fn, lo, hi, args.time, args.seed)
    gpl_error = _max_relative(gpl_best(dense), truth)

    print(f"{args.fn} on [{lo}, {hi}], {args.time:.0f}s each, one process each; max relative error (float64)")
    print(f"  strop    {strop_error:.3e}   {strop_rate:8.1f} candidates/s (with constant fitting); origin "
          f"{strop_best.origin} (vs {strop_best.baseline}: seeds and baseline-equivalents are no discovery)")  # fmt: skip
    print(f"  DEAP     {deap_error:.3e}   {deap_rate:8.1f} candidates/s   {deap_text[:100]}")
    print(f"  gplearn  {gpl_error:.3e}   {gpl_rate:8.1f} candidates/s   {gpl_text[:100]}")
    print(
        f"ratio DEAP/strop {deap_error / strop_error:.3g}×, gplearn/strop {gpl_error / strop_error:.3g}× (goal ≥ 100×)"
    )


if __name__ == "__main__":
    main()
