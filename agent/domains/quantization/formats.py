"""The number formats a layer's weights may be stored in, and one layer's choice (a gene).

A `LayerGene` is the unit of the search: format, bits, group size, power exponent
and rounding for one layer. Genes are canonical (fields a format ignores take a
fixed value) so equal configurations hash equal, which the caches and the
engine's novelty rejection rely on. The FP grids (E2M1, E4M3) are enumerated
here from their bit layouts rather than taken from a library: no maintained
NumPy package exposes them, and they are a dozen lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache

import numpy as np


class Format(StrEnum):
    """Storage formats. Int and power formats take 2–8 bits; the FP formats fix theirs."""

    INT_SYM = "int_sym"  # symmetric integer, qmax = 2^(b-1) - 1, one fp16 scale per group
    INT_ASYM = "int_asym"  # asymmetric integer, fp16 scale + b-bit zero point per group
    POWER = "power"  # NUPES / PowerQuant: uniform grid on sign(w)|w|^a, fp16 scale per group
    MXFP4 = "mxfp4"  # OCP MX: FP4 E2M1 elements, E8M0 (power-of-two) scale per block of 32
    NVFP4 = "nvfp4"  # FP4 E2M1 elements, E4M3 scale per block of 16, fp32 scale per tensor
    FP8 = "fp8"  # FP8 E4M3 elements, fp16 scale per group


class Rounding(StrEnum):
    RTN = "rtn"  # round to nearest
    GPTQ = "gptq"  # learned: GPTQ column-wise error feedback on calibration activations


INT_FORMATS = (Format.INT_SYM, Format.INT_ASYM)
VARIABLE_BITS = (Format.INT_SYM, Format.INT_ASYM, Format.POWER)
FIXED_BLOCK = {Format.MXFP4: 32, Format.NVFP4: 16}
FIXED_BITS = {Format.MXFP4: 4, Format.NVFP4: 4, Format.FP8: 8}
MIN_BITS, MAX_BITS = 2, 8
EXPONENTS = (0.5, 0.625, 0.75, 0.875, 1.0)
PER_CHANNEL = 0  # group size 0 means one group per output channel (the whole row)


@dataclass(frozen=True, order=True)
class LayerGene:
    """How one layer is quantized. Build through `make` to get the canonical form."""

    format: Format
    bits: int
    group: int  # 0 = per output channel, else a divisor of the layer's input width
    exponent: float = 1.0  # only for POWER
    rounding: Rounding = Rounding.RTN

    @staticmethod
    def make(
        format: Format | str,
        bits: int = 4,
        group: int = PER_CHANNEL,
        exponent: float = 1.0,
        rounding: Rounding | str = Rounding.RTN,
    ) -> LayerGene:
        fmt = Format(format)
        if fmt in FIXED_BITS:
            bits = FIXED_BITS[fmt]
        if fmt in FIXED_BLOCK:
            group = FIXED_BLOCK[fmt]
        if fmt is not Format.POWER:
            exponent = 1.0
        return LayerGene(fmt, int(bits), int(group), float(exponent), Rounding(rounding))

    def label(self) -> str:
        g = "ch" if self.group == PER_CHANNEL else f"g{self.group}"
        if self.format in FIXED_BITS and self.format is not Format.FP8:
            body = self.format.value
        elif self.format is Format.FP8:
            body = f"fp8/{g}"
        elif self.format is Format.POWER:
            body = f"pow{self.bits}a{self.exponent:g}/{g}"
        else:
            body = f"{self.format.value.replace('_', '')}{self.bits}/{g}"
        return body + ("+gptq" if self.rounding is Rounding.GPTQ else "")

    def to_json(self) -> dict[str, object]:
        return {
            "format": self.format.value,
            "bits": self.bits,
            "group": self.group,
            "exponent": self.exponent,
            "rounding": self.rounding.value,
        }

    @staticmethod
    def from_json(data: dict[str, object]) -> LayerGene:
        return LayerGene.make(
            str(data["format"]),
            int(data.get("bits", 4)),  # type: ignore[arg-type]
            int(data.get("group", PER_CHANNEL)),  # type: ignore[arg-type]
            float(data.get("exponent", 1.0)),  # type: ignore[arg-type]
            str(data.get("rounding", "rtn")),
        )


Genome = tuple[LayerGene, ...]


def _minifloat_grid(exp_bits: int, man_bits: int, bias: int, max_value: float) -> np.ndarray:
    """Non-negative values of a minifloat with subnormals, up to `max_value` (sorted)."""
    values = []
    for e in range(2**exp_bits):
        for m in range(2**man_bits):
            if e == 0:
                v = 2.0 ** (1 - bias) * (m / 2**man_bits)
            else:
                v = 2.0 ** (e - bias) * (1 + m / 2**man_bits)
            if v <= max_value:
                values.append(v)
    return np.array(sorted(set(values)), dtype=np.float64)


@cache
def e2m1_grid() -> np.ndarray:
    """FP4 E2M1 magnitudes: 0, 0.5, 1, 1.5, 2, 3, 4, 6."""
    return _minifloat_grid(2, 1, 1, 6.0)


@cache
def e4m3_grid() -> np.ndarray:
    """FP8 E4M3 (OCP 'fn' variant) magnitudes: subnormals from 2^-9, max 448 (S.1111.111 is NaN)."""
    return _minifloat_grid(4, 3, 7, 448.0)


def round_to_grid(x: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Nearest value of a symmetric grid (given by its sorted magnitudes), saturating; ties to even index.

    For minifloat grids an even index is an even mantissa, so this is IEEE round-half-to-even.
    """
    mag = np.minimum(np.abs(x), grid[-1])
    hi = np.clip(np.searchsorted(grid, mag, side="left"), 1, len(grid) - 1)
    lo = hi - 1
    d_lo, d_hi = mag - grid[lo], grid[hi] - mag
    pick_hi = (d_hi < d_lo) | ((d_hi == d_lo) & (hi % 2 == 0))
    return np.sign(x) * np.where(pick_hi, grid[hi], grid[lo])
