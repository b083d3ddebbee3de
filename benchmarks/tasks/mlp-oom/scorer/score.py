"""Stage `score` (trusted): the validation loss of the trained surrogate MLP.

The loss is a smooth function of the hyper-parameters the model was trained with
(best: lr ≈ 3e-3, width 512, batch 128, dropout 0.1). Reads $STROP_OUTPUTS/model.json;
prints {"loss": …}. A surrogate: the "model" is its configuration, so this task tests
the loop and memory, not the trust boundary.
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
        values = [float(p[name]) for name in NAMES]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"model.json is missing or malformed: {error}") from None
    if not all(math.isfinite(v) for v in values) or values[0] <= 0 or values[1] <= 0 or values[2] <= 0:
        raise ValueError("lr, width and batch must be positive finite numbers")
    value = (math.log10(p["lr"]) + 2.5) ** 2
    value += 0.15 * (math.log2(p["width"]) - 9) ** 2 + 0.1 * (math.log2(p["batch"]) - 7) ** 2
    value += 2.0 * (p["dropout"] - 0.1) ** 2
    return {"loss": 0.2 + value}


if __name__ == "__main__":
    try:
        result = score(os.environ["STROP_OUTPUTS"])
    except ValueError as error:
        print(f"invalid model: {error}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(result))
