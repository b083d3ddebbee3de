"""Stage `score` (trusted): the validation loss of the trained surrogate model.

A smooth function of the configuration: each optimizer has its own best learning rate
and floor (adamw best: lr ≈ 2e-3, weight decay 0.05, warm-up 200). Reads
$STROP_OUTPUTS/model.json; prints {"loss": …}.
"""

import json
import math
import os
import sys
from pathlib import Path

# optimizer: (floor, log10 of the best learning rate)
OPTIMIZERS = {"sgd": (0.5, -1.0), "momentum": (0.3, -1.7), "adam": (0.12, -2.5), "adamw": (0.0, -2.7)}


def score(outputs, private=None):
    try:
        p = json.loads((Path(outputs) / "model.json").read_text())
        floor, best_lr = OPTIMIZERS[p["optimizer"]]
        lr, decay, warmup = float(p["lr"]), float(p["weight_decay"]), float(p["warmup"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"model.json is missing or malformed: {error}") from None
    if not (math.isfinite(lr) and lr > 0 and math.isfinite(decay) and math.isfinite(warmup)):
        raise ValueError("lr must be a positive finite number; weight_decay and warmup finite")
    value = 0.2 + floor + 0.5 * (math.log10(lr) - best_lr) ** 2
    value += 40.0 * (decay - 0.05) ** 2 + 0.3 * ((warmup - 200) / 1000) ** 2
    return {"loss": value}


if __name__ == "__main__":
    try:
        result = score(os.environ["STROP_OUTPUTS"])
    except ValueError as error:
        print(f"invalid model: {error}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(result))
