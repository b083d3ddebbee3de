"""Stage `run`: fit the classifier of model.py on the public training split, predict the others.

Reads $STROP_PUBLIC/{train,validation,test}.npz and writes $STROP_OUTPUTS/predictions.json:
{"validation": [class per row], "test": [class per row]}. The scorer compares them with labels
this code never sees.
"""

import json
import os
import time
from pathlib import Path

import model
import numpy as np


def run(params=None, public=None, outputs=None):
    public = Path(public or os.environ["STROP_PUBLIC"])
    outputs = Path(outputs or os.environ["STROP_OUTPUTS"])
    train = np.load(public / "train.npz")
    started = time.perf_counter()
    clf = model.build_model(params)
    clf.fit(train["X"], train["y"])
    predictions = {
        split: [int(v) for v in clf.predict(np.load(public / f"{split}.npz")["X"])]
        for split in ("validation", "test")
    }
    (outputs / "predictions.json").write_text(json.dumps(predictions))
    return {"fit_seconds": round(time.perf_counter() - started, 3)}


if __name__ == "__main__":
    print(json.dumps(run()))
