"""Stage `score` (trusted): the validation loss of the trained surrogate MLP.

Smooth in the hyper-parameters, best at lr ≈ 0.03 (just under the divergence wall at
0.05), width 1024 and batch 256 (batch × width = 2^18: above the out-of-memory wall at
2^17, so the best feasible points lie on that wall), dropout 0.1. Reads
$STROP_OUTPUTS/model.json; prints {"loss": …}.
"""

import json
import math
import os
import sys
from pathlib import Path

NAMES = ("lr", "width", "batch", "dropout")


def score(outputs, private=None):
    try:
        p = json.loads((Path(outputs) / "model.json").read_text())
        lr, width, batch, dropout = (float(p[name]) for name in NAMES)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"model.json is missing or malformed: {error}") from None
    if not (lr > 0 and width > 0 and batch > 0 and math.isfinite(dropout)):
        raise ValueError("lr, width and batch must be positive numbers")
    value = 0.2 + 0.6 * (math.log10(lr) - math.log10(0.03)) ** 2
    value += 0.15 * (math.log2(width) - 10) ** 2 + 0.1 * (math.log2(batch) - 8) ** 2
    value += 2.0 * (dropout - 0.1) ** 2
    return {"loss": value}


if __name__ == "__main__":
    try:
        result = score(os.environ["STROP_OUTPUTS"])
    except ValueError as error:
        print(f"invalid model: {error}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(result))
