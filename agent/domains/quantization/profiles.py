"""Hardware profiles: which formats a target runs, and its integer accumulator.

A profile narrows the search before anything is evaluated (constraints.py turns
it into Z3 clauses): formats outside `formats` are infeasible, and an integer
layer must provably not overflow a `accumulator_bits` accumulator fed with
`input_bits` activations (accumulator.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.domains.quantization.formats import Format
from agent.errors import UserError


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    formats: tuple[Format, ...]
    accumulator_bits: int = 32
    input_bits: int = 8
    input_signed: bool = False  # activations after ReLU are unsigned


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("generic", "every format; 32-bit integer accumulators, 8-bit activations", tuple(Format)),
        Profile(
            "int-fp",
            "int sym/asym, MXFP4, NVFP4, FP8 (no power grid); 32-bit accumulators, 8-bit activations",
            (Format.INT_SYM, Format.INT_ASYM, Format.MXFP4, Format.NVFP4, Format.FP8),
        ),
        Profile(
            "edge-int16",
            "integer-only MCU/DSP: int formats, 16-bit accumulators, 8-bit unsigned activations",
            (Format.INT_SYM, Format.INT_ASYM),
            accumulator_bits=16,
        ),
        Profile(
            "ocp-mx",
            "OCP microscaling accelerator: MXFP4, FP8 E4M3 and symmetric int",
            (Format.MXFP4, Format.FP8, Format.INT_SYM),
        ),
        Profile(
            "blackwell",
            "NVIDIA Blackwell-class: NVFP4, MXFP4, FP8 E4M3, symmetric int",
            (Format.NVFP4, Format.MXFP4, Format.FP8, Format.INT_SYM),
        ),
    )
}


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise UserError(f"unknown hardware profile {name!r}: choose one of {', '.join(PROFILES)}")
    return PROFILES[name]
