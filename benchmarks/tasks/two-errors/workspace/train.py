"""Stage `run`: "train" a small MLP (a surrogate: plain Python, milliseconds).

Two ways to fail: the activations need batch × width × 4 KiB and the device has
512 MiB (out of memory above it), and a learning rate above 0.05 makes the loss
diverge (the step it blows up at depends on the rate). A run that works writes its
configuration, as its model, to $STROP_OUTPUTS/model.json; the scorer computes the
validation loss of that model.
"""

import json
import math
import os
from pathlib import Path

DEVICE_MIB = 512
BYTES_PER_UNIT = 4 * 1024
MAX_STABLE_LR = 0.05


def run(params=None, public=None, outputs=None):
    if params is None:
        params = json.loads((Path(__file__).parent / "params.json").read_text())
    need_mib = params["batch"] * params["width"] * BYTES_PER_UNIT / 2**20
    if need_mib > DEVICE_MIB:
        raise MemoryError(
            f"out of memory: activations need {need_mib:.0f} MiB, the device has {DEVICE_MIB} MiB"
        )
    if params["lr"] > MAX_STABLE_LR:
        step = max(1, int(200 * MAX_STABLE_LR / params["lr"]))
        raise FloatingPointError(f"loss diverged to nan at step {step} (lr={params['lr']:.3g})")
    assert math.isfinite(params["dropout"])
    outputs = Path(outputs or os.environ["STROP_OUTPUTS"])
    (outputs / "model.json").write_text(json.dumps(params))
    return {}


if __name__ == "__main__":
    run()
