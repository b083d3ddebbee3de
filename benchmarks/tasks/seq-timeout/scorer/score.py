"""Stage `score` (trusted): the validation loss of the trained surrogate sequence model.

Longer context helps; full attention beats linear attention by 0.15 at equal length;
best learning rate ≈ 1e-3, dropout 0.1. The best point (full attention at 2048 tokens,
loss ≈ 0.30) lies on the wall of the region that times out; linear attention at 8192
reaches ≈ 0.35. Reads $STROP_OUTPUTS/model.json; prints {"loss": …}.
"""

import json
import math
import os
import sys
from pathlib import Path


def score(outputs, private=None):
    try:
        p = json.loads((Path(outputs) / "model.json").read_text())
        attention, seq_len = p["attention"], float(p["seq_len"])
        lr, dropout = float(p["lr"]), float(p["dropout"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"model.json is missing or malformed: {error}") from None
    if attention not in ("full", "linear") or not (seq_len > 0 and lr > 0 and math.isfinite(dropout)):
        raise ValueError("attention must be full or linear; seq_len and lr positive")
    value = 0.2 + 0.3 * (13 - math.log2(seq_len)) / 6 + (0.0 if attention == "full" else 0.15)
    value += 0.3 * (math.log10(lr) + 3) ** 2 + 2.0 * (dropout - 0.1) ** 2
    return {"loss": value}


if __name__ == "__main__":
    try:
        result = score(os.environ["STROP_OUTPUTS"])
    except ValueError as error:
        print(f"invalid model: {error}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(result))
