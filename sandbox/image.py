"""The docker image candidates run in: an almost empty root, built offline in a second.

There is no registry here, and candidates need strop's own interpreter and venv
anyway, so the image holds only a skeleton: the merged-usr links (`/bin ->
usr/bin`, …), `/etc/passwd` and `/etc/group` with root and nobody, an empty
`/tmp`, and nothing else. Everything runnable is bound read-only from the host at
run time (see `sandbox.runtime`). The tar is made in memory with `tarfile` and
handed to `docker import`; its tag is a hash of its content, so a changed
recipe (or a host with a different /usr layout) gets a new image.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from typing import Any

from sandbox.execution import SandboxError
from sandbox.runtime import Runtime

REPOSITORY = "strop-sandbox"
IMAGE_LABEL = "strop.sandbox.image"

_PASSWD = "root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/tmp:/usr/sbin/nologin\n"
_GROUP = "root:x:0:\nnogroup:x:65534:\n"
_FOLDERS = {"etc": 0o755, "tmp": 0o1777, "proc": 0o555, "dev": 0o755, "sys": 0o555, "usr": 0o755}


def _member(name: str, kind: bytes, mode: int, size: int = 0, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.linkname = kind, mode, size, link
    info.mtime = 0
    return info


def skeleton(runtime: Runtime) -> bytes:
    """The image's root filesystem as a deterministic tar."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, mode in _FOLDERS.items():
            tar.addfile(_member(name, tarfile.DIRTYPE, mode))
        for name, target in runtime.links:
            tar.addfile(_member(name.lstrip("/"), tarfile.SYMTYPE, 0o777, link=target))
        for name, text in (("etc/passwd", _PASSWD), ("etc/group", _GROUP)):
            data = text.encode()
            tar.addfile(_member(name, tarfile.REGTYPE, 0o644, size=len(data)), io.BytesIO(data))
    return buffer.getvalue()


def image_tag(runtime: Runtime) -> str:
    digest = hashlib.sha256(skeleton(runtime)).hexdigest()[:12]
    return f"{REPOSITORY}:{digest}"


def has_image(client: Any, tag: str) -> bool:
    import docker.errors

    try:
        client.api.inspect_image(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def build_image(client: Any, runtime: Runtime, rebuild: bool = False) -> str:
    """Import the skeleton as `strop-sandbox:<hash>` and return the tag.

    An image already there is kept (the tag names its content) unless `rebuild`,
    which removes it first so that no untagged copy is left behind.
    """
    import docker.errors

    tag = image_tag(runtime)
    repository, version = tag.split(":")
    if has_image(client, tag):
        if not rebuild:
            return tag
        client.api.remove_image(tag, force=True)
    try:
        client.api.import_image_from_data(
            skeleton(runtime), repository=repository, tag=version, changes=[f"LABEL {IMAGE_LABEL}=1"]
        )
    except docker.errors.DockerException as error:
        raise SandboxError(f"cannot build the sandbox image {tag}: {error}") from error
    if not has_image(client, tag):
        raise SandboxError(f"docker import did not produce {tag}")
    return tag


def ensure_image(client: Any, runtime: Runtime) -> str:
    """The sandbox image's tag, building it first when this docker does not have it."""
    return build_image(client, runtime)
