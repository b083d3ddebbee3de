"""Reading a user's .npz (weights or --data) without letting the file decide how much memory strop takes.

An .npz is a zip of .npy arrays, and each .npy header declares its shape and dtype.
`np.load` allocates what the header declares and decompresses as much as it needs, so a
3 MB zip bomb becomes 3 GB in memory and a 200000×200000 header a MemoryError. Every
member's header is read first (it is a few hundred bytes) and checked against the caps
below; only then are the arrays loaded. The caps (2^28 elements in one array: 1 GiB of
float32; 2^30 in all) are far above any model or data set this search can handle in its
time, so no real file meets them.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

MAX_ARRAY_ELEMENTS = 2**28
MAX_TOTAL_ELEMENTS = 2**30


class NpzRefused(ValueError):
    """An .npz strop will not load; the message is one line, the caller adds which file."""


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of `path`, after every member's declared shape and dtype passed the caps.

    Raises `NpzRefused`, and whatever zipfile/numpy raise for a damaged file (OSError,
    ValueError, RuntimeError for encryption, NotImplementedError for an unknown compression,
    zlib.error, EOFError): callers turn those into their own one-line user error.
    """
    if not zipfile.is_zipfile(path):
        raise NpzRefused("not an .npz file (a zip archive of .npy arrays)")
    with zipfile.ZipFile(path) as archive:
        total = 0
        for info in archive.infolist():
            total += _declared_elements(archive, info)
    if total > MAX_TOTAL_ELEMENTS:
        raise NpzRefused(f"its arrays declare {total:,} elements in all, over the {MAX_TOTAL_ELEMENTS:,} cap")
    with np.load(path, allow_pickle=False) as data:
        return {key: np.asarray(data[key]) for key in data.files}


def _declared_elements(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> int:
    """How many elements one member's .npy header declares; refused when it is no plain array or too big."""
    if info.is_dir():
        return 0
    if not info.filename.endswith(".npy"):
        raise NpzRefused(f"member {info.filename!r} is not a .npy array")
    with archive.open(info) as member:
        version = npy_format.read_magic(member)
        reader = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
        shape, _, dtype = reader(member)
    name = info.filename[: -len(".npy")]
    if dtype.hasobject:
        raise NpzRefused(f"array {name!r} holds pickled (object) data, which strop never unpickles")
    if any(n < 0 for n in shape):
        raise NpzRefused(f"array {name!r} declares the shape {shape}")
    count = math.prod(shape)
    if count > MAX_ARRAY_ELEMENTS:
        raise NpzRefused(
            f"array {name!r} declares the shape {shape} ({count:,} elements), over the "
            f"{MAX_ARRAY_ELEMENTS:,}-element cap"
        )
    return count
