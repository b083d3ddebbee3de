"""Size accounting on hand-computed cases: every scale and zero point counts."""

from __future__ import annotations

from agent.domains.quantization.formats import LayerGene
from agent.domains.quantization.size import layer_size, model_size


def test_hand_computed_layer_sizes() -> None:
    out, width = 4, 64  # 256 weights
    cases = {
        ("int_sym", 3, 0): 256 * 3 + 4 * 16,  # 4 channels × fp16
        ("int_sym", 3, 16): 256 * 3 + 16 * 16,  # 16 groups × fp16
        ("int_asym", 2, 32): 256 * 2 + 8 * (16 + 2),  # 8 groups × (fp16 + 2-bit zero point)
        ("power", 4, 0): 256 * 4 + 4 * 16 + 16,  # + fp16 exponent per layer
        ("mxfp4", 4, 0): 256 * 4 + 8 * 8,  # 8 blocks of 32 × E8M0
        ("nvfp4", 4, 0): 256 * 4 + 16 * 8 + 32,  # 16 blocks of 16 × E4M3 + fp32 tensor scale
        ("fp8", 8, 32): 256 * 8 + 8 * 16,
    }
    for (fmt, bits, group), expected in cases.items():
        assert layer_size(LayerGene.make(fmt, bits, group), out, width).total_bits == expected, fmt


def test_mxfp4_is_4_25_bits_and_model_average() -> None:
    assert layer_size(LayerGene.make("mxfp4"), 10, 64).total_bits / 640 == 4.25
    genes = (LayerGene.make("int_sym", 2), LayerGene.make("int_asym", 4, 8))
    size = model_size(genes, [(8, 16), (2, 16)], biases=10)
    # layer 0: 128·2 + 8·16 = 384; layer 1: 32·4 + 4·(16+4) = 208; biases 10·32
    assert size.weight_bits == 592 and size.avg_bits == 592 / 160 and size.bytes == (592 + 320) / 8
