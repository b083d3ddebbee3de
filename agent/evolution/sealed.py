"""Sealed checkpoints: a search's saved state, loaded only if this strop home wrote it.

A checkpoint is a pickle (genomes are any picklable value a domain defines), and unpickling
runs whatever code the file names. `--checkpoint FILE` takes any path, so a file from
elsewhere (downloaded, handed over, planted in a shared folder) would run its code in the
user's process. Each checkpoint is therefore sealed with an HMAC-SHA256 under a key kept in
the strop home (created on first use, readable by its owner only) and checked before a
single byte is unpickled. A file that was not sealed here (another machine, another home,
an older strop, or tampered with) is refused with the reason; the search starts afresh.

Written here rather than taken from a library: it is the standard library's `hmac` over a
four-line framing, and no signing library in the stack fits a local secret better.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from agent.errors import UserError

MAGIC = b"STROPCK1"
KEY_BYTES = 32
DIGEST_BYTES = 32


def _key() -> bytes:
    from agent.home import strop_home

    path = strop_home() / "keys" / "checkpoint.key"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            pass
        else:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(secrets.token_bytes(KEY_BYTES))
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise UserError(f"{path} is not a checkpoint key ({len(key)} bytes); remove it to make a new one")
    return key


def seal(payload: bytes) -> bytes:
    """`payload` framed with this home's signature."""
    tag = hmac.new(_key(), payload, hashlib.sha256).digest()
    return MAGIC + tag + payload


def unseal(data: bytes, path: Path) -> bytes:
    """The payload of a checkpoint this home sealed; a UserError for anything else."""
    head = len(MAGIC) + DIGEST_BYTES
    if not data.startswith(MAGIC) or len(data) < head:
        raise UserError(
            f"{path} is not a checkpoint sealed by this strop home (an older strop's, or not a "
            "checkpoint): not loaded, since loading it would run any code inside it"
        )
    tag, payload = data[len(MAGIC) : head], data[head:]
    if not hmac.compare_digest(tag, hmac.new(_key(), payload, hashlib.sha256).digest()):
        raise UserError(
            f"{path} was sealed by another strop home or changed since: not loaded, since loading "
            "it would run any code inside it"
        )
    return payload
