"""One quantization search, end to end: fp32 reference, strop's engine, the baselines, test once.

`run_search` is what `strop evolve quant` and the benchmark call. It builds the
domain (model, data: the digits split or the user's --data, Z3 space), checks the user's request can be met at
all (a budget below the smallest configuration, a group size that divides no
layer: the user's error), runs the fast baselines (best uniform, greedy, HAWQ-V3)
and seeds the engine's first generation with their configs, runs the engine with a
time or generation budget, fills the budget from its most accurate points
(refine.py; those evaluations count in the total), then runs random search and
TPE (at most at the engine's evaluation count), and scores each chosen
configuration once on the test split. The chosen config is the best on validation,
so it is at least the seeded baselines' on validation; when it *is* one of their
configs its `origin` says so (a tie with that baseline, not a discovery). Under a
`Deadline` the whole of it, baselines included, ends in time: timeplan.py splits the
time and every phase stops at its own deadline. The report names the strongest baseline inside the budget (best on
test, the hardest one to beat) and the chosen config's paired margin over it.

`--model minilm` quantizes the knowledge store's embedder instead (retrieval.py): the
same search, scored by retrieval on query/passage sets; its outputs include the
`embedder.json` that `strop knowledge --embedder PATH` loads.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from agent.deadline import Deadline
from agent.domains.quantization import baselines
from agent.domains.quantization.constraints import build_space
from agent.domains.quantization.datasets import digits_split, load_split
from agent.domains.quantization.domain import QuantDomain
from agent.domains.quantization.formats import Format, Genome, LayerGene
from agent.domains.quantization.intervals import paired, verdict, wilson
from agent.domains.quantization.minilm import config_text, weights_digest
from agent.domains.quantization.models import load_model, save_npz
from agent.domains.quantization.profiles import get_profile
from agent.domains.quantization.refine import REFINE_SHARE, REFINE_STARTS, refine
from agent.domains.quantization.retrieval import (
    CALIBRATION,
    MAX_TOKENS,
    MINILM_GROUPS,
    MINILM_NAMES,
    RetrievalDomain,
    build_minilm_domain,
)
from agent.domains.quantization.size import fp32_size
from agent.domains.quantization.timeplan import (
    BASELINE_MODES,
    MIN_ENGINE_SECONDS,
    PhaseDone,
    PhaseStarted,
    PlanMade,
    TimePlan,
    phase_deadline,
)
from agent.errors import UserError
from agent.evolution.domain import Fitness, Individual
from agent.search_recorder import PointRecord

DEFAULT_GROUPS = (8, 16, 32, 64)
MAX_SEED = 2**32 - 1  # numpy RandomState, which Optuna's TPE seeds, takes no more


@dataclass(frozen=True)
class Scored:
    """A configuration (None for fp32) with its validation and test accuracy and size."""

    val_acc: float
    test_acc: float
    bytes: float
    avg_bits: float
    config: list[dict[str, Any]] | None = None
    evaluations: int = 0
    seconds: float = 0.0  # wall time of the search or baseline that chose it
    cut: bool = False  # its deadline stopped it before it was done
    hits: str = ""  # test images classified right, as a hex bitmask (paired comparisons)
    metrics: dict[str, Any] = field(default_factory=dict)  # other held-out figures (MiniLM: test_cosine)
    origin: str = ""  # chosen config only: "search", or "baseline <name>[, <name>]" when it is one's config
    feasible: bool = True  # the --profile allows it (formats, accumulators): a reference row may not be

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def test_hits(self) -> np.ndarray:
        return hits_from_hex(self.hits)


def hits_to_hex(hits: np.ndarray) -> str:
    return f"{len(hits)}:" + np.packbits(np.asarray(hits, bool)).tobytes().hex()


def hits_from_hex(text: str) -> np.ndarray:
    count, _, body = text.partition(":")
    return np.unpackbits(np.frombuffer(bytes.fromhex(body), np.uint8))[: int(count)].astype(bool)


@dataclass(frozen=True)
class FrontPoint:
    val_acc: float
    bytes: float
    avg_bits: float
    config: list[str]


@dataclass
class SearchReport:
    model: str
    layers: list[str]
    budget_bits: float
    profile: str
    seed: int
    fp32: Scored
    chosen: Scored
    baselines: dict[str, Scored]
    front: list[FrontPoint]
    engine: dict[str, float]
    checks: dict[str, int]
    outputs: dict[str, str] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)  # seconds each phase took
    time_budget: float | None = None
    pick: str = ""  # how the chosen config was picked among the candidates, in words (`pick_rule`)

    def strongest(self) -> tuple[str, Scored] | None:
        """The baseline inside the budget the --profile allows with the best test accuracy (ties:
        fewer bytes). A reference row the profile forbids (uniform int4 overflowing an int16
        accumulator) is no config the user could deploy instead, so it is no bar to clear."""
        inside = [
            (name, s)
            for name, s in self.baselines.items()
            if s.avg_bits <= self.budget_bits + 1e-9 and s.config is not None and s.feasible
        ]
        if not inside:
            return None
        return max(inside, key=lambda item: (item[1].test_acc, -item[1].bytes))

    def margin(self) -> dict[str, Any] | None:
        """The chosen config's paired test margin over the strongest baseline, with its 95% interval."""
        strongest = self.strongest()
        if strongest is None:
            return None
        name, base = strongest
        interval = paired(self.chosen.test_hits(), base.test_hits())
        return {"baseline": name, **interval.to_json(), "verdict": verdict(interval)}

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "layers": self.layers,
            "budget_bits": self.budget_bits,
            "profile": self.profile,
            "seed": self.seed,
            "fp32": self.fp32.to_json(),
            "chosen": self.chosen.to_json(),
            "baselines": {k: v.to_json() for k, v in self.baselines.items()},
            "front": [asdict(p) for p in self.front],
            "engine": self.engine,
            "checks": self.checks,
            "outputs": self.outputs,
            "strongest_baseline": self.margin(),
            "test_interval": wilson(
                int(self.chosen.test_hits().sum()), len(self.chosen.test_hits())
            ).to_json(),
            "time": {"budget": self.time_budget, "phases": self.phases},
            "pick": self.pick,
        }

    def chosen_labels(self) -> list[str]:
        """The chosen config, one `layer: gene` label per layer."""
        genes = [LayerGene.from_json(g).label() for g in self.chosen.config or []]
        return [f"{name}: {gene}" for name, gene in zip(self.layers, genes, strict=False)]

    def verdict_line(self) -> str:
        """The command's verdict in one line: the chosen config's held-out score, its margin."""
        c = self.chosen
        text = (
            f"test {c.test_acc:.4f} at {c.avg_bits:.3f} bits/weight ({c.bytes:,.0f} bytes), "
            f"origin {c.origin or 'search'}"
        )
        margin = self.margin()
        if margin is None:
            return text + "; no baseline inside the budget to compare with"
        base = self.baselines[margin["baseline"]]
        return (
            f"{text}; strongest baseline {margin['baseline']} (test {base.test_acc:.4f}): chosen − it = "
            f"{margin['value'] * 100:+.2f} points, 95% interval [{margin['low'] * 100:+.2f}, "
            f"{margin['high'] * 100:+.2f}]: {margin['verdict']}"
        )

    def summary(self, experiment: int | None) -> dict[str, Any]:
        """What the run keeps of this report for `strop report` and the UI (`SearchRecorder.keep_summary`):
        the command's choice and verdict headline it, validation numbers are called selection scores."""
        c = self.chosen
        from_baseline = c.origin.startswith("baseline ")
        facts: list[list[str]] = [
            ["chosen (the command's pick)", self.verdict_line()],
            ["chosen config", ", ".join(self.chosen_labels())],
        ]
        if self.pick:
            facts.append(["how it was picked", self.pick])
        margin = self.margin()
        if margin is not None:
            facts.append(
                [
                    "verdict",
                    f"{margin['verdict']} against {margin['baseline']}, the strongest baseline inside the "
                    "budget the profile allows, on the same test images (paired, 95% interval)",
                ]
            )
        evaluated = int(self.engine.get("evaluated", 0)) + int(self.engine.get("refined", 0))
        facts.append(
            [
                "validation scores",
                f"val_acc is the selection score: {evaluated:,} configs were ranked on the validation "
                f"split (the chosen one {c.val_acc:.4f}), so the highest of them reads high by luck; "
                "the test split was read once per chosen config: compare on test",
            ]
        )
        adopt_note = ""
        if from_baseline:
            adopt_note = (
                f"nothing to adopt as a discovery: the chosen config is {c.origin}'s own config "
                "(a tie with it by construction)"
            )
        elif experiment is None:
            adopt_note = "nothing to adopt: the chosen config was not recorded as an experiment of this run"
        return {
            "kind": "quant",
            "experiment": experiment,
            "headline": self.verdict_line(),
            "facts": facts,
            "adopt_note": adopt_note,
            "selection": "validation, the selection score: not the result, see the test score above",
            "chosen": c.to_json() | {"labels": self.chosen_labels()},
            "strongest_baseline": margin,
        }


@dataclass(frozen=True)
class SearchRequest:
    model: str = "digits-mlp"
    budget_bits: float = 3.0
    profile: str = "generic"
    seed: int = 0
    time_budget: float | None = None
    generations: int | None = 12
    population: int = 16
    islands: int = 2
    workers: int = 1
    executor: str = "local"  # or "ray": candidate evaluations on a Ray cluster (agent.executors)
    address: str | None = None
    groups: tuple[int, ...] = DEFAULT_GROUPS
    groups_given: bool = False  # the user named `groups` (--groups): one no layer can use is refused
    baselines: str = "all"  # all | fast (uniform, greedy, HAWQ-V3) | none
    gptq: bool = True  # False: round to nearest only, for the search and every baseline alike
    checkpoint: Path | None = None  # the engine's population, continued when it exists (warm start)
    data: Path | None = None  # the user's classification data (.npz); None: the digits split
    allow_pickle: bool = (
        False  # unpickle torch/scikit-learn files in full: their code runs (trusted files only)
    )


def _identity(request: SearchRequest) -> dict[str, object]:
    """What a checkpoint's population depends on: another value makes its fitnesses meaningless.

    A model or data file is named by its contents (sha256) as well as its path: a file replaced
    by another under the same name (retrained weights) made a resume reuse the old file's scores.
    The seed is part of it: a resumed population keeps its own random stream, so a new --seed
    would not be the seed the run used (and the report would name the wrong one).
    """
    keys = ("model", "budget_bits", "profile", "groups", "population", "islands", "seed")
    identity = {key: getattr(request, key) for key in keys}
    model = Path(request.model).expanduser()
    if request.model.lower() not in MINILM_NAMES and model.is_file():
        identity["model_sha256"] = file_sha256(model)
    if request.data is not None:
        identity["data"] = str(request.data)
        identity["data_sha256"] = file_sha256(Path(request.data).expanduser())
    return identity


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes (read in 1 MiB blocks); a file that cannot be read is the user's error."""
    import hashlib

    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror or error}") from None
    return digest.hexdigest()


def _same_files(checkpoint: Path, identity: dict[str, object], request: SearchRequest) -> None:
    """Refuse, in words, a checkpoint whose model or data file has other contents now (same path)."""
    sidecar = checkpoint.with_name(checkpoint.name + ".identity.json")
    if not (checkpoint.is_file() and sidecar.is_file()):
        return  # the engine refuses an unreadable or otherwise different identity itself
    try:
        saved = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return
    for key, flag, path in (
        ("model_sha256", "--model", request.model),
        ("data_sha256", "--data", request.data),
    ):
        if key in identity and saved.get(key) != identity[key]:
            raise UserError(
                f"{checkpoint} was written for other contents of {flag} {path} (its sha256 differs: the file "
                "changed, or the checkpoint predates content checks): its scores are not this file's; "
                "give another --checkpoint path"
            )


def continued_engine(
    domain: QuantDomain, config: Any, observer: Callable[[Any], None] | None, request: SearchRequest
) -> Any:
    """The engine, continued from `config.checkpoint_path` when it exists (a warm start).

    A checkpoint pickles the engine's config; where candidates are evaluated (executor, Ray
    address, workers) and their time limit are this command's settings, not the saved run's:
    a resume with --executor ray ran locally, with the old run's worker count.
    """
    from agent.evolution import Engine

    identity = _identity(request)
    if config.checkpoint_path is not None:
        _same_files(Path(config.checkpoint_path), identity, request)
    engine = Engine.continued(domain, config, observer, identity=identity)
    engine.config = engine.state.config = replace(
        engine.config,
        workers=config.workers,
        executor=config.executor,
        address=config.address,
        eval_timeout=config.eval_timeout,
    )
    return engine


def usable_groups(groups: tuple[int, ...], widths: list[int], given: bool) -> tuple[int, ...]:
    """The group sizes some layer can use: each must divide a layer's input width and be smaller.

    A group as wide as the row is per-channel scaling, already in every menu. The default menu
    adapts to the model (a small MLP has no use for 64), but a size the user asked for by name
    and no layer can take is their error: silently ignoring it would search something else.
    """
    fits = tuple(g for g in groups if g >= 1 and any(w % g == 0 and g < w for w in widths))
    if given:
        for g in groups:
            if g not in fits:
                raise UserError(
                    f"group size {g} fits no layer: a group must divide a layer's input width and be "
                    f"smaller than it (widths: {', '.join(map(str, widths))})"
                )
    return fits


def build_domain(request: SearchRequest) -> QuantDomain:
    """Model, data and Z3 space for `request`; raises `UserError` when the request cannot be met."""
    if request.baselines not in BASELINE_MODES:
        raise UserError(f"--baselines takes one of {', '.join(BASELINE_MODES)}, not {request.baselines!r}")
    profile = get_profile(request.profile)
    if not (math.isfinite(request.budget_bits) and request.budget_bits > 0):  # inf is positive: say finite
        raise UserError(
            f"--budget-bits must be a finite number of bits per weight above 0 (e.g. 3), got {request.budget_bits:g}"
        )
    if not 0 <= request.seed <= MAX_SEED:  # checked now: TPE, last to run, would refuse it at the end
        raise UserError(f"--seed must be an integer from 0 to {MAX_SEED:,} (2^32 − 1), got {request.seed}")
    if request.data is not None and request.model.lower() in MINILM_NAMES:
        raise UserError("--data is for classification models; minilm is measured on its own query sets")
    split = load_split(request.data) if request.data is not None else digits_split()
    if request.model.lower() in MINILM_NAMES:
        groups = (
            MINILM_GROUPS if request.groups == DEFAULT_GROUPS else request.groups
        )  # g8/16: 1–2 bits of scales
        domain: QuantDomain = build_minilm_domain(profile, request.budget_bits, groups, request.gptq)
        network = domain.network
    else:
        network = load_model(request.model, split if request.data is not None else None, request.allow_pickle)
    groups = usable_groups(request.groups, [w for _, w in network.shapes()], request.groups_given)
    if request.model.lower() not in MINILM_NAMES:
        space = build_space(network.shapes(), profile, request.budget_bits, groups)
        domain = QuantDomain(network, split, replace(space, allow_gptq=request.gptq))
    floor = domain.solver.minimum_avg_bits()
    if floor is None:
        raise UserError(f"profile {profile.name} allows no format for some layer of {network.name}")
    if floor > request.budget_bits:
        raise UserError(
            f"budget {request.budget_bits:g} bits/weight is below the smallest configuration of "
            f"{network.name} under profile {profile.name} ({_ceil_text(floor)} bits/weight incl. scales)"
        )
    return domain


def _ceil_text(value: float, places: int = 3) -> str:
    """`value` rounded up, never to nearest: the printed smallest budget is one that is accepted.

    Rounded to nearest, a floor of 2.3954 prints as 2.395, and "2.3952 is below 2.395" reads wrong.
    """
    return f"{math.ceil(value * 10**places - 1e-6) / 10**places:.{places}f}"


def score(
    domain: QuantDomain, genome: Genome | None, evaluations: int = 0, seconds: float = 0.0, cut: bool = False
) -> Scored | None:
    if genome is None:
        return None
    fitness = domain.evaluate(genome)
    size = domain.size(genome)
    hits = domain.test_hits(genome)
    return Scored(
        fitness.info["val_acc"],
        float(hits.mean()),
        size.bytes,
        size.avg_bits,
        [g.to_json() for g in genome],
        evaluations,
        round(seconds, 2),
        cut,
        hits_to_hex(hits),
        domain.test_metrics(genome),
    )


def fp32(domain: QuantDomain) -> Scored:
    net = domain.network
    size = fp32_size(net.shapes(), net.bias_count())
    hits = domain.test_hits(None)
    return Scored(
        domain.fp32_val(),
        float(hits.mean()),
        size.bytes,
        size.avg_bits,
        hits=hits_to_hex(hits),
        metrics=domain.test_metrics(None),
    )


def chosen_genome(front: list[Any], domain: QuantDomain | None = None) -> Genome:
    """Best validation score; near-ties (within `domain.tie_width()`) go to the config closest to fp32.

    Digits: within one validation image of the best accuracy or of fp32's own, whichever is
    lower (`selection_ceiling`), then the least KL from fp32 on the training images;
    MiniLM: within one selection query of the best recall, then the best cosine to fp32 on
    the selection texts. Without a domain the fitness decides. The test split is never read.
    """
    best = min(front, key=lambda ind: (ind.fitness.objectives[0], ind.fitness.objectives[1]))
    if domain is None or domain.fp32_divergence(best.genome, best.fitness) is None:
        return best.genome
    ceiling = domain.selection_ceiling()
    score = best.fitness.info["val_acc"]
    top = (score if ceiling is None else min(score, ceiling)) - domain.tie_width() - 1e-12
    near = [ind for ind in front if ind.fitness.info["val_acc"] >= top]
    return min(
        near, key=lambda ind: (domain.fp32_divergence(ind.genome, ind.fitness), ind.fitness.objectives[1])
    ).genome


def pick_rule(domain: QuantDomain) -> str:
    """`chosen_genome`'s rule in words, with this domain's numbers: why a front point with a higher
    validation score may not be the one chosen."""
    width = domain.tie_width()
    if isinstance(domain, RetrievalDomain):
        return (
            f"the best selection recall@5, where configs within one selection query ({width * 100:.1f} points) "
            "of it count as tied and the tie goes to the best cosine to fp32 on the selection texts"
        )
    return (
        f"the best validation accuracy, capped at fp32's own ({domain.fp32_val():.4f}): configs within one "
        f"validation image ({width * 100:.2f} points) of the lower of the two count as tied, and the tie goes "
        "to the least divergence (KL) from fp32 on the training images, as gains above fp32 are read as luck"
    )


def profile_allows(domain: QuantDomain, genome: Genome) -> bool:
    """Whether the --profile allows `genome` (its formats, and no integer accumulator overflow);
    the budget is not part of it (a reference row above the budget is shown as such)."""
    for index, (layer, gene) in enumerate(zip(domain.space.layers, genome, strict=True)):
        if gene.format not in domain.space.formats_for(layer):
            return False
        verdict = domain.accumulator_verdict(index, gene)
        if verdict is not None and not verdict.safe:
            return False
    return True


def _dominates(a: Fitness, b: Fitness) -> bool:
    pairs = list(zip(a.objectives, b.objectives, strict=True))
    return all(x <= y for x, y in pairs) and any(x < y for x, y in pairs)


def refined_front(
    domain: QuantDomain,
    front: list[Individual[Genome]],
    stats: Any,
    observer: Callable[[Any], None] | None = None,
    deadline: Deadline | None = None,
) -> tuple[list[Individual[Genome]], int]:
    """The engine's front after budget-filling refinement (refine.py) of its most accurate points.

    Returns the merged non-dominated front and the evaluations refinement spent; new
    front points are announced to `observer` as `ParetoPointFound`, like the engine's.
    """
    from agent.evolution.events import ParetoPointFound

    if not front:
        return front, 0
    ranked = sorted(front, key=lambda ind: (ind.fitness.objectives[0], ind.fitness.objectives[1]))
    starts = [(ind.genome, ind.fitness) for ind in ranked[:REFINE_STARTS]]
    allowance = max(REFINE_STARTS, round(stats.evaluated * REFINE_SHARE))
    done = refine(domain, starts, allowance, {ind.genome for ind in front}, deadline)
    generation = stats.generations + 1
    pool = list(front) + [
        Individual(genome, fitness, generation=generation) for genome, fitness in done.evaluated.items()
    ]
    merged = [a for a in pool if not any(_dominates(b.fitness, a.fitness) for b in pool)]
    if observer is not None:
        for ind in merged:
            if ind.generation == generation:
                observer(ParetoPointFound(generation, ind))
    return merged, done.evaluations


class _Phases:
    """Announces phases to the observer and keeps how long each took."""

    def __init__(self, emit: Callable[[Any], None]) -> None:
        self.emit, self.seconds = emit, {}
        self._name, self._started = "", 0.0

    def start(self, name: str, allowed: Deadline | None = None) -> None:
        self._name, self._started = name, time.time()
        left = None if allowed is None or allowed.at is None else round(allowed.left(), 1)
        self.emit(PhaseStarted(name, left))

    def done(self, detail: str = "") -> float:
        took = time.time() - self._started
        self.seconds[self._name] = round(took, 2)
        self.emit(PhaseDone(self._name, took, detail))
        return took


def _detail(scored: Scored | None, cut: bool) -> str:
    """A baseline's outcome in words: with no config, why (time ran out, or none fits the budget)."""
    if scored is None:
        return "no config before its deadline" if cut else "nothing inside the budget"
    text = f"val acc {scored.val_acc:.4f} at {scored.avg_bits:.3f} bits, {scored.evaluations} evaluations"
    return text + (" (stopped by its deadline)" if cut else "")


def run_search(
    request: SearchRequest,
    observer: Callable[[Any], None] | None = None,
    note: Callable[[str], None] | None = None,
    deadline: Deadline | None = None,
    chosen_ready: Callable[[SearchReport, QuantDomain], None] | None = None,
) -> tuple[SearchReport, QuantDomain]:
    """Run the search and its baselines; returns the report and the domain (for `write_outputs`).

    `chosen_ready` is called with a report holding the chosen config (no front, no random/TPE
    rows yet) as soon as it is chosen, before random search and TPE: the CLI writes its files then.

    `deadline` bounds the whole run (the CLI starts it when the command starts); without
    one, `request.time_budget` seconds from now bound it, and without either nothing does.
    Engine events and the phase events of timeplan.py go to `observer`.
    """
    from agent.evolution import EngineConfig

    run = deadline or Deadline.after(request.time_budget)
    emit = observer or (lambda _event: None)
    say = note or (lambda _text: None)
    phases = _Phases(lambda event: (emit(event), say(getattr(event, "name", ""))))
    phases.start("setup", run)
    domain = build_domain(request)
    phases.done(f"{domain.network.name}: {len(domain.space.layers)} layers, {domain.space.weights:,} weights")
    mode = request.baselines
    plan = TimePlan.make(None if run.at is None else run.left(), mode)
    emit(PlanMade(None if run.at is None else round(run.left(), 1), plan.shares(mode)))
    if plan.engine is not None and plan.engine < MIN_ENGINE_SECONDS:
        raise UserError(
            f"--time leaves the engine {plan.engine:.1f}s after set-up and baselines (it needs "
            f"≥ {MIN_ENGINE_SECONDS:g}s for its first generation): give more time or --baselines none"
        )
    config = EngineConfig(
        seed=request.seed,
        population=request.population,
        islands=request.islands,
        generations=request.generations,
        time_budget=plan.engine,
        workers=request.workers,
        executor=request.executor,
        address=request.address,
        eval_timeout=120.0 if plan.engine is None else min(120.0, plan.engine),
        checkpoint_path=request.checkpoint,
    )
    found = _fast_baselines(domain, request, run, plan, phases)
    domain.seed_genomes = seeds(domain, found)
    phases.start("engine", phase_deadline(run, plan.engine, plan.tail))
    result = _engine_run(continued_engine(domain, config, observer, request), domain)
    phases.done(
        f"{result.stats.evaluated} evaluations in {result.stats.generations} generations"
        if result.stats.evaluated
        else "its first generation did not fit in its time: the pick is among the fast baselines' configs"
    )
    refine_deadline = phase_deadline(run, plan.refine, plan.tail)
    phases.start("refine", refine_deadline)
    front, refined = refined_front(domain, result.front, result.stats, observer, refine_deadline)
    phases.done(f"{refined} evaluations")
    counters = replace(domain.counters)  # strop's checks only; baselines below check too
    repairs = (domain.solver.repairs_by_table, domain.solver.repairs_by_optimize)
    evaluations = result.stats.evaluated + refined
    candidates = front + _seeded(domain, front)
    if not candidates:
        raise UserError(
            f"no quantized configuration of {domain.network.name} scored at all ({evaluations} tried): "
            "every one's outputs were not numbers, so there is nothing to choose; check its weights' scale"
        )
    chosen = score(
        domain,
        chosen_genome(candidates, domain),
        evaluations,
        result.stats.wall_time + phases.seconds["refine"],
    )
    assert chosen is not None
    reference = fp32(domain)
    if chosen_ready is not None and request.baselines == "all":
        # random and TPE may run for minutes: the chosen config's files are written before them, so
        # a stop signal during them keeps the pick (written again at the end, with its final origin)
        early = _report(
            domain, request, reference, replace(chosen, origin=origin(chosen, found)), dict(found)
        )
        chosen_ready(early, domain)
    found |= _search_baselines(domain, request, evaluations, run, plan, phases)
    chosen = replace(chosen, origin=origin(chosen, found))
    phases.start("finish")
    stats = result.stats
    report = _report(
        domain,
        request,
        reference,
        chosen,
        found,
        front=[
            FrontPoint(
                ind.fitness.info["val_acc"],
                ind.fitness.info["bytes"],
                ind.fitness.info["avg_bits"],
                [g.label() for g in ind.genome],
            )
            for ind in sorted(front, key=lambda i: i.fitness.objectives[1])
        ],
        engine={
            "evaluated": stats.evaluated,
            "refined": refined,
            "generations": stats.generations,
            "wall_seconds": round(stats.wall_time, 2),
            "evals_per_second": round(stats.evals_per_second, 1),
            "novelty_rejected": stats.novelty_rejected,
            "cache_hits": stats.cache_hits,
        },
        checks={
            "checked": counters.checked,
            "feasible": counters.feasible,
            "repaired": counters.repaired,
            "rejected": counters.rejected,
            "evaluations_saved": counters.evaluations_saved,
            "accumulator_proofs": counters.accumulator_proofs,
            "accumulator_overflows": counters.accumulator_overflows,
            "repairs_by_table": repairs[0],
            "repairs_by_optimize": repairs[1],
        },
        pick="picked by " + pick_rule(domain),
    )
    phases.done()
    report.phases = dict(phases.seconds)
    return report, domain


def _engine_run(engine: Any, domain: QuantDomain) -> Any:
    """The engine's result; when its time ends before a first generation, an empty one if the
    fast baselines gave configs to choose from (they are the candidates then), else its error.

    A wide layer can make one generation outlast a short --time's engine share (a 2048-input
    layer's GPTQ evaluations); the baselines' configs are already evaluated answers, so the
    run still reports one rather than failing after most of the user's time is spent.
    """
    from agent.evolution.archive import Archive
    from agent.evolution.engine import BudgetTooShort, EngineResult
    from agent.evolution.events import EngineStats

    started = time.time()
    try:
        return engine.run()
    except BudgetTooShort:
        if not domain.seed_genomes:
            raise
        return EngineResult([], Archive(), EngineStats(wall_time=time.time() - started))


def _fast_baselines(
    domain: QuantDomain, request: SearchRequest, run: Deadline, plan: TimePlan, phases: _Phases
) -> dict[str, Scored]:
    """The reference rows and the fast baselines (best uniform, greedy, HAWQ-V3), before the engine.

    They run first so the engine can start from their configs (`seeds`): the search then
    begins where the strongest fixed recipes end, and its validation choice can only be
    at least as good as theirs on validation.
    """
    found: dict[str, Scored] = {}
    if request.baselines == "none":
        return found
    fast_until = phase_deadline(run, plan.fast, plan.tail)
    for bits in (8, 4, 3, 2):
        if fast_until.expired():  # reference rows too end at the fast share (MiniLM: seconds each)
            break
        genome = baselines.uniform(domain, Format.INT_SYM, bits)
        scored = score(domain, genome, 1)
        assert scored is not None
        found[f"uniform_int{bits}"] = replace(scored, feasible=profile_allows(domain, genome))
    plans: list[tuple[str, Callable[[Deadline], baselines.BaselineResult]]] = [
        ("uniform_best_int", lambda d: baselines.best_uniform_int(domain, d)),
        ("greedy", lambda d: baselines.greedy(domain, request.seed, d, measure=fast_until)),
        ("hawq", lambda d: baselines.hawq(domain, request.seed, d)),
    ]
    for name, make in plans:
        until = fast_until
        if name != "uniform_best_int" and fast_until.at is not None:
            # greedy and HAWQ share HAWQ's option table; they may borrow one search share: cut, they say nothing
            borrowed = Deadline(fast_until.at + (plan.search_baseline or 0.0))
            until = borrowed.earlier(run.minus(plan.tail))
        _run_baseline(domain, name, make, until, phases, found)
    return found


def _search_baselines(
    domain: QuantDomain,
    request: SearchRequest,
    evaluations: int,
    run: Deadline,
    plan: TimePlan,
    phases: _Phases,
) -> dict[str, Scored]:
    """Random search and TPE after the engine, at most its evaluation count, each in its share of the time."""
    found: dict[str, Scored] = {}
    if request.baselines != "all":
        return found
    plans: list[tuple[str, Callable[[Deadline], baselines.BaselineResult]]] = [
        ("random", lambda d: baselines.random_search(domain, evaluations, request.seed, d)),
        ("tpe", lambda d: baselines.tpe(domain, evaluations, request.seed, d)),
    ]
    for left, (name, make) in zip((2, 1), plans, strict=True):
        share = None if run.at is None else run.minus(plan.tail).left() / left
        _run_baseline(domain, name, make, phase_deadline(run, share, plan.tail), phases, found)
    return found


def _run_baseline(
    domain: QuantDomain,
    name: str,
    make: Callable[[Deadline], baselines.BaselineResult],
    until: Deadline,
    phases: _Phases,
    found: dict[str, Scored],
) -> None:
    phases.start(f"baseline {name}", until)
    outcome = make(until)
    scored = score(domain, outcome.genome, outcome.evaluations, time.time() - phases._started, outcome.cut)
    phases.done(_detail(scored, outcome.cut))
    if scored is not None:
        found[name] = scored


SEEDED = ("uniform_best_int", "greedy", "hawq")


def seeds(domain: QuantDomain, found: dict[str, Scored]) -> tuple[Genome, ...]:
    """The fast baselines' configs inside the budget, for the engine's first generation (distinct, in order)."""
    genomes: dict[Genome, None] = {}
    for name in SEEDED:
        scored = found.get(name)
        if (
            scored is not None
            and scored.config is not None
            and scored.avg_bits <= domain.space.budget_bits + 1e-9
        ):
            genomes[tuple(LayerGene.from_json(g) for g in scored.config)] = None
    return tuple(genomes)


def _seeded(domain: QuantDomain, front: list[Individual[Genome]]) -> list[Individual[Genome]]:
    """The seeded baselines' configs the front lost (dominated, or near-tied), back as candidates for the pick."""
    on_front = {ind.genome for ind in front}
    return [Individual(g, domain.evaluate(g)) for g in domain.seed_genomes if g not in on_front]


def origin(chosen: Scored, found: dict[str, Scored]) -> str:
    """Where the chosen config came from: a baseline's config exactly (a tie with it, not a discovery), or the search."""
    same = [name for name, scored in found.items() if scored.config == chosen.config]
    return "baseline " + ", ".join(same) if same else "search"


def point_renderer(request: SearchRequest) -> Callable[[Individual[Genome]], PointRecord]:
    """How a Pareto point of this search is kept in git: its config as JSON, its numbers as metrics."""

    def render(individual: Individual[Genome]) -> PointRecord:
        info = individual.fitness.info
        val_acc, size, bits = float(info["val_acc"]), float(info["bytes"]), float(info["avg_bits"])
        config = {
            "model": request.model,
            "budget_bits": request.budget_bits,
            "profile": request.profile,
            "config": [g.to_json() for g in individual.genome],
            "val_acc": val_acc,
            "bytes": size,
            "avg_bits": bits,
        }
        labels = " ".join(g.label() for g in individual.genome)
        return PointRecord(
            idea=f"val acc {val_acc:.4f} at {size:,.0f} bytes ({bits:.3f} bits/weight): {labels}",
            files={"config.json": json.dumps(config, indent=2) + "\n"},
            metrics={"val_acc": val_acc, "bytes": size, "avg_bits": bits},
        )

    return render


def write_outputs(report: SearchReport, domain: QuantDomain, folder: Path) -> dict[str, str]:
    """The chosen config (JSON) and the model with its weights on the chosen grids (.npz, loadable).

    All or nothing: each file is written beside its place first and put in place only when every
    one is whole, so a failure (a full disk, a folder that cannot be made) leaves no new file and
    an earlier run's files as they were; the `OSError` is raised for the caller to report.
    """
    import os

    folder.mkdir(parents=True, exist_ok=True)
    genome = tuple(LayerGene.from_json(g) for g in report.chosen.config or [])
    chosen_json = (
        json.dumps(
            {
                "model": report.model,
                "budget_bits": report.budget_bits,
                "profile": report.profile,
                "layers": report.layers,
                "config": report.chosen.config,
                "origin": report.chosen.origin,
                "val_acc": report.chosen.val_acc,
                "test_acc": report.chosen.test_acc,
                "avg_bits": report.chosen.avg_bits,
                "bytes": report.chosen.bytes,
            },
            indent=2,
        )
        + "\n"
    )
    outputs: dict[str, Path] = {"config": folder / "chosen_config.json"}
    if isinstance(domain, RetrievalDomain):
        outputs["embedder"] = folder / "embedder.json"
    else:
        outputs["weights"] = folder / "quantized_weights.npz"
    temporary = {
        key: path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}") for key, path in outputs.items()
    }
    try:
        temporary["config"].write_text(chosen_json)
        if "embedder" in outputs:
            temporary["embedder"].write_text(embedder_config(report.chosen, domain))  # type: ignore[arg-type]
        else:
            save_npz(domain.network.with_matrices(domain.matrices(genome)), temporary["weights"])
        for key, path in outputs.items():
            os.replace(temporary[key], path)
    except BaseException:
        for path in temporary.values():
            path.unlink(missing_ok=True)
        raise
    return {key: str(path) for key, path in outputs.items()}


def embedder_config(chosen: Scored, domain: RetrievalDomain) -> str:
    """The file the knowledge store loads a quantized MiniLM from (`strop knowledge --embedder PATH`)."""
    return config_text(
        chosen.config or [],
        base_sha256=weights_digest(domain.network.folder),  # type: ignore[attr-defined]
        calibration=CALIBRATION,
        max_tokens=MAX_TOKENS,
        avg_bits=chosen.avg_bits,
        bytes=chosen.bytes,
        selection_recall_at_5=chosen.val_acc,
        heldout_recall_at_5=chosen.test_acc,
        **chosen.metrics,
    )


def _report(
    domain: Any, request: SearchRequest, reference: Any, chosen: Any, baselines: Any, **rest: Any
) -> SearchReport:
    """A report of this search: its model, budget and seed, fp32's and the chosen config's scores,
    the baselines; `rest` the front, engine and check counters (empty for the early pick)."""
    return SearchReport(
        model=domain.network.name,
        layers=domain.network.layer_names(),
        budget_bits=request.budget_bits,
        profile=request.profile,
        seed=request.seed,
        fp32=reference,
        chosen=chosen,
        baselines=baselines,
        time_budget=request.time_budget,
        **{"front": [], "engine": {}, "checks": {}, **rest},
    )
