"""Each quantizer's round trip on known values, and GPTQ against round-to-nearest."""

from __future__ import annotations

import numpy as np
import pytest

from agent.domains.quantization.formats import LayerGene, e2m1_grid, e4m3_grid, round_to_grid
from agent.domains.quantization.quantizers import fit, integer_weights, mx_scale, quantize_rtn
from agent.domains.quantization.rounding import inverse_hessian_factor, quantize_gptq, quantize_gptq_many


def test_e2m1_grid_is_the_fp4_value_set() -> None:
    assert e2m1_grid().tolist() == [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]


def test_e4m3_grid_limits() -> None:
    grid = e4m3_grid()
    assert grid[-1] == 448.0 and grid[1] == 2.0**-9 and len(grid) == 127  # 0, 7 subnormals, 119 normals


def test_round_to_grid_nearest_ties_to_even_and_saturates() -> None:
    x = np.array([0.24, 0.26, 0.75, 1.25, 2.5, 5.0, 5.1, 100.0, -2.6, -0.25])
    assert round_to_grid(x, e2m1_grid()).tolist() == [0.0, 0.5, 1.0, 1.0, 2.0, 4.0, 6.0, 6.0, -3.0, -0.0]


def test_mx_scale_rule() -> None:
    # X = 2^(floor(log2(amax)) - 2): the largest element lands in [4, 8) before E2M1 rounding
    assert mx_scale(np.array([6.0, 1.0, 7.9, 0.3, 0.0])).tolist() == [1.0, 0.25, 1.0, 2.0**-4, 1.0]


def test_mxfp4_round_trip_of_representable_block_and_clipping() -> None:
    block = np.array([[0.5, -1.0, 1.5, 2.0, -3.0, 4.0, 6.0, 0.0] * 4]) * 0.125  # 32 values, amax 0.75
    gene = LayerGene.make("mxfp4")
    assert np.array_equal(quantize_rtn(block, gene), block)
    clipped = block.copy()
    clipped[0, 6] = 7.5 * 0.125  # amax 0.9375 keeps the same scale 2^-3; 7.5 saturates to 6
    assert quantize_rtn(clipped, gene)[0, 6] == 6 * 0.125


def test_nvfp4_round_trip_of_representable_block() -> None:
    block = np.array([[0.5, -1.0, 1.5, 2.0, -3.0, 4.0, 6.0, 0.0] * 2])
    assert np.allclose(quantize_rtn(block, LayerGene.make("nvfp4")), block, rtol=1e-6)


def test_fp8_round_trip_of_e4m3_values() -> None:
    values = np.array([[448.0, -256.0, 1.125, 2.0**-9, 0.0, -13.0, 96.0, 0.5]])
    assert np.array_equal(quantize_rtn(values, LayerGene.make("fp8")), values)


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_int_sym_round_trip_and_integers(bits: int) -> None:
    q = 2 ** (bits - 1) - 1
    codes = np.array([[-q, 0, 1, q, -1, q - 1 if q > 1 else 0, 0, 1]])
    w = codes * 0.5 / q  # amax 0.5 is exact in fp16
    gene = LayerGene.make("int_sym", bits)
    w_hat = quantize_rtn(w, gene)
    assert np.allclose(w_hat, w)
    assert np.array_equal(integer_weights(w_hat, fit(w, gene), gene), codes)


def test_int_asym_uses_all_levels_and_zero_point() -> None:
    w = np.array([[-0.25, 0.0, 0.25, 0.5]])  # range 0.75 over 3 steps of 0.25: zero point 1
    gene = LayerGene.make("int_asym", 2)
    side = fit(w, gene)
    assert side.scale[0, 0] == 0.25 and side.zero[0, 0] == 1
    assert np.array_equal(quantize_rtn(w, gene), w)
    assert integer_weights(w, side, gene).tolist() == [[-1, 0, 1, 2]]


@pytest.mark.parametrize("bits", [2, 3, 4, 6])
def test_power_with_exponent_one_is_uniform(bits: int) -> None:
    w = np.random.default_rng(bits).normal(size=(16, 64))
    for group in (0, 16):
        uniform = quantize_rtn(w, LayerGene.make("int_sym", bits, group))
        power = quantize_rtn(w, LayerGene.make("power", bits, group, exponent=1.0))
        assert np.array_equal(uniform, power)


def test_power_grid_is_denser_near_zero() -> None:
    w = np.linspace(-1, 1, 64)[None, :]
    levels = np.unique(np.abs(quantize_rtn(w, LayerGene.make("power", 3, exponent=0.5))))
    # 3 bits, a = 0.5: magnitudes (k/3)^2 for k = 0..3
    assert np.allclose(levels, [0.0, 1 / 9, 4 / 9, 1.0])


def test_groups_scale_independently() -> None:
    w = np.concatenate([np.full((1, 8), 0.01), np.full((1, 8), 1.0)], axis=1)
    per_channel = quantize_rtn(w, LayerGene.make("int_sym", 2))
    grouped = quantize_rtn(w, LayerGene.make("int_sym", 2, group=8))
    assert np.all(per_channel[0, :8] == 0) and np.allclose(grouped, w, rtol=1e-3)


def test_gptq_lowers_output_error_against_rtn() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 32)) @ rng.normal(size=(32, 32))  # correlated inputs
    w = rng.normal(size=(16, 32))
    gene = LayerGene.make("int_sym", 3)
    rtn = np.linalg.norm(x @ (quantize_rtn(w, gene) - w).T)
    gptq = np.linalg.norm(x @ (quantize_gptq(w, gene, inverse_hessian_factor(x)) - w).T)
    assert gptq < 0.8 * rtn


def test_batched_gptq_matches_one_call_per_gene() -> None:
    """HAWQ-V3 scores the whole menu with the batched GPTQ: it must give what the domain evaluates."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(256, 40)) @ rng.normal(size=(40, 40))
    w = rng.normal(size=(12, 40))
    genes = [
        LayerGene.make("int_sym", 3, rounding="gptq"),
        LayerGene.make("int_sym", 5, 8, rounding="gptq"),
        LayerGene.make("int_asym", 2, rounding="gptq"),
        LayerGene.make("power", 3, 20, 0.625, "gptq"),
        LayerGene.make("power", 4, 0, 0.875, "gptq"),
        LayerGene.make("fp8", 8, 8, rounding="gptq"),
    ]
    factor = inverse_hessian_factor(x)
    many = quantize_gptq_many(w, genes, factor, block=16)  # 40 columns: blocks of 16, 16, 8
    for gene, got in zip(genes, many, strict=True):
        np.testing.assert_allclose(got, quantize_gptq(w, gene, factor), rtol=1e-9, atol=1e-12)
