"""Evaluator (protected): a surrogate of training a small MLP whose activations must fit in memory.

Plain Python (no imports beyond the standard library), so an evaluation costs a few
milliseconds and the benchmarks measure the loop, not a training run. The validation
loss is a smooth function of the hyper-parameters (best: lr ≈ 3e-3, width 512,
batch 128, dropout 0.1), but the activations need batch × width × 8 KiB: above
256 MiB the run dies with an out-of-memory error, as a GPU job would. The best
feasible point therefore lies on the memory wall, where memory pays only if it
excludes the crashing region without excluding the good points beside it.
Prints one JSON line: {"loss": …}.
"""

import json
import math

DEVICE_MIB = 256
BYTES_PER_UNIT = 8 * 1024


def loss(p):
    need_mib = p["batch"] * p["width"] * BYTES_PER_UNIT / 2**20
    if need_mib > DEVICE_MIB:
        raise MemoryError(
            f"out of memory: activations need {need_mib:.0f} MiB, the device has {DEVICE_MIB} MiB"
        )
    value = (math.log10(p["lr"]) + 2.5) ** 2
    value += 0.15 * (math.log2(p["width"]) - 9) ** 2 + 0.1 * (math.log2(p["batch"]) - 7) ** 2
    value += 2.0 * (p["dropout"] - 0.1) ** 2
    return 0.2 + value


if __name__ == "__main__":
    with open("params.json") as handle:
        params = json.load(handle)
    print(json.dumps({"loss": loss(params)}))
