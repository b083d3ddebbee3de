"""Stage `run`: "train" with the configured optimizer (a surrogate: plain Python, milliseconds).

The `lion` optimizer is not available in this environment: a run that picks it dies at
import time with the same error whatever its other values, as a missing optional
dependency would. A run that works writes its configuration, as its model, to
$STROP_OUTPUTS/model.json; the scorer computes the validation loss of that model.
"""

import json
import os
from pathlib import Path

AVAILABLE = ("sgd", "momentum", "adam", "adamw")


def run(params=None, public=None, outputs=None):
    if params is None:
        params = json.loads((Path(__file__).parent / "params.json").read_text())
    if params["optimizer"] not in AVAILABLE:
        raise ImportError(f"cannot import name {params['optimizer'].title()!r} from 'torch.optim'")
    outputs = Path(outputs or os.environ["STROP_OUTPUTS"])
    (outputs / "model.json").write_text(json.dumps(params))
    return {}


if __name__ == "__main__":
    run()
