"""The quantization search as a `Domain` for strop's engine: genome, operators, check and fitness.

A genome is one `LayerGene` per quantizable layer. Operators are per layer
(change one field, move a bit from one layer to another, uniform crossover of
layers); `check` asks Z3 (constraints.py) before anything is evaluated and
repairs an infeasible genome to the nearest feasible one, proves integer layers
free of accumulator overflow (accumulator.py), and counts what it saved. The
fitness is (1 − validation accuracy, model bytes), both minimised (validation
cross-entropy, scaled to under one sample, breaks accuracy ties: with 449
validation images many configs tie, and the smoother loss generalises better
than an arbitrary pick); the test split
is never read here except by `test_accuracy`, called once per chosen config.

Quantized layers are cached per (layer, gene) in each process, so an evaluation
is mostly one NumPy forward pass. Z3 objects and caches are rebuilt per process
(they do not pickle); the domain itself pickles to the engine's workers.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from agent.domains.quantization.accumulator import AccumulatorVerdict, check_layer, gene_is_safe
from agent.domains.quantization.constraints import ConfigSolver, LayerSpace, Space
from agent.domains.quantization.datasets import Split
from agent.domains.quantization.formats import (
    EXPONENTS,
    FIXED_BITS,
    INT_FORMATS,
    MAX_BITS,
    MIN_BITS,
    PER_CHANNEL,
    VARIABLE_BITS,
    Format,
    Genome,
    LayerGene,
    Rounding,
)
from agent.domains.quantization.network import Network
from agent.domains.quantization.quantizers import fit, integer_weights, qmax_sym, quantize_rtn
from agent.domains.quantization.rounding import inverse_hessian_factor, quantize_gptq
from agent.domains.quantization.size import ModelSize, model_size
from agent.evolution.domain import Fitness

CALIBRATION_SAMPLES = 256
NLL_TIE_BREAK, NLL_CAP = 1e-3, 2.0  # cross-entropy breaks accuracy ties (< 1 sample of 449 apart)
CACHE_ENTRIES = 1024
REPAIR_ROUNDS = 40  # each round learns ≥ 1 overflowing (layer, gene) clause; they persist across checks


@dataclass
class CheckCounters:
    """What `check` did, counted in the engine's process."""

    checked: int = 0
    feasible: int = 0  # feasible as proposed
    repaired: int = 0  # infeasible, replaced by the nearest feasible genome
    rejected: int = 0  # infeasible and not repairable
    accumulator_proofs: int = 0
    accumulator_overflows: int = 0

    @property
    def evaluations_saved(self) -> int:
        """Infeasible proposals that were never evaluated."""
        return self.repaired + self.rejected


def _pick(rng: Any, options: tuple[Any, ...] | list[Any]) -> Any:
    return options[int(rng.random() * len(options))]


@dataclass
class QuantDomain:
    """Search per-layer quantization configs of `network` under `space` (budget, profile, groups)."""

    cache_entries: ClassVar[int] = CACHE_ENTRIES  # quantized layers kept per process (LRU)
    network: Network
    split: Split
    space: Space
    repair: bool = True
    seed_genomes: tuple[Genome, ...] = ()
    counters: CheckCounters = field(default_factory=CheckCounters)
    _local: dict[str, Any] = field(default_factory=dict, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_local"] = {}
        return state

    # -- per-process resources -------------------------------------------------------------
    @property
    def solver(self) -> ConfigSolver:
        if "solver" not in self._local:
            self._local["solver"] = ConfigSolver(self.space)
        return self._local["solver"]

    def calibration_inputs(self) -> list[np.ndarray]:
        """Each quantizable layer's inputs on the calibration samples (GPTQ's and HAWQ's data)."""
        if "seen" not in self._local:
            _, seen = self.network.forward(self.split.x_train[:CALIBRATION_SAMPLES], capture=True)
            self._local["seen"] = seen
        return self._local["seen"]

    def layer_traces(self, seed: int) -> list[float]:
        """HAWQ-V2's per-layer Hessian trace of the training loss."""
        from agent.domains.quantization.sensitivity import hessian_traces

        return hessian_traces(self.network, self.split.x_train, self.split.y_train, seed)

    def _factors(self) -> list[np.ndarray]:
        if "factors" not in self._local:
            self._local["factors"] = [inverse_hessian_factor(x) for x in self.calibration_inputs()]
        return self._local["factors"]

    def _matrices(self) -> list[np.ndarray]:
        if "matrices" not in self._local:
            self._local["matrices"] = self.network.matrices()
        return self._local["matrices"]

    def _cache(self, name: str) -> OrderedDict:
        return self._local.setdefault(name, OrderedDict())

    def quantized(self, index: int, gene: LayerGene) -> np.ndarray:
        """Dequantized weights of layer `index` under `gene` (cached)."""
        cache = self._cache("layers")
        key = (index, gene)
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
        w = self._matrices()[index]
        q = self.learned(index, gene) if gene.rounding is Rounding.GPTQ else quantize_rtn(w, gene)
        q = q.astype(np.float32)
        cache[key] = q
        if len(cache) > self.cache_entries:
            cache.popitem(last=False)
        return q

    def learned(self, index: int, gene: LayerGene) -> np.ndarray:
        """GPTQ weights of layer `index` (uncached; `quantized` caches)."""
        return quantize_gptq(self._matrices()[index], gene, self._factors()[index])

    def matrices(self, genome: Genome) -> list[np.ndarray]:
        return [self.quantized(i, g) for i, g in enumerate(genome)]

    # -- genome operators ---------------------------------------------------------------------
    def _formats(self, layer: LayerSpace) -> tuple[Format, ...]:
        return self.space.formats_for(layer)

    def roundings(self) -> tuple[Rounding, ...]:
        return tuple(Rounding) if self.space.allow_gptq else (Rounding.RTN,)

    def _random_gene(self, layer: LayerSpace, rng: Any) -> LayerGene:
        fmt = _pick(rng, self._formats(layer))
        centre = self.space.budget_bits
        bits = int(np.clip(round(centre + (rng.random() - 0.5) * 3), MIN_BITS, MAX_BITS))
        return LayerGene.make(
            fmt,
            bits,
            _pick(rng, (PER_CHANNEL, *layer.groups)),
            _pick(rng, EXPONENTS),
            _pick(rng, self.roundings()),
        )

    def random_genome(self, rng: Any) -> Genome:
        return tuple(self._random_gene(layer, rng) for layer in self.space.layers)

    def initial_genomes(self, rng: Any) -> list[Genome]:
        """Uniform starting points (same gene everywhere, where the profile allows), plus given seeds."""
        seeds: list[Genome] = list(self.seed_genomes)
        for fmt in self.space.profile.formats:
            bits = FIXED_BITS.get(fmt, max(MIN_BITS, int(self.space.budget_bits)))
            for rounding in self.roundings():
                genes = []
                for layer in self.space.layers:
                    f = fmt if fmt in self._formats(layer) else _pick(rng, self._formats(layer))
                    exponent = 0.75 if f is Format.POWER else 1.0
                    genes.append(LayerGene.make(f, bits, PER_CHANNEL, exponent, rounding))
                seeds.append(tuple(genes))
        return seeds

    def _mutate_gene(self, gene: LayerGene, layer: LayerSpace, rng: Any) -> LayerGene:
        move = _pick(rng, ("bits", "bits", "format", "group", "exponent", "rounding"))
        fields = gene.to_json()
        if move == "bits" and gene.format in VARIABLE_BITS:
            fields["bits"] = int(np.clip(gene.bits + _pick(rng, (-1, 1)), MIN_BITS, MAX_BITS))
        elif move == "format" or (move == "bits" and gene.format not in VARIABLE_BITS):
            fields["format"] = _pick(rng, self._formats(layer)).value
            if gene.format not in VARIABLE_BITS:
                fields["bits"] = max(MIN_BITS, int(self.space.budget_bits))
        elif move == "group":
            fields["group"] = _pick(rng, (PER_CHANNEL, *layer.groups))
        elif move == "exponent":
            if gene.format is not Format.POWER:
                fields["format"] = (
                    Format.POWER.value if Format.POWER in self._formats(layer) else gene.format.value
                )
            k = EXPONENTS.index(gene.exponent) if gene.exponent in EXPONENTS else len(EXPONENTS) - 1
            fields["exponent"] = EXPONENTS[int(np.clip(k + _pick(rng, (-1, 1)), 0, len(EXPONENTS) - 1))]
        else:
            fields["rounding"] = _pick(rng, self.roundings()).value
        return LayerGene.from_json(fields)

    def mutate(self, genome: Genome, rng: Any) -> Genome:
        genes = list(genome)
        layers = self.space.layers
        if len(genes) > 1 and rng.random() < 0.25:  # move one bit from one layer to another
            a, b = _pick(rng, range(len(genes))), _pick(rng, range(len(genes)))
            if a != b and genes[a].format in VARIABLE_BITS and genes[b].format in VARIABLE_BITS:
                fa, fb = genes[a].to_json(), genes[b].to_json()
                fa["bits"] = int(np.clip(genes[a].bits - 1, MIN_BITS, MAX_BITS))
                fb["bits"] = int(np.clip(genes[b].bits + 1, MIN_BITS, MAX_BITS))
                genes[a], genes[b] = LayerGene.from_json(fa), LayerGene.from_json(fb)
                return tuple(genes)
        for _ in range(1 + (rng.random() < 0.3)):
            i = _pick(rng, range(len(genes)))
            genes[i] = self._mutate_gene(genes[i], layers[i], rng)
        return tuple(genes)

    def crossover(self, a: Genome, b: Genome, rng: Any) -> Genome:
        return tuple(x if rng.random() < 0.5 else y for x, y in zip(a, b, strict=True))

    # -- check: Z3 before evaluation ------------------------------------------------------------
    def accumulator_verdict(self, index: int, gene: LayerGene) -> AccumulatorVerdict | None:
        """None when the gene needs no check (non-integer format, or A2Q's data-free bound holds)."""
        profile = self.space.profile
        if gene.format not in INT_FORMATS:
            return None
        width = self.space.layers[index].width
        group = width if gene.group == PER_CHANNEL else gene.group
        qmax = qmax_sym(gene.bits) if gene.format is Format.INT_SYM else 2**gene.bits - 1
        if gene_is_safe(group, qmax, profile.input_bits, profile.accumulator_bits, profile.input_signed):
            return None
        cache = self._cache("accumulator")
        key = (index, gene)
        if key not in cache:
            w_hat = self.quantized(index, gene).astype(np.float64)
            side = fit(self._matrices()[index], gene)
            q = integer_weights(w_hat, side, gene)
            assert q is not None
            cache[key] = check_layer(
                q, group, profile.input_bits, profile.accumulator_bits, profile.input_signed
            )
            self.counters.accumulator_proofs += 1
        return cache[key]

    def check(self, genome: Genome) -> Genome | str:
        self.counters.checked += 1
        genome = tuple(LayerGene.make(g.format, g.bits, g.group, g.exponent, g.rounding) for g in genome)
        changed = False
        for _ in range(REPAIR_ROUNDS):
            verdict = self.solver.check(genome)
            if not verdict.feasible:
                reason = "; ".join(verdict.core)
                if not self.repair or verdict.unknown:
                    self.counters.rejected += 1
                    return f"infeasible: {reason}"
                repaired = self.solver.repair(genome)
                if repaired is None:
                    self.counters.rejected += 1
                    return f"unrepairable: {reason}"
                genome, changed = repaired, True
                continue
            overflow = False
            for index, gene in enumerate(genome):
                acc = self.accumulator_verdict(index, gene)
                if acc is not None and not acc.safe:
                    self.solver.forbid(index, gene)
                    self.counters.accumulator_overflows += 1
                    overflow = True
            if not overflow:
                if changed:
                    self.counters.repaired += 1
                else:
                    self.counters.feasible += 1
                return genome
            if not self.repair:
                self.counters.rejected += 1
                return "accumulator: a layer can overflow its integer accumulator"
            changed = True
        self.counters.rejected += 1
        return "unrepairable: no feasible genome found in time"

    # -- fitness -------------------------------------------------------------------------------
    def size(self, genome: Genome) -> ModelSize:
        shapes = [m.shape for m in self._matrices()]
        return model_size(genome, shapes, self.network.bias_count())  # type: ignore[arg-type]

    def val_logits(self, genome: Genome) -> np.ndarray:
        _single_thread_blas(self._local)
        return self.network.forward(self.split.x_val, self.matrices(genome))[0]

    def evaluate(self, genome: Genome) -> Fitness:
        logits = self.val_logits(genome)
        predictions = logits.argmax(axis=1)
        acc = float((predictions == self.split.y_val).mean())
        nll = _cross_entropy(logits, self.split.y_val)
        size = self.size(genome)
        exotic = sum(g.format not in INT_FORMATS for g in genome)
        signature = hashlib.sha256(
            predictions.astype(np.int8).tobytes() + repr(size.weight_bits).encode()
        ).digest()
        return Fitness(
            objectives=(1.0 - acc + NLL_TIE_BREAK * min(nll, NLL_CAP), size.bytes),
            descriptor=(int((size.avg_bits - MIN_BITS) * 4), exotic),
            signature=signature,
            info={"val_acc": acc, "val_nll": nll, "avg_bits": size.avg_bits, "bytes": size.bytes},
        )

    def test_hits(self, genome: Genome | None) -> np.ndarray:
        """Which test images `genome` (None: fp32) classifies right: call once per chosen configuration.

        Per image rather than a mean, so two configs can be compared pairwise on the same images.
        """
        _single_thread_blas(self._local)
        matrices = None if genome is None else self.matrices(genome)
        return self.network.predict(self.split.x_test, matrices) == self.split.y_test

    def tie_width(self) -> float:
        """Validation scores this close count as tied in the final pick: one validation image.

        One image is 0.22 points, inside the validation set's own noise (a config's accuracy
        on 449 images has a standard error near 0.6 points at 98%).
        """
        return 1.0 / len(self.split.y_val)

    def selection_ceiling(self) -> float | None:
        """The validation score above which gains are read as luck: the unquantized model's own.

        Quantizing cannot make the model better than fp32 except by chance, and a search that
        evaluates hundreds of configs on the same 449 images finds those chances (measured: the
        picks scored up to 2 images above fp32 on validation and up to 3 below it on test). So
        the final pick treats every config within `tie_width` of min(best, fp32) as tied and
        takes the one closest to fp32 on the training images.
        """
        return self.fp32_val()

    def fp32_divergence(self, genome: Genome, fitness: Fitness | None = None) -> float | None:
        """Mean KL(fp32 ‖ quantized) of the output distributions on the training images (never test).

        Breaks validation-accuracy near-ties in the final pick (search.chosen_genome): with 449
        validation images many configs share the best accuracy, and the one with the lowest
        validation cross-entropy is partly the luckiest, since the search optimised on that very
        set (winner's curse). This label-free figure over twice as many images (the training
        split, which GPTQ and HAWQ calibrate on too) says how far quantization moved the model.
        """
        _single_thread_blas(self._local)
        if "fp32_train" not in self._local:
            self._local["fp32_train"] = _log_softmax(self.network.forward(self.split.x_train)[0])
        quantized = _log_softmax(self.network.forward(self.split.x_train, self.matrices(genome))[0])
        return _mean_kl(self._local["fp32_train"], quantized)

    def fp32_val(self) -> float:
        """The unquantized model's validation score."""
        return float((self.network.predict(self.split.x_val) == self.split.y_val).mean())

    def test_metrics(self, genome: Genome | None) -> dict[str, Any]:
        """Held-out KL(fp32 ‖ quantized) on the test images, beside the per-image hits.

        At 2.5–3 bits the best configs sit at fp32's own test accuracy, within an image or
        two of each other, so accuracy on 450 images cannot rank them; the mean KL over the
        same images is smooth and says which config moved the model least.
        """
        if genome is None:
            return {"test_kl": 0.0}
        _single_thread_blas(self._local)
        reference = _log_softmax(self.network.forward(self.split.x_test)[0])
        quantized = _log_softmax(self.network.forward(self.split.x_test, self.matrices(genome))[0])
        kl = _mean_kl(reference, quantized)
        return {"test_kl": round(kl, 6) if np.isfinite(kl) else None}  # JSON has no inf

    def test_accuracy(self, genome: Genome) -> float:
        """Accuracy on the held-out test split: call once per chosen configuration."""
        return float(self.test_hits(genome).mean())


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _mean_kl(reference: np.ndarray, quantized: np.ndarray) -> float:
    """Mean KL(reference ‖ quantized) over rows of log-probabilities; inf where outputs overflowed.

    A model file whose forward pass overflows (weights scaled to 1e30, say) gives NaN rows;
    inf keeps such a config last in any ordering instead of poisoning it.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        kl = float(np.mean(np.sum(np.exp(reference) * (reference - quantized), axis=1)))
    return kl if np.isfinite(kl) else float("inf")


def _cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(labels)), labels].mean())


def _single_thread_blas(local: dict[str, Any]) -> None:
    """Tiny matmuls on a shared machine: BLAS threads only contend (measured 40× slower)."""
    if "blas" not in local:
        from threadpoolctl import threadpool_limits

        local["blas"] = threadpool_limits(1)
