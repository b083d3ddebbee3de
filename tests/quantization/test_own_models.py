"""A user's own model and data: odd shapes, missing biases, edge budgets and seeds, wide layers.

Each case is one a user brings that the bundled digits never exercise: a bias-free layer, a
single-logit binary head, labels that are not 0…K−1, a budget of NaN, a seed Optuna refuses,
a 2048-input layer whose HAWQ table outlasts a short --time share.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agent.deadline import Deadline
from agent.domains.quantization import baselines
from agent.domains.quantization.datasets import load_split
from agent.domains.quantization.formats import PER_CHANNEL, Format, LayerGene
from agent.domains.quantization.models import ModelError, load_model, load_npz, save_npz
from agent.domains.quantization.network import Dense, Network, Relu
from agent.domains.quantization.search import SearchRequest, build_domain
from agent.domains.quantization.sensitivity import mlp_hessian_vector
from agent.errors import UserError
from agent.evolution import Engine, EngineConfig
from agent.evolution.engine import BudgetTooShort

ROOT = Path(__file__).resolve().parents[2]


def _data(path: Path, features: int = 6, classes: int = 3, rows: int = 240, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    y = np.arange(rows) % classes
    x = rng.standard_normal((classes, features))[y] * 2 + rng.standard_normal((rows, features))
    np.savez(path, x=x.astype(np.float32), y=y)
    return path


def _mlp(path: Path, sizes: list[int], biases: bool = True, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    arrays = {}
    for k, (a, b) in enumerate(zip(sizes, sizes[1:], strict=False)):
        arrays[f"W{k}"] = rng.standard_normal((b, a)).astype(np.float32) / math.sqrt(a)
        if biases:
            arrays[f"b{k}"] = rng.standard_normal(b).astype(np.float32) * 0.1
    np.savez(path, **arrays)
    return path


def _request(model: Path, data: Path, **changes: object) -> SearchRequest:
    return SearchRequest(model=str(model), data=data, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize("budget", [float("nan"), float("inf"), -float("inf")])
def test_a_budget_that_is_no_number_is_the_users_error(tmp_path: Path, budget: float) -> None:
    request = _request(_mlp(tmp_path / "m.npz", [6, 8, 3]), _data(tmp_path / "d.npz"), budget_bits=budget)
    with pytest.raises(UserError, match="--budget-bits must be a finite number of bits per weight above 0"):
        build_domain(request)


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_a_seed_tpe_cannot_take_is_refused_before_anything_runs(tmp_path: Path, seed: int) -> None:
    request = _request(_mlp(tmp_path / "m.npz", [6, 8, 3]), _data(tmp_path / "d.npz"), seed=seed)
    with pytest.raises(UserError, match="--seed must be an integer from 0 to"):
        build_domain(request)


def test_the_smallest_config_is_printed_rounded_up(tmp_path: Path) -> None:
    """Shapes (8, 6) and (3, 8): int2 per channel is (48·2 + 8·16 + 24·2 + 3·16)/72 = 4.4444… bits."""
    model, data = _mlp(tmp_path / "m.npz", [6, 8, 3]), _data(tmp_path / "d.npz")
    with pytest.raises(UserError, match=r"\(4\.445 bits/weight incl\. scales\)"):
        build_domain(_request(model, data, budget_bits=4.4444))
    domain = build_domain(_request(model, data, budget_bits=4.445))
    assert domain.solver.minimum_avg_bits() == pytest.approx(320 / 72)


def test_layers_without_biases_load_and_count_no_bias_bytes(tmp_path: Path) -> None:
    data = _data(tmp_path / "d.npz")
    plain = load_model(str(_mlp(tmp_path / "plain.npz", [6, 8, 3], biases=False)), load_split(data))
    assert plain.bias_count() == 0
    assert all(not plain.layers[i].has_bias for i in plain.quantizable)  # type: ignore[union-attr]
    domain = build_domain(_request(tmp_path / "plain.npz", data, budget_bits=8.5))
    gene = LayerGene.make(Format.INT_SYM, 8, PER_CHANNEL)
    assert domain.size((gene, gene)).bytes == (72 * 8 + 11 * 16) / 8  # weights and scales, no bias
    spec = {"input_shape": [6], "layers": [{"type": "dense"}, {"type": "relu"}, {"type": "dense"}]}
    mixed = tmp_path / "spec.npz"
    w = np.load(tmp_path / "plain.npz")
    np.savez(mixed, spec=np.array(json.dumps(spec)), weight_0=w["W0"], weight_2=w["W1"], bias_2=np.ones(3))
    network = load_npz(mixed)
    assert network.bias_count() == 3 and np.array_equal(network.layers[0].bias, np.zeros(8))  # type: ignore[union-attr]
    save_npz(network, tmp_path / "again.npz")
    assert sorted(np.load(tmp_path / "again.npz").files) == ["bias_2", "spec", "weight_0", "weight_2"]
    assert load_npz(tmp_path / "again.npz").bias_count() == 3


def test_a_torch_state_dict_without_biases_loads(tmp_path: Path) -> None:
    import torch

    module = torch.nn.Sequential(torch.nn.Linear(6, 8, bias=False), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    torch.save(module.state_dict(), tmp_path / "m.pt")
    network = load_model(str(tmp_path / "m.pt"), load_split(_data(tmp_path / "d.npz")))
    assert network.bias_count() == 3 and not network.layers[0].has_bias  # type: ignore[union-attr]


def _binary(path: Path) -> Path:
    """One input feature, one logit: x > 0 is class 1, as the labels say."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((200, 1)).astype(np.float32)
    np.savez(path, x=x, y=(x[:, 0] > 0).astype(np.int64))
    return path


def test_a_single_output_is_a_binary_logit(tmp_path: Path) -> None:
    np.savez(
        tmp_path / "m.npz", W0=np.array([[1.0], [-1.0]]), b0=np.zeros(2), W1=np.array([[2.0, -2.0]]), b1=[0.0]
    )
    split = load_split(_binary(tmp_path / "d.npz"))
    network = load_model(str(tmp_path / "m.npz"), split)
    logits = network.forward(split.x_val)[0]
    assert logits.shape == (len(split.x_val), 2) and np.all(logits[:, 0] == 0)
    assert np.array_equal(network.predict(split.x_val), split.y_val)
    with pytest.raises(ModelError, match="1 output per input .read as a binary classifier's logit"):
        load_model(str(tmp_path / "m.npz"), load_split(_data(tmp_path / "three.npz", features=1)))


def test_a_binary_logits_hessian_is_that_of_its_two_logit_twin() -> None:
    """Logits [0, z] are what a second output row of zeros gives: the same curvature for z's row."""
    rng = np.random.default_rng(3)
    w0, w1 = rng.standard_normal((5, 4)), rng.standard_normal((1, 5))
    one = Network("one", (Dense(w0, np.zeros(5)), Relu(), Dense(w1, np.zeros(1))), (4,))
    twin_w1 = np.vstack([np.zeros((1, 5)), w1])
    two = Network("two", (Dense(w0, np.zeros(5)), Relu(), Dense(twin_w1, np.zeros(2))), (4,))
    x, y = rng.standard_normal((30, 4)), rng.integers(0, 2, 30)
    v0, v1 = rng.standard_normal((5, 4)), rng.standard_normal((1, 5))
    ours = mlp_hessian_vector(one, x, y, [v0, v1])
    theirs = mlp_hessian_vector(two, x, y, [v0, np.vstack([np.zeros((1, 5)), v1])])
    assert np.allclose(ours[0], theirs[0]) and np.allclose(ours[1], theirs[1][1:])


def test_a_single_logit_model_runs_end_to_end(tmp_path: Path) -> None:
    model = _mlp(tmp_path / "m.npz", [1, 8, 1])
    request = _request(
        model, _binary(tmp_path / "d.npz"), budget_bits=12.0, generations=1, population=4, workers=0
    )
    domain = build_domain(request)
    assert baselines.hawq(domain, 0).genome is not None  # its Hessian traces take the single logit


def test_labels_that_are_not_output_indices_are_named(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    y = np.array([3, 8, 13])[np.arange(120) % 3]
    np.savez(tmp_path / "d.npz", x=rng.standard_normal((120, 6)).astype(np.float32), y=y)
    with pytest.raises(ModelError, match=r"3 distinct: 3, 8, 13.*map them to 0 to 2"):
        load_model(str(_mlp(tmp_path / "m.npz", [6, 3])), load_split(tmp_path / "d.npz"))


def test_a_search_baseline_that_runs_out_of_configs_is_not_said_cut(tmp_path: Path) -> None:
    """One 6×3 layer at 5 bits: a handful of configs exist, far fewer than the allowance."""
    domain = build_domain(
        _request(_mlp(tmp_path / "m.npz", [6, 3]), _data(tmp_path / "d.npz"), budget_bits=5.0)
    )
    result = baselines.random_search(domain, 50, seed=0, deadline=Deadline.after(600))
    assert 0 < result.evaluations < 50 and not result.cut


def test_hawq_table_of_a_wide_layer_stops_at_its_deadline_and_matches_sigma(tmp_path: Path) -> None:
    data = _data(tmp_path / "d.npz", features=300, rows=400)
    domain = build_domain(_request(_mlp(tmp_path / "m.npz", [300, 4, 3]), data, budget_bits=4.0))
    w, x = domain.network.matrices()[0], domain.calibration_inputs()[0]
    options = domain.solver._options(0)
    assert len(x) < x.shape[1]  # 200 calibration rows, 300 inputs: the X-side formula
    assert baselines._distortions(domain, 0, w, x, options, Deadline.after(-1.0)) is None
    table = baselines._distortions(domain, 0, w, x, options)
    assert table is not None and set(options) <= table.keys()
    sigma = baselines.input_moment(x)
    for gene in options[:5]:
        delta = np.asarray(domain.quantized(0, gene), np.float64) - w
        assert table[gene] == pytest.approx(float(np.sum((delta @ sigma) * delta)), rel=1e-6)


def test_an_engine_without_a_first_generation_leaves_the_pick_to_the_seeded_baselines(tmp_path: Path) -> None:
    from agent.domains.quantization.search import _engine_run

    domain = build_domain(
        _request(_mlp(tmp_path / "m.npz", [6, 8, 3]), _data(tmp_path / "d.npz"), budget_bits=5.0)
    )
    config = EngineConfig(seed=0, population=4, islands=1, time_budget=1e-6, workers=0)
    with pytest.raises(BudgetTooShort):
        _engine_run(Engine(domain, config), domain)
    uniform = baselines.best_uniform_int(domain).genome
    assert uniform is not None
    domain.seed_genomes = (uniform,)
    result = _engine_run(Engine(domain, config), domain)
    assert result.front == [] and result.stats.evaluated == 0


def test_cli_own_model_without_biases_gives_a_result(tmp_path: Path) -> None:
    model = _mlp(tmp_path / "m.npz", [6, 16, 3], biases=False)
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "evolve", "quant", "--model", str(model),
         "--data", str(_data(tmp_path / "d.npz")), "--budget-bits", "5", "--generations", "1",
         "--population", "4", "--workers", "0", "--baselines", "fast", "--out", str(tmp_path / "out"), "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["fp32"]["bytes"] == (6 * 16 + 16 * 3) * 4  # no bias bytes
    assert report["chosen"]["avg_bits"] <= 5.0 and report["chosen"]["origin"]
