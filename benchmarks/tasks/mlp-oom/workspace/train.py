"""Stage `run`: "train" a small MLP whose activations must fit in device memory (a surrogate).

Plain Python, so an evaluation costs milliseconds and the benchmarks measure the loop,
not a training run. The activations need batch × width × 8 KiB: above 256 MiB the run
dies with an out-of-memory error, as a GPU job would. A run that fits writes the
configuration it trained, as its model, to $STROP_OUTPUTS/model.json; the scorer
computes the validation loss of that model.
"""

import json
import os
from pathlib import Path

DEVICE_MIB = 256
BYTES_PER_UNIT = 8 * 1024


def run(params=None, public=None, outputs=None):
    if params is None:
        params = json.loads((Path(__file__).parent / "params.json").read_text())
    need_mib = params["batch"] * params["width"] * BYTES_PER_UNIT / 2**20
    if need_mib > DEVICE_MIB:
        raise MemoryError(
            f"out of memory: activations need {need_mib:.0f} MiB, the device has {DEVICE_MIB} MiB"
        )
    outputs = Path(outputs or os.environ["STROP_OUTPUTS"])
    (outputs / "model.json").write_text(json.dumps(params))
    return {}


if __name__ == "__main__":
    run()
