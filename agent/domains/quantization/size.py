"""Model size: every stored bit of a quantized layer, side information included.

Per layer of n = out × in weights in groups of g along the input dimension:

    int_sym   n·b + n/g · 16                 (fp16 range per group)
    int_asym  n·b + n/g · (16 + b)           (fp16 step + b-bit zero point per group)
    power     n·b + n/g · 16 + 16            (fp16 range per group, fp16 exponent a per layer)
    mxfp4     n·4 + n/32 · 8                 (E8M0 scale per block of 32: 4.25 bits/weight)
    nvfp4     n·4 + n/16 · 8 + 32            (E4M3 scale per block of 16, fp32 per tensor)
    fp8       n·8 + n/g · 16                 (fp16 scale per group)

Average bits per weight = total weight bits (with side information) / number of
weights. Biases stay fp32: they are counted in the model's bytes, not in the
bits per weight (they are not weights, and a 2-bit budget is about weights); a
layer without a bias adds none.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.domains.quantization.formats import PER_CHANNEL, Format, LayerGene

FP16, FP32, E8M0, E4M3 = 16, 32, 8, 8


@dataclass(frozen=True)
class LayerSize:
    weight_bits: int  # the elements
    side_bits: int  # scales, zero points, per-tensor constants

    @property
    def total_bits(self) -> int:
        return self.weight_bits + self.side_bits


def groups_in(gene: LayerGene, out: int, width: int) -> int:
    size = width if gene.group == PER_CHANNEL else gene.group
    return out * (width // size)


def layer_size(gene: LayerGene, out: int, width: int) -> LayerSize:
    n, groups, b = out * width, groups_in(gene, out, width), gene.bits
    fmt = gene.format
    if fmt is Format.INT_SYM:
        return LayerSize(n * b, groups * FP16)
    if fmt is Format.INT_ASYM:
        return LayerSize(n * b, groups * (FP16 + b))
    if fmt is Format.POWER:
        return LayerSize(n * b, groups * FP16 + FP16)
    if fmt is Format.MXFP4:
        return LayerSize(n * 4, groups * E8M0)
    if fmt is Format.NVFP4:
        return LayerSize(n * 4, groups * E4M3 + FP32)
    if fmt is Format.FP8:
        return LayerSize(n * 8, groups * FP16)
    raise ValueError(fmt)  # pragma: no cover


@dataclass(frozen=True)
class ModelSize:
    weight_count: int
    weight_bits: int  # all weight tensors incl. side information
    bias_bits: int

    @property
    def avg_bits(self) -> float:
        return self.weight_bits / self.weight_count

    @property
    def bytes(self) -> float:
        return (self.weight_bits + self.bias_bits) / 8


def model_size(genes: tuple[LayerGene, ...], shapes: list[tuple[int, int]], biases: int) -> ModelSize:
    """Size of a model whose quantizable layers have matrix `shapes` and `biases` fp32 biases in all."""
    total = sum(layer_size(g, o, i).total_bits for g, (o, i) in zip(genes, shapes, strict=True))
    return ModelSize(sum(o * i for o, i in shapes), total, biases * FP32)


def fp32_size(shapes: list[tuple[int, int]], biases: int) -> ModelSize:
    n = sum(o * i for o, i in shapes)
    return ModelSize(n, n * FP32, biases * FP32)
