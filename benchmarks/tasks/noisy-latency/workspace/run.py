"""Stage `run`: "launch" the kernel with the configuration in params.json (a surrogate).

Plain Python, so an evaluation costs milliseconds: what the task exercises is choosing a
winner under measurement noise, not a real kernel. It writes the configuration it ran with to
$STROP_OUTPUTS/config.json; the scorer "times" it.
"""

import json
import os
from pathlib import Path

if __name__ == "__main__":
    params = json.loads((Path(__file__).parent / "params.json").read_text())
    (Path(os.environ["STROP_OUTPUTS"]) / "config.json").write_text(json.dumps(params))
