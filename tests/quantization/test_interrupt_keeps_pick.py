"""A stop signal during random search or TPE (after the pick) keeps the chosen config's files.

Before, the files were written only at the end: Ctrl-C during TPE said "the chosen config and
its quantized weights in …: not written", though the engine had finished and the pick was made.
They are written as soon as the config is chosen now (again at the end, with its final origin).
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np

from tests.quantization.test_tpe_interrupt import _ctrl_c, _interrupted_in_tpe


def test_ctrl_c_during_tpe_keeps_the_chosen_configs_files(tmp_path: Path) -> None:
    code, text = _interrupted_in_tpe(tmp_path, _ctrl_c)
    assert "baseline tpe done" not in text, f"TPE ended before the signal: the test proves nothing\n{text}"
    assert code == 128 + signal.SIGINT, text
    (line,) = [line for line in text.splitlines() if line.startswith("interrupted: ")]
    assert "not written" not in line, line
    assert "are complete" in line, line
    config = json.loads((tmp_path / "out" / "chosen_config.json").read_text())
    assert config["config"] and config["avg_bits"] <= 3.0 + 1e-9
    with np.load(tmp_path / "out" / "quantized_weights.npz") as weights:
        assert len(weights.files) > 0
