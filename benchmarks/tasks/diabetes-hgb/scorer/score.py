"""Stage `score` (trusted): RMSE of the candidate's predictions against the private targets.

Standard library only. Reads $STROP_OUTPUTS/predictions.json and $STROP_PRIVATE/labels.json
({"split", "labels"}); prints {"rmse": …}. Malformed predictions (wrong length, not numbers,
NaN or infinite) end with one line on stderr and exit status 1.
"""

import json
import math
import os
import sys
from pathlib import Path


def score(outputs, private):
    truth = json.loads((Path(private) / "labels.json").read_text())
    try:
        predictions = json.loads((Path(outputs) / "predictions.json").read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"predictions.json is missing or not JSON: {error}") from None
    if not isinstance(predictions, dict):
        raise ValueError("predictions.json must be an object with 'validation' and 'test' lists")
    guessed = predictions.get(truth["split"])
    targets = truth["labels"]
    if not isinstance(guessed, list) or len(guessed) != len(targets):
        raise ValueError(f"predictions[{truth['split']!r}] must be a list of {len(targets)} numbers")
    if any(type(g) not in (int, float) or not math.isfinite(g) for g in guessed):
        raise ValueError("every prediction must be a finite number")
    return {
        "rmse": math.sqrt(sum((g - t) ** 2 for g, t in zip(guessed, targets, strict=True)) / len(targets))
    }


if __name__ == "__main__":
    try:
        result = score(os.environ["STROP_OUTPUTS"], os.environ["STROP_PRIVATE"])
    except ValueError as error:
        print(f"invalid predictions: {error}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(result))
