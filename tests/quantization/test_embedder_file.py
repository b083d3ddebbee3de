"""An embedder file's per-layer settings are checked on load, in one line naming the layer.

Before: `bits: 1` gave NaN embeddings and then a confusing store error; `group: 7` and
`exponent: 0` internal errors (ValueError, ZeroDivisionError) at first use; `bits: 40` was
taken; a file with no `base_sha256` skipped the weight check.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.domains.quantization.embedder import EmbedderFileError, QuantizedMiniLMEmbedder

SHA = "0" * 64


def _file(tmp_path: Path, layer: int = 1, **change: object) -> Path:
    config = [
        {"format": "int_sym", "bits": 4, "group": 64, "exponent": 1.0, "rounding": "rtn"} for _ in range(37)
    ]
    body: dict[str, object] = {"kind": "strop.quantized-embedder", "config": config, "base_sha256": SHA}
    for key, value in change.items():
        if key in ("base_sha256", "max_tokens", "config"):
            body[key] = value
        else:
            config[layer][key] = value
    if body.get("base_sha256") is None:
        del body["base_sha256"]
    path = tmp_path / "embedder.json"
    path.write_text(json.dumps(body))
    return path


def test_a_well_formed_file_loads(tmp_path: Path) -> None:
    embedder = QuantizedMiniLMEmbedder(_file(tmp_path))
    assert len(embedder.genome) == 37


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"bits": 1}, "layer 1: bits 1 (must be 2 to 8)"),
        ({"bits": 40}, "layer 1: bits 40 (must be 2 to 8)"),
        ({"group": 7}, "layer 1: group 7 (must be 0 for per channel, or divide its width 384"),
        ({"group": 384}, "layer 1: group 384"),
        ({"format": "power", "exponent": 0}, "layer 1: exponent 0 (must be one of"),
        ({"config": [{"format": "int_sym"}] * 36}, "'config' has 36 layers, MiniLM 37"),
        ({"config": "int4"}, "'config' must be a list"),
        ({"base_sha256": None}, "'base_sha256'"),
        ({"base_sha256": "abc"}, "'base_sha256'"),
        ({"max_tokens": 0}, "'max_tokens' 0"),
    ],
)
def test_a_bad_setting_is_refused_on_load_in_one_line(
    tmp_path: Path, change: dict[str, object], said: str
) -> None:
    with pytest.raises(EmbedderFileError) as caught:
        QuantizedMiniLMEmbedder(_file(tmp_path, **change))
    message = str(caught.value)
    assert said in message, message
    assert "\n" not in message


def test_a_group_that_divides_the_ffn_out_width_only_is_allowed_there(tmp_path: Path) -> None:
    # layer 6 is block 0's FFN out (1536 wide): 768 divides it; layer 1 (384 wide) may not take it
    assert len(QuantizedMiniLMEmbedder(_file(tmp_path, layer=6, group=768)).genome) == 37
    with pytest.raises(EmbedderFileError, match="layer 1: group 768"):
        QuantizedMiniLMEmbedder(_file(tmp_path, layer=1, group=768))
