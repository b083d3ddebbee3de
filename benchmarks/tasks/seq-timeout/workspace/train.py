"""Stage `run`: "train" a sequence model (a surrogate: plain Python).

Full attention costs time quadratic in the sequence length: above 2048 tokens a run
takes minutes (here: it sleeps) and is killed at the task's timeout. Linear attention
is fast at any length. A run that finishes writes its configuration, as its model, to
$STROP_OUTPUTS/model.json; the scorer computes the validation loss of that model.
"""

import json
import os
import time
from pathlib import Path

FULL_ATTENTION_LIMIT = 2048


def run(params=None, public=None, outputs=None):
    if params is None:
        params = json.loads((Path(__file__).parent / "params.json").read_text())
    if params["attention"] == "full" and params["seq_len"] > FULL_ATTENTION_LIMIT:
        time.sleep(60 * (params["seq_len"] / FULL_ATTENTION_LIMIT) ** 2)  # minutes: the timeout kills it
    outputs = Path(outputs or os.environ["STROP_OUTPUTS"])
    (outputs / "model.json").write_text(json.dumps(params))
    return {}


if __name__ == "__main__":
    run()
