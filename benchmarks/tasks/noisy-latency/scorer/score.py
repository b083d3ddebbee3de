"""Stage `score` (trusted): one noisy latency measurement of the configuration the kernel ran with.

`true_latency` is a smooth function of the configuration (best near block 128, 6 threads,
unroll 4, prefetch on; many configurations within a few percent of it). A measurement is that
times exp(N(0, 0.08)), drawn from the operating system's randomness at every evaluation:
nothing a candidate does changes the draw, and two evaluations of one commit differ.
`benchmarks/noisy_confirm.py` imports `true_latency` to judge what a run chose.
"""

import json
import math
import os
import random
import sys
from pathlib import Path

NOISE = 0.08
UNROLL = {1: 1.12, 2: 1.03, 4: 1.0, 8: 1.04}


def true_latency(p):
    block, threads = float(p["block"]), float(p["threads"])
    if not (block > 0 and threads > 0) or p["unroll"] not in UNROLL:
        raise ValueError("block and threads must be positive, unroll one of 1, 2, 4, 8")
    shape = 1.0 + (math.log2(block) - 7.0) ** 2 / 10.0
    parallel = 1.0 / threads + threads / 36.0 + 0.55
    return 4.0 * shape * parallel * UNROLL[p["unroll"]] * (0.93 if p["prefetch"] else 1.0)


if __name__ == "__main__":
    try:
        config = json.loads((Path(os.environ["STROP_OUTPUTS"]) / "config.json").read_text())
        latency = true_latency(config)
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"invalid config: {error}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps({"latency_ms": latency * math.exp(random.SystemRandom().gauss(0.0, NOISE))}))
