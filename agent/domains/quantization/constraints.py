"""The search space and its Z3 model: what a configuration must satisfy before it is evaluated.

Per layer l the solver holds integers format_l, bits_l, group_l, exponent_l,
rounding_l, and the hard constraints:

* profile   format_l is one the hardware profile runs;
* formats   FP formats fix their bits (4 or 8) and MX/NV fix their block (32/16);
            other formats take 2–8 bits and a candidate group size or per-channel;
* divisible group_l divides the layer's input width (per-channel always does);
* budget    Σ_l size_l ≤ budget × weights, size_l counting every scale and zero
            point exactly as size.py does (the product groups × side bits is
            linear because group_l ranges over a few constants);
* accumulator (learned) a (layer, gene) that accumulator.py showed to overflow is
            excluded by a clause, so repair never proposes it again.

A genome is checked by assuming one tracked literal per field ("layer2.bits=3"):
unsat returns the unsat core (the fields and constraints in conflict) as the
reason. Repair finds the nearest feasible genome (least weighted change: a changed
format costs 4, each bit moved 1, any other changed field 1): an exact dynamic
program over per-layer options proposes it and the Z3 solver checks it; if that
fails, Z3 Optimize searches (bit widths only first, then every field). `unknown` is never taken as feasible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from agent.domains.quantization.formats import (
    EXPONENTS,
    FIXED_BITS,
    FIXED_BLOCK,
    MAX_BITS,
    MIN_BITS,
    PER_CHANNEL,
    Format,
    Genome,
    LayerGene,
    Rounding,
)
from agent.domains.quantization.profiles import Profile
from agent.domains.quantization.size import E4M3, E8M0, FP16, FP32, layer_size

FORMATS = tuple(Format)
ROUNDINGS = tuple(Rounding)
SOLVER_TIMEOUT_MS = 10_000
REPAIR_WEIGHTS = {"format": 4, "bits": 1, "group": 1, "exponent": 1, "rounding": 1}  # bits: per bit moved


@dataclass(frozen=True)
class LayerSpace:
    out: int
    width: int
    groups: tuple[int, ...]  # candidate group sizes that divide `width` (per-channel is always allowed)

    @property
    def weights(self) -> int:
        return self.out * self.width


@dataclass(frozen=True)
class Space:
    layers: tuple[LayerSpace, ...]
    profile: Profile
    budget_bits: float  # average bits per weight, side information included
    allow_gptq: bool = True

    @property
    def weights(self) -> int:
        return sum(layer.weights for layer in self.layers)

    @property
    def budget_total(self) -> int:
        return math.floor(self.budget_bits * self.weights + 1e-9)

    def formats_for(self, layer: LayerSpace) -> tuple[Format, ...]:
        return tuple(
            f for f in self.profile.formats if f not in FIXED_BLOCK or layer.width % FIXED_BLOCK[f] == 0
        )


def build_space(
    shapes: list[tuple[int, int]], profile: Profile, budget_bits: float, group_candidates: tuple[int, ...]
) -> Space:
    layers = tuple(
        LayerSpace(o, i, tuple(g for g in group_candidates if i % g == 0 and g < i)) for o, i in shapes
    )
    return Space(layers, profile, budget_bits)


@dataclass(frozen=True)
class Verdict:
    feasible: bool
    core: tuple[str, ...] = ()  # names of the conflicting literals and constraints
    unknown: bool = False


def _change_cost(a: LayerGene, b: LayerGene) -> int:
    w = REPAIR_WEIGHTS
    return (
        w["format"] * (a.format != b.format)
        + w["bits"] * abs(a.bits - b.bits)
        + w["group"] * (a.group != b.group)
        + w["exponent"] * (a.exponent != b.exponent)
        + w["rounding"] * (a.rounding != b.rounding)
    )


class ConfigSolver:
    """Z3 model of a `Space`. Not picklable on purpose: build one per process (see `QuantDomain`)."""

    def __init__(self, space: Space) -> None:
        from agent.smt import z3

        self.z3 = z3
        self.space = space
        self.solver = z3.Solver()
        self.solver.set("timeout", SOLVER_TIMEOUT_MS)
        self.solver.set("unsat_core", True)
        self.vars: list[dict[str, Any]] = []
        self.hard: list[tuple[Any, str]] = []
        self.sizes: list[Any] = []
        for index, layer in enumerate(space.layers):
            self._layer(index, layer)
        total = z3.Sum(self.sizes)
        self.total_size = total
        self._add(total <= space.budget_total, f"budget {space.budget_bits:g} bits/weight")
        self.literals: dict[str, Any] = {}
        self.forbidden: list[Any] = []
        self.forbidden_genes: dict[int, set[LayerGene]] = {}
        self.repairs_by_table = 0
        self.repairs_by_optimize = 0

    def _add(self, constraint: Any, name: str) -> None:
        self.hard.append((constraint, name))
        self.solver.assert_and_track(constraint, self.z3.Bool(f"[{name}]"))

    def _layer(self, index: int, layer: LayerSpace) -> None:
        z3 = self.z3
        v = {k: z3.Int(f"l{index}.{k}") for k in ("format", "bits", "group", "exponent", "rounding")}
        self.vars.append(v)
        fmt, bits, group = v["format"], v["bits"], v["group"]
        code = {f: FORMATS.index(f) for f in FORMATS}
        name = f"layer{index}"
        allowed = [fmt == code[f] for f in self.space.profile.formats]
        self._add(z3.Or(allowed), f"{name}: profile {self.space.profile.name} formats")
        block_sizes = sorted(set(FIXED_BLOCK.values()))
        domain = sorted({PER_CHANNEL, *layer.groups, *block_sizes})
        self._add(z3.Or([group == g for g in domain]), f"{name}: group sizes")
        divisors = [PER_CHANNEL] + [d for d in domain if d and layer.width % d == 0]
        self._add(z3.Or([group == d for d in divisors]), f"{name}: group divides width {layer.width}")
        for f in FORMATS:
            is_f = fmt == code[f]
            if f in FIXED_BITS:
                self._add(z3.Implies(is_f, bits == FIXED_BITS[f]), f"{name}: {f.value} bits")
            else:
                self._add(
                    z3.Implies(is_f, z3.And(bits >= MIN_BITS, bits <= MAX_BITS)),
                    f"{name}: {f.value} bits range",
                )
            if f in FIXED_BLOCK:
                self._add(z3.Implies(is_f, group == FIXED_BLOCK[f]), f"{name}: {f.value} block")
            else:
                groups_ok = z3.Or([group == g for g in (PER_CHANNEL, *layer.groups)])
                self._add(z3.Implies(is_f, groups_ok), f"{name}: {f.value} group candidates")
        keep = EXPONENTS.index(1.0)
        self._add(
            z3.Implies(fmt != code[Format.POWER], v["exponent"] == keep), f"{name}: exponent only for power"
        )
        self._add(z3.And(v["exponent"] >= 0, v["exponent"] < len(EXPONENTS)), f"{name}: exponent grid")
        rounding_max = len(ROUNDINGS) - 1 if self.space.allow_gptq else 0
        self._add(z3.And(v["rounding"] >= 0, v["rounding"] <= rounding_max), f"{name}: rounding")
        side = z3.If(
            fmt == code[Format.INT_ASYM],
            FP16 + bits,
            z3.If(fmt == code[Format.MXFP4], E8M0, z3.If(fmt == code[Format.NVFP4], E4M3, FP16)),
        )
        grouped = z3.Sum(
            [
                z3.If(group == g, (layer.out if g == PER_CHANNEL else layer.weights // g) * side, 0)
                for g in domain
            ]
        )
        tensor = z3.If(fmt == code[Format.POWER], FP16, z3.If(fmt == code[Format.NVFP4], FP32, 0))
        self.sizes.append(layer.weights * bits + grouped + tensor)

    # -- genomes <-> literals ------------------------------------------------------------------
    def _values(self, gene: LayerGene) -> dict[str, int]:
        return {
            "format": FORMATS.index(gene.format),
            "bits": gene.bits,
            "group": gene.group,
            "exponent": EXPONENTS.index(gene.exponent) if gene.exponent in EXPONENTS else -1,
            "rounding": ROUNDINGS.index(gene.rounding),
        }

    def _literal(self, index: int, key: str, value: int, shown: str) -> Any:
        name = f"layer{index}.{key}={shown}"
        if name not in self.literals:
            lit = self.z3.Bool(name)
            self.solver.add(lit == (self.vars[index][key] == value))
            self.literals[name] = lit
        return self.literals[name]

    def _assumptions(self, genome: Genome) -> list[Any]:
        lits = []
        for index, gene in enumerate(genome):
            shown = gene.to_json()
            for key, value in self._values(gene).items():
                lits.append(self._literal(index, key, value, str(shown[key])))
        return lits

    def _decode(self, model: Any) -> Genome:
        genes = []
        for v in self.vars:
            get = lambda k, v=v: model.eval(v[k], model_completion=True).as_long()  # noqa: E731
            genes.append(
                LayerGene.make(
                    FORMATS[get("format")],
                    get("bits"),
                    get("group"),
                    EXPONENTS[get("exponent")],
                    ROUNDINGS[get("rounding")],
                )
            )
        return tuple(genes)

    # -- the three questions ---------------------------------------------------------------------
    def check(self, genome: Genome) -> Verdict:
        if len(genome) != len(self.vars):
            return Verdict(False, (f"genome has {len(genome)} layers, the model {len(self.vars)}",))
        result = self.solver.check(*self._assumptions(genome))
        if result == self.z3.sat:
            return Verdict(True)
        if result == self.z3.unsat:
            return Verdict(False, tuple(sorted(str(c).strip("[]") for c in self.solver.unsat_core())))
        return Verdict(False, ("solver returned unknown (not proven feasible)",), unknown=True)

    def forbid(self, index: int, gene: LayerGene) -> None:
        """Exclude `gene` at layer `index` from now on (e.g. its accumulator overflows)."""
        v, values = self.vars[index], self._values(gene)
        clause = self.z3.Not(self.z3.And([v[k] == values[k] for k in values]))
        self.forbidden.append(clause)
        self.forbidden_genes.setdefault(index, set()).add(gene)
        self._add(clause, f"layer{index}: {gene.label()} overflows the accumulator #{len(self.forbidden)}")

    def _optimizer(self) -> Any:
        opt = self.z3.Optimize()
        opt.set("timeout", SOLVER_TIMEOUT_MS)
        for constraint, _ in self.hard:
            opt.add(constraint)
        return opt

    def repair(self, genome: Genome) -> Genome | None:
        """The feasible genome nearest `genome`, or None if none exists.

        First only bit widths may move (minimising the total change: cheap, and what most
        over-budget proposals need); if that cannot work, the weighted nearest genome over
        every field (formats, groups, exponents, rounding too).
        """
        nearest = self._nearest_by_table(genome)
        if nearest is not None and self.check(nearest).feasible:  # Z3 stays the judge
            self.repairs_by_table += 1
            return nearest
        self.repairs_by_optimize += 1
        return self._repair_bits(genome) or self._repair_any(genome)

    def _options(self, index: int) -> list[LayerGene]:
        """Every gene layer `index` may take under the space (what the hard constraints allow)."""
        layer = self.space.layers[index]
        roundings = ROUNDINGS if self.space.allow_gptq else (Rounding.RTN,)
        genes = set()
        for fmt in self.space.formats_for(layer):
            bit_range = [FIXED_BITS[fmt]] if fmt in FIXED_BITS else range(MIN_BITS, MAX_BITS + 1)
            groups = [FIXED_BLOCK[fmt]] if fmt in FIXED_BLOCK else [PER_CHANNEL, *layer.groups]
            exps = EXPONENTS if fmt is Format.POWER else (1.0,)
            for b in bit_range:
                for g in groups:
                    for e in exps:
                        for r in roundings:
                            genes.add(LayerGene.make(fmt, b, g, e, r))
        return sorted(genes - self.forbidden_genes.get(index, set()))

    def _nearest_by_table(self, genome: Genome) -> Genome | None:
        """Least weighted change under the budget, exactly, as a multiple-choice knapsack.

        Z3 Optimize answers the same question in 0.5–1.5 s per call on this machine; this
        dynamic program over (layer, change cost) answers it in milliseconds, and its answer
        is then checked by the Z3 solver like any other genome.
        """
        if len(genome) != len(self.vars):
            return None
        best: dict[int, tuple[int, tuple[LayerGene, ...]]] = {0: (0, ())}
        for index, gene in enumerate(genome):
            layer = self.space.layers[index]
            cheapest: dict[int, tuple[int, LayerGene]] = {}
            for option in self._options(index):
                cost = _change_cost(gene, option)
                size = layer_size(option, layer.out, layer.width).total_bits
                if cost not in cheapest or size < cheapest[cost][0]:
                    cheapest[cost] = (size, option)
            merged: dict[int, tuple[int, tuple[LayerGene, ...]]] = {}
            for total, (size, chosen) in best.items():
                for cost, (extra, option) in cheapest.items():
                    key, value = total + cost, size + extra
                    if key not in merged or value < merged[key][0]:
                        merged[key] = (value, (*chosen, option))
            best = merged
        fitting = [cost for cost, (size, _) in best.items() if size <= self.space.budget_total]
        return best[min(fitting)][1] if fitting else None

    def _repair_bits(self, genome: Genome) -> Genome | None:
        z3 = self.z3
        opt = self._optimizer()
        change = []
        for index, gene in enumerate(genome[: len(self.vars)]):
            v, values = self.vars[index], self._values(gene)
            for key in ("format", "group", "exponent", "rounding"):
                opt.add(v[key] == values[key])
            change.append(
                z3.If(v["bits"] >= values["bits"], v["bits"] - values["bits"], values["bits"] - v["bits"])
            )
        opt.minimize(z3.Sum(change))
        if opt.check() != z3.sat:
            return None
        return self._decode(opt.model())

    def _repair_any(self, genome: Genome) -> Genome | None:
        z3 = self.z3
        opt = self._optimizer()
        cost = []
        for index, gene in enumerate(genome[: len(self.vars)]):
            v, values = self.vars[index], self._values(gene)
            for key, value in values.items():
                if key == "bits":
                    delta = z3.If(v["bits"] >= value, v["bits"] - value, value - v["bits"])
                    cost.append(REPAIR_WEIGHTS["bits"] * delta)
                else:
                    cost.append(z3.If(v[key] == value, 0, REPAIR_WEIGHTS[key]))
        opt.minimize(z3.Sum(cost))
        if opt.check() != z3.sat:
            return None
        return self._decode(opt.model())

    def minimum_avg_bits(self) -> float | None:
        """Smallest average bits per weight any configuration allowed by the profile reaches (budget ignored).

        Sizes add up layer by layer and no hard constraint but the budget joins layers, so the
        minimum is the sum of each layer's smallest option (what Z3 Optimize found in ~2 s, in ms).
        """
        total = 0
        for index, layer in enumerate(self.space.layers):
            options = self._options(index)
            if not options:
                return None
            total += min(layer_size(g, layer.out, layer.width).total_bits for g in options)
        return total / self.space.weights
