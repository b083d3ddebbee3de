"""Stage `run`: fit the pipeline of model.py on the public training split, predict the others.

Reads $STROP_PUBLIC/{train,validation,test}.npz and writes $STROP_OUTPUTS/predictions.json:
{"validation": [value per row], "test": [value per row]}. The scorer compares them with targets
this code never sees.
"""

import json
import os
from pathlib import Path

import model
import numpy as np


def run(params=None, public=None, outputs=None):
    public = Path(public or os.environ["STROP_PUBLIC"])
    outputs = Path(outputs or os.environ["STROP_OUTPUTS"])
    train = np.load(public / "train.npz")
    regressor = model.build_model(params)
    regressor.fit(train["X"], train["y"])
    predictions = {
        split: [float(v) for v in regressor.predict(np.load(public / f"{split}.npz")["X"])]
        for split in ("validation", "test")
    }
    (outputs / "predictions.json").write_text(json.dumps(predictions))
    return {}


if __name__ == "__main__":
    run()
