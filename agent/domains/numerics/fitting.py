"""Fitting a program's constants: exact minimax by linear programming where the form
allows it, CMA-ES elsewhere.

A symbolic pass over the DAG finds what each node is as a function of the constants:
*affine* (value = A·c + b on the grid, A and b functions of x only) or not. When the
output is affine, the weighted minimax fit  min_c max_k w_k·|A_k·c + b_k − f_k|  is a
linear program (scipy `linprog`/HiGHS on a dense grid; no Remez needed). When the
output is N/D with N and D affine, the fit is a sequence of such LPs on the linearised
error (N − f·D)·w/|D₀|, D₀ the previous denominator (Loeb's iteration). Products of two
constant-dependent values make a form nonlinear: the constants of the lighter side are
*frozen* at their inherited values (evolution moves them by mutation) and the rest are
fitted exactly. HiGHS's tolerances (~1e-7) are far above the errors we want (1e-9 to
1e-16), so every LP solves for a *correction* scaled to the current residual, a few
times (iterative refinement): each round gains about seven digits.

CMA-ES (the `cma` package) polishes what LP cannot reach: forms with frozen or
nonlinear constants, and, for float32, the rounding of constants to float32 (the
objective there is the true max ULP in float32 arithmetic).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy

from agent.domains.numerics.program import Program
from agent.domains.numerics.targets import LD

_REFINEMENTS = 3
_RATIONAL_ROUNDS = 5
_DENOMINATOR_FLOOR = 1e-3  # a fitted denominator stays above this share of its start's largest |D|


@dataclass(frozen=True)
class FitGrid:
    """The points a fit uses: inputs (exact values of the format), truth and weights."""

    x: numpy.ndarray  # float64
    truth: numpy.ndarray  # longdouble
    weight: numpy.ndarray  # longdouble: 1/ulp(truth) for ULP fitting


@dataclass(frozen=True)
class Form:
    """How a program depends on its constants, on one grid."""

    kind: str  # "linear", "rational" or "nonlinear"
    frozen: frozenset[int]  # positions (in const order) held at their current values
    numerator: tuple[numpy.ndarray, numpy.ndarray] | None = None  # (A, b) of the output or of N
    denominator: tuple[numpy.ndarray, numpy.ndarray] | None = None  # (A, b) of D for "rational"


class _Nonlinear(Exception):
    def __init__(self, freeze: set[int]) -> None:
        self.freeze = freeze


def _free_columns(matrix: numpy.ndarray | None) -> set[int]:
    if matrix is None:
        return set()
    return {int(j) for j in numpy.flatnonzero(numpy.any(matrix != 0, axis=0))}


def _varies(matrix: numpy.ndarray, offset: numpy.ndarray) -> bool:
    """Whether an affine value changes with x (for some choice of the constants)."""
    return bool(numpy.ptp(offset) > 0 or numpy.any(numpy.ptp(matrix, axis=0) > 0))


def _affine(program: Program, x: numpy.ndarray, frozen: set[int], stop_at_output_div: bool):
    """(A, b) for every node, or raises _Nonlinear naming constants to freeze."""
    consts = {node_index: k for k, node_index in enumerate(program.const_indices())}
    width = len(consts)
    rows = len(x)
    xs = numpy.asarray(x, dtype=LD)
    forms: list[tuple[numpy.ndarray | None, numpy.ndarray]] = []

    def combine(first, second, sign=1):
        a1, b1 = first
        a2, b2 = second
        if a1 is None and a2 is None:
            matrix = None
        elif a1 is None:
            matrix = sign * a2
        elif a2 is None:
            matrix = a1
        else:
            matrix = a1 + sign * a2
        return matrix, b1 + sign * b2

    def multiply(first, second):
        a1, b1 = first
        a2, b2 = second
        if a1 is not None and a2 is not None:
            # freeze the lighter side; at equal weight the one that varies with x (a shift
            # inside a product: (x − c)·a keeps a, not c). A constant factor c·p(x) is the
            # lighter side: p is fitted, c held (as a symmetric rational's factor f(centre) is)
            columns1, columns2 = _free_columns(a1), _free_columns(a2)
            if len(columns1) != len(columns2):
                raise _Nonlinear(columns1 if len(columns1) < len(columns2) else columns2)
            vary1, vary2 = _varies(a1, b1), _varies(a2, b2)
            raise _Nonlinear(columns2 if vary2 and not vary1 else columns1)
        if a1 is None and a2 is None:
            return None, b1 * b2
        if a1 is None:
            return a2 * b1[:, None], b1 * b2
        return a1 * b2[:, None], b1 * b2

    with numpy.errstate(all="ignore"):
        for index, node in enumerate(program.nodes):
            if node.op == "x":
                forms.append((None, xs))
            elif node.op == "const":
                k = consts[index]
                if k in frozen:
                    forms.append((None, numpy.full(rows, LD(node.value))))
                else:
                    column = numpy.zeros((rows, width), dtype=LD)
                    column[:, k] = 1
                    forms.append((column, numpy.zeros(rows, dtype=LD)))
            else:
                args = [forms[a] for a in node.args]
                if node.op == "add":
                    forms.append(combine(args[0], args[1]))
                elif node.op == "sub":
                    forms.append(combine(args[0], args[1], -1))
                elif node.op == "mul":
                    forms.append(multiply(args[0], args[1]))
                elif node.op == "fma":
                    forms.append(combine(multiply(args[0], args[1]), args[2]))
                elif node.op == "div":
                    top, bottom = args
                    if bottom[0] is not None:
                        if stop_at_output_div and index == program.output:
                            return forms, (top, bottom)
                        raise _Nonlinear(_free_columns(bottom[0]))
                    forms.append(
                        (None if top[0] is None else top[0] / bottom[1][:, None], top[1] / bottom[1])
                    )
                elif node.op == "sqrt":
                    if args[0][0] is not None:
                        raise _Nonlinear(_free_columns(args[0][0]))
                    forms.append((None, numpy.sqrt(args[0][1])))
                else:  # pragma: no cover - guarded by is_wellformed
                    raise ValueError(node.op)
    return forms, None


def analyse(program: Program, x: numpy.ndarray) -> Form:
    """Find the largest set of constants the output is affine (or rational-affine) in."""
    frozen: set[int] = set()
    total = len(program.const_indices())
    while True:
        try:
            forms, ratio = _affine(program, x, frozen, stop_at_output_div=True)
        except _Nonlinear as nonlinear:
            if not nonlinear.freeze or len(frozen) >= total:
                return Form("nonlinear", frozenset(range(total)))
            frozen |= nonlinear.freeze
            continue
        if ratio is None:
            matrix, offset = forms[-1]
            if matrix is None:
                return Form("nonlinear", frozenset(range(total)))
            return Form("linear", frozenset(frozen), (matrix, offset))
        (top_a, top_b), (bottom_a, bottom_b) = ratio
        if top_a is None and not numpy.any(top_b):
            return Form("nonlinear", frozenset(range(total)))
        homogeneous = not numpy.any(top_b) and not numpy.any(bottom_b)
        if homogeneous:  # N/D is unchanged by scaling both: hold one (nonzero) denominator constant
            values = program.constants()
            candidates = [k for k in sorted(_free_columns(bottom_a)) if values[k] != 0]
            if not candidates:
                return Form("nonlinear", frozenset(range(total)))
            frozen.add(max(candidates, key=lambda k: abs(values[k])))
            continue
        zeros = numpy.zeros((len(x), total), dtype=LD)
        numerator = (zeros if top_a is None else top_a, top_b)
        return Form("rational", frozenset(frozen), numerator, (bottom_a, bottom_b))


def _lp_correction(
    matrix: numpy.ndarray,
    residual: numpy.ndarray,
    equality: numpy.ndarray | None,
    floor: tuple[numpy.ndarray, numpy.ndarray] | None = None,
) -> numpy.ndarray:
    """u minimising max|matrix·u + residual| (rows and residual already scaled to O(1)).

    `floor` = (G, h) adds G·u ≥ −h: a rational's denominator kept away from zero.
    """
    from scipy.optimize import linprog

    rows, width = matrix.shape
    ones = numpy.ones((rows, 1))
    a_ub = numpy.vstack([numpy.hstack([matrix, -ones]), numpy.hstack([-matrix, -ones])])
    b_ub = numpy.concatenate([-residual, residual])
    if floor is not None:
        bound, level = floor
        a_ub = numpy.vstack([a_ub, numpy.hstack([-bound, numpy.zeros((len(level), 1))])])
        b_ub = numpy.concatenate([b_ub, level])
    cost = numpy.zeros(width + 1)
    cost[-1] = 1.0
    bounds = [(None, None)] * width + [(0, None)]
    kwargs = {}
    if equality is not None:
        kwargs = {"A_eq": numpy.append(equality, 0.0)[None, :], "b_eq": numpy.zeros(1)}
    solution = linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs", **kwargs)
    if solution.status != 0 or solution.x is None:
        return numpy.zeros(width)
    return solution.x[:width]


def minimax_affine(
    matrix: numpy.ndarray,
    offset: numpy.ndarray,
    columns: list[int],
    start: numpy.ndarray,
    floor: tuple[numpy.ndarray, numpy.ndarray] | None = None,
) -> numpy.ndarray:
    """Constants minimising max_k |matrix_k·c + offset_k| over the given free columns.

    `floor` = (G, g) keeps G·c + g ≥ 0 at every point (once the start meets it).
    """
    constants = numpy.array(start, dtype=LD)
    free = matrix[:, columns]
    scale = numpy.max(numpy.abs(free), axis=0).astype(numpy.float64)
    scale[~(scale > 0)] = 1.0
    scaled = (free / scale.astype(LD)).astype(numpy.float64)

    def residual_of(c: numpy.ndarray) -> numpy.ndarray:
        return matrix @ c + offset

    def admissible(c: numpy.ndarray) -> bool:
        return floor is None or bool(numpy.all(floor[0] @ c + floor[1] >= 0))

    def floor_rows(c: numpy.ndarray, size: float) -> tuple[numpy.ndarray, numpy.ndarray] | None:
        """The floor in the LP's variable u (c moves by u·size/scale on the free columns)."""
        if floor is None:
            return None
        level = floor[0] @ c + floor[1]
        norm = float(numpy.max(numpy.abs(level))) or 1.0
        bound = floor[0][:, columns] * (LD(size) / scale.astype(LD)) / LD(norm)
        return bound.astype(numpy.float64), (level / LD(norm)).astype(numpy.float64)

    best, best_error = constants.copy(), float(numpy.max(numpy.abs(residual_of(constants))))
    if numpy.isfinite(best_error):  # least squares first when the start is poor
        residual = residual_of(constants)
        guess, *_ = numpy.linalg.lstsq(scaled, -residual.astype(numpy.float64), rcond=None)
        trial = constants.copy()
        trial[columns] += guess.astype(LD) / scale.astype(LD)
        error = float(numpy.max(numpy.abs(residual_of(trial))))
        if error < best_error and admissible(trial):
            best, best_error = trial, error
    for _ in range(_REFINEMENTS):
        residual = residual_of(best)
        size = float(numpy.max(numpy.abs(residual)))
        if not numpy.isfinite(size) or size == 0:
            break
        rows = floor_rows(best, size)
        step = _lp_correction(scaled, (residual / LD(size)).astype(numpy.float64), None, rows)
        trial = best.copy()
        trial[columns] += (step * size / scale).astype(LD)
        error = float(numpy.max(numpy.abs(residual_of(trial))))
        if not error < best_error:
            break
        improved = error < best_error * 0.999
        best, best_error = trial, error
        if not improved:
            break
    return best


def fit_form(form: Form, grid: FitGrid, start: numpy.ndarray) -> numpy.ndarray:
    """Exact (LP) minimax constants for a linear or rational form; frozen ones are kept."""
    columns = [k for k in range(len(start)) if k not in form.frozen]
    constants = numpy.array(start, dtype=LD)
    if not columns or form.numerator is None:
        return constants.astype(numpy.float64)
    truth, weight = grid.truth, grid.weight
    if form.kind == "linear":
        matrix, offset = form.numerator
        fitted = minimax_affine(matrix * weight[:, None], (offset - truth) * weight, columns, constants)
        return fitted.astype(numpy.float64)
    assert form.denominator is not None
    (top_a, top_b), (bottom_a, bottom_b) = form.numerator, form.denominator
    lin_a, lin_b = top_a - truth[:, None] * bottom_a, top_b - truth * bottom_b
    best, best_error = constants, numpy.inf
    denominator = bottom_a @ constants + bottom_b
    held = None  # the start's D held, N fitted exactly: what the quotient must beat (see `_numerator_fit`)
    if not (numpy.all(denominator > 0) or numpy.all(denominator < 0)):
        denominator = numpy.ones(len(truth), dtype=LD)
    else:
        held = _numerator_fit(form, grid, constants, columns, denominator)
    for _ in range(_RATIONAL_ROUNDS):
        factor = weight / numpy.abs(denominator)
        # the linearised error says nothing about D's sign: keep D on its side, away from 0
        sign = LD(1) if numpy.mean(denominator) > 0 else LD(-1)
        floor = (sign * bottom_a, sign * bottom_b - _DENOMINATOR_FLOOR * numpy.max(numpy.abs(denominator)))
        trial = minimax_affine(
            lin_a * factor[:, None],
            lin_b * factor,
            columns,
            best if numpy.isfinite(best_error) else constants,
            floor,
        )
        denominator = bottom_a @ trial + bottom_b
        if not (numpy.all(denominator > 0) or numpy.all(denominator < 0)):
            break
        with numpy.errstate(all="ignore"):
            error = float(numpy.max(numpy.abs(((top_a @ trial + top_b) / denominator - truth) * weight)))
        if not error < best_error:
            break
        improved = error < best_error * 0.99
        best, best_error = trial, error
        if not improved:
            break
    if held is not None and held[1] < best_error:
        best = held[0]
    return numpy.asarray(best, dtype=LD).astype(numpy.float64)


def _numerator_fit(
    form: Form, grid: FitGrid, constants: numpy.ndarray, columns: list[int], denominator: numpy.ndarray
) -> tuple[numpy.ndarray, float]:
    """N's constants fitted with D's held at the start (an exact LP), and the quotient's error.

    Loeb's iteration can settle worse than this special case of its own form: exp's
    rational-1/1 on [-5, -1] ended 95% off where the line through it is 68%. The fit returns the
    better of the two: a quotient is never worse than its numerator over the start's denominator.
    """
    assert form.numerator is not None and form.denominator is not None
    (top_a, top_b), (bottom_a, _) = form.numerator, form.denominator
    numerator_columns = [k for k in columns if not numpy.any(bottom_a[:, k] != 0)]
    if not numerator_columns:
        return constants, numpy.inf
    scale = grid.weight / denominator
    fitted = minimax_affine(
        top_a * scale[:, None], top_b * scale - grid.truth * grid.weight, numerator_columns, constants
    )
    with numpy.errstate(all="ignore"):
        error = float(
            numpy.max(numpy.abs(((top_a @ fitted + top_b) / denominator - grid.truth) * grid.weight))
        )
    return (fitted, error) if numpy.isfinite(error) else (constants, numpy.inf)


def structure_seed(program: Program) -> int:
    """A stable seed from the program's shape (not its constants): fits are reproducible."""
    shape = repr([(node.op, node.args) for node in program.nodes]).encode()
    return int.from_bytes(hashlib.sha256(shape).digest()[:4], "little")


def cma_polish(
    program: Program,
    grid: FitGrid,
    dtype: type[numpy.floating],
    relative_sigma: float,
    evaluations: int,
    seed: int,
) -> Program:
    """CMA-ES on all constants, objective log(max weighted error) in `dtype` arithmetic."""
    start = program.constants()
    if not len(start) or evaluations <= 0:
        return program
    import warnings

    with warnings.catch_warnings():  # cma warns that matplotlib (for its plots) is absent
        warnings.simplefilter("ignore")
        import cma

    scale = numpy.maximum(numpy.abs(start), 1e-3)

    def objective(z: numpy.ndarray) -> float:
        candidate = program.with_constants(start + scale * z)
        approx = candidate.evaluate(grid.x, dtype).astype(LD)
        with numpy.errstate(all="ignore"):
            worst = numpy.max(numpy.abs(approx - grid.truth) * grid.weight)
        return (
            float(numpy.log(worst))
            if numpy.isfinite(worst) and worst > 0
            else 1e300
            if not numpy.isfinite(worst)
            else -1e300
        )

    base = objective(numpy.zeros(len(start)))
    options = {
        "seed": seed % (2**31 - 1) + 1,
        "maxfevals": evaluations,
        "verbose": -9,
        "tolfun": 1e-11,
        "tolx": 1e-18,
        "CMA_diagonal": False,
    }
    if len(start) == 1:
        best_z, best_value = numpy.zeros(1), base
        rng = numpy.random.default_rng(seed)
        for _ in range(evaluations):
            z = rng.normal(0, relative_sigma, 1)
            value = objective(z)
            if value < best_value:
                best_z, best_value = z, value
    else:
        strategy = cma.CMAEvolutionStrategy(numpy.zeros(len(start)), relative_sigma, options)
        while not strategy.stop():
            points = strategy.ask()
            strategy.tell(points, [objective(numpy.asarray(p)) for p in points])
        best_z, best_value = strategy.result.xbest, strategy.result.fbest
        if best_z is None:
            return program
    if not best_value < base:
        return program
    return program.with_constants(start + scale * numpy.asarray(best_z))
