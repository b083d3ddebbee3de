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
reason. Repair asks Z3 Optimize for the feasible genome nearest the proposal
(weighted fields kept). `unknown` is never taken as feasible.
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
from agent.domains.quantization.size import E4M3, E8M0, FP16, FP32

FORMATS = tuple(Format)
ROUNDINGS = tuple(Rounding)
SOLVER_TIMEOUT_MS = 10_000
REPAIR_WEIGHTS = {"format": 4, "bits": 2, "bits_near": 1, "group": 1, "exponent": 1, "rounding": 1}


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


class ConfigSolver:
    """Z3 model of a `Space`. Not picklable on purpose: build one per process (see `QuantDomain`)."""

    def __init__(self, space: Space) -> None:
        import z3

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
        self._add(clause, f"layer{index}: {gene.label()} overflows the accumulator #{len(self.forbidden)}")

    def _optimizer(self) -> Any:
        opt = self.z3.Optimize()
        opt.set("timeout", SOLVER_TIMEOUT_MS)
        for constraint, _ in self.hard:
            opt.add(constraint)
        return opt

    def repair(self, genome: Genome) -> Genome | None:
        """The feasible genome nearest `genome` (weighted fields kept), or None if none exists."""
        z3 = self.z3
        opt = self._optimizer()
        for index, gene in enumerate(genome[: len(self.vars)]):
            v, values = self.vars[index], self._values(gene)
            for key, value in values.items():
                opt.add_soft(v[key] == value, REPAIR_WEIGHTS[key])
            opt.add_soft(
                z3.And(v["bits"] >= values["bits"] - 1, v["bits"] <= values["bits"] + 1),
                REPAIR_WEIGHTS["bits_near"],
            )
        if opt.check() != z3.sat:
            return None
        return self._decode(opt.model())

    def minimum_avg_bits(self) -> float | None:
        """Smallest average bits per weight any configuration allowed by the profile reaches (budget ignored)."""
        opt = self.z3.Optimize()
        opt.set("timeout", SOLVER_TIMEOUT_MS)
        for constraint, name in self.hard:
            if not name.startswith("budget"):
                opt.add(constraint)
        handle = opt.minimize(self.total_size)
        if opt.check() != self.z3.sat:
            return None
        return opt.lower(handle).as_long() / self.space.weights
