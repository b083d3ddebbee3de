"""Malformed, oversized and hostile .npz files (weights and --data): one clear user error, nothing allocated.

Each file is made here for real, as a tester's repro was: `np.savez`, or a zip written by
hand where numpy would not write such a thing (a lying .npy header, an encrypted member).
"""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from agent.domains.quantization.datasets import DataError, load_split
from agent.domains.quantization.models import ModelError, load_model
from agent.domains.quantization.search import SearchRequest, build_domain
from agent.errors import UserError

RNG = np.random.default_rng(0)
W0, B0 = (RNG.normal(size=(32, 64)) * 0.1).astype(np.float32), np.zeros(32, np.float32)
W1, B1 = (RNG.normal(size=(10, 32)) * 0.1).astype(np.float32), np.zeros(10, np.float32)
CONV_W, CONV_B = RNG.normal(size=(4, 1, 3, 3)).astype(np.float32), np.zeros(4, np.float32)
HEAD_W = RNG.normal(size=(10, 4 * 8 * 8)).astype(np.float32)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _lying_header(shape: tuple[int, ...]) -> bytes:
    """An .npy member whose header declares `shape` but holds 64 bytes: np.load would allocate it all."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return buffer.getvalue() + b"\0" * 64


def _zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)


def _conv_spec(path: Path, padding: int = 1, pool: int = 2, name: object = "cnn") -> None:
    spec = {"name": name, "input_shape": [1, 8, 8], "layers": [
        {"type": "conv", "padding": padding}, {"type": "relu"}, {"type": "maxpool", "size": pool},
        {"type": "flatten"}, {"type": "dense"}]}  # fmt: skip
    head = HEAD_W if pool == 1 else RNG.normal(size=(10, 4 * (8 // max(pool, 1)) ** 2)).astype(np.float32)
    np.savez(path, spec=np.array(json.dumps(spec)), weight_0=CONV_W, bias_0=CONV_B, weight_4=head, bias_4=B1)


def _encrypted(path: Path) -> None:
    _zip(path, {"W0.npy": _npy(W0), "b0.npy": _npy(B0)})
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        while at >= 0:
            data[at + offset] |= 1  # the "encrypted" flag bit
            at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))


def _method99(path: Path) -> None:
    _zip(path, {"W0.npy": _npy(W0), "b0.npy": _npy(B0), "W1.npy": _npy(W1), "b1.npy": _npy(B1)})
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        at = data.find(signature)
        while at >= 0:
            data[at + offset : at + offset + 2] = (99).to_bytes(2, "little")  # compression method 99
            at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))


MODEL_FILES = {
    "w1d": (lambda p: np.savez(p, W0=np.zeros(64, np.float32), b0=np.zeros(64, np.float32)), "W0 must be a matrix"),
    "w0d": (lambda p: np.savez(p, W0=np.float32(1), b0=np.float32(0)), "W0 must be a matrix"),
    "w3d": (lambda p: np.savez(p, W0=np.zeros((10, 64, 2), np.float32), b0=B1), "W0 must be a matrix"),
    "not_npy": (lambda p: _zip(p, {"W0": b"hello", "b0.npy": _npy(B0)}), "member 'W0' is not a .npy array"),
    "strings": (lambda p: np.savez(p, W0=np.array([["abc"] * 64] * 10), b0=B1), "must hold real numbers"),
    "strnum": (lambda p: np.savez(p, W0=np.array([["1.5"] * 64] * 10), b0=B1), "must hold real numbers"),
    "struct": (lambda p: np.savez(p, W0=np.zeros((10, 64), dtype=[("a", "f4"), ("b", "i4")]), b0=B1),
               "must hold real numbers"),
    "datetime": (lambda p: np.savez(p, W0=np.zeros((10, 64), "datetime64[s]"), b0=B1), "must hold real numbers"),
    "complex": (lambda p: np.savez(p, W0=(W0 + 1j).astype(np.complex64), b0=B0, W1=W1, b1=B1),
                "must hold real numbers"),
    "huge_finite": (lambda p: np.savez(p, W0=np.full((32, 64), 1e30, np.float32), b0=B0, W1=W1, b1=B1),
                    "beyond"),
    "input_str": (lambda p: np.savez(p, spec=np.array(json.dumps(
        {"layers": [{"type": "dense"}], "input_shape": "abc"})), weight_0=W1[:, :1].repeat(64, 1), bias_0=B1),
        "input_shape must be"),
    "name_obj": (lambda p: _conv_spec(p, name={"a": 1}), "spec name must be a string"),
    "pool0": (lambda p: _conv_spec(p, pool=0), "pool size 0 must be 1 to 8"),
    "padding_huge": (lambda p: _conv_spec(p, padding=20000), "padding 20000 with a 3×3 kernel"),
    "not_zip": (lambda p: p.write_bytes(b"hello"), "not an .npz file"),
    "encrypted": (_encrypted, "encrypted"),
    "method99": (_method99, "compression method"),
    "huge_shape": (lambda p: _zip(p, {"W0.npy": _lying_header((200000, 200000)), "b0.npy": _npy(B0)}),
                   "over the 268,435,456-element cap"),
    "zip_bomb_total": (lambda p: _zip(p, {f"a{i}.npy": _lying_header((2**14, 2**14)) for i in range(5)}),
                       "1,073,741,824 cap"),
}  # fmt: skip


@pytest.mark.parametrize("kind", list(MODEL_FILES))
def test_a_bad_weights_file_is_one_clear_line(tmp_path: Path, kind: str) -> None:
    make, message = MODEL_FILES[kind]
    path = tmp_path / f"{kind}.npz"
    make(path)
    with pytest.raises(ModelError, match=message) as caught:
        load_model(str(path))
    assert "\n" not in str(caught.value)


def test_a_real_zip_bomb_is_refused_from_its_header(tmp_path: Path) -> None:
    """Deflated zeros declaring 2^28 + 64 floats (1 GiB): refused before one byte is inflated."""
    path = tmp_path / "bomb.npz"
    rows = 2**22 + 1
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (rows, 64)}
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("W0.npy", "w") as member:
        member.write(header.getvalue())
        member.write(b"\0" * 2**20)  # the rest would follow in a real bomb; the header is what is checked
    with pytest.raises(ModelError, match="over the 268,435,456-element cap"):
        load_model(str(path))


def _mlp(tmp_path: Path) -> Path:
    np.savez(tmp_path / "mlp.npz", W0=W0, b0=B0, W1=W1, b1=B1)
    return tmp_path / "mlp.npz"


def test_default_groups_adapt_to_a_small_mlp(tmp_path: Path) -> None:
    """Widths 64 and 32: group 64 fits neither (it must be smaller than the row), so the default drops it."""
    domain = build_domain(SearchRequest(model=str(_mlp(tmp_path)), budget_bits=3.0))
    assert domain.network.shapes() == [(32, 64), (10, 32)]


def test_an_explicit_group_no_layer_can_use_is_refused_truthfully(tmp_path: Path) -> None:
    request = SearchRequest(model=str(_mlp(tmp_path)), budget_bits=3.0, groups=(16, 64), groups_given=True)
    with pytest.raises(UserError, match="group size 64 fits no layer: a group must divide a layer's input "
                       "width and be smaller than it \\(widths: 64, 32\\)"):  # fmt: skip
        build_domain(request)


X = RNG.normal(size=(200, 64)).astype(np.float32)
Y = np.arange(200) % 10

DATA_FILES = {
    "more_x": ({"x": X, "y": Y[:150]}, "x has 200 rows, y 150"),
    "more_y": ({"x": X[:150], "y": Y}, "x has 150 rows, y 200"),
    "zero": ({"x": np.zeros((0, 64), np.float32), "y": np.zeros(0, int)}, "hold no samples"),
    "f1e30_labels": (
        {"x": X, "y": np.full(200, 1e30)},
        "integer class indices 0 to 1,048,575, found 1e\\+30",
    ),
    "huge_int_labels": ({"x": X, "y": np.full(200, 10**15)}, "integer class indices 0 to 1,048,575"),
}


@pytest.mark.parametrize("kind", list(DATA_FILES))
def test_bad_data_is_refused_without_warnings(tmp_path: Path, kind: str) -> None:
    arrays, message = DATA_FILES[kind]
    np.savez(tmp_path / "d.npz", **arrays)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning from a cast would be a wrong answer in disguise
        with pytest.raises(DataError, match=message):
            load_split(tmp_path / "d.npz")


def test_a_data_file_declaring_a_huge_array_is_refused(tmp_path: Path) -> None:
    _zip(tmp_path / "d.npz", {"x.npy": _lying_header((200000, 200000)), "y.npy": _npy(Y)})
    with pytest.raises(DataError, match="over the 268,435,456-element cap"):
        load_split(tmp_path / "d.npz")
