"""Stage `score` (trusted): accuracy of the candidate's predictions against the private labels.

Standard library only, so it starts fast and imports nothing a candidate could have touched.
Reads $STROP_OUTPUTS/predictions.json and $STROP_PRIVATE/labels.json ({"split", "labels"});
prints {"accuracy": …}. Malformed predictions end with one line on stderr and exit status 1.
"""

import json
import os
import sys
from pathlib import Path

CLASSES = range(10)


def score(outputs, private):
    truth = json.loads((Path(private) / "labels.json").read_text())
    try:
        predictions = json.loads((Path(outputs) / "predictions.json").read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"predictions.json is missing or not JSON: {error}") from None
    if not isinstance(predictions, dict):
        raise ValueError("predictions.json must be an object with 'validation' and 'test' lists")
    guessed = predictions.get(truth["split"])
    labels = truth["labels"]
    if not isinstance(guessed, list) or len(guessed) != len(labels):
        raise ValueError(f"predictions[{truth['split']!r}] must be a list of {len(labels)} classes")
    if any(type(g) is not int or g not in CLASSES for g in guessed):
        raise ValueError("every prediction must be an integer class 0-9")
    hits = sum(g == t for g, t in zip(guessed, labels, strict=True))
    return {"accuracy": hits / len(labels)}


if __name__ == "__main__":
    try:
        result = score(os.environ["STROP_OUTPUTS"], os.environ["STROP_PRIVATE"])
    except ValueError as error:
        print(f"invalid predictions: {error}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(result))
