"""`strop sandbox check | image | run` through the real entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sandbox.support import in_ci, require_backend


def strop(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "strop"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "OPENAI_API_KEY": "sk-never-shown"},
        timeout=120,
    )


def test_check_reports_docker_and_bwrap_working() -> None:
    result = strop("sandbox", "check", "--json")
    reports = {item["name"]: item for item in json.loads(result.stdout)}
    assert reports["local"]["status"] == "weak"
    for name in ("docker", "bwrap"):
        if reports[name]["status"] != "working":
            message = f"{name}: {reports[name]['status']}: {reports[name]['detail']}"
            if in_ci() or reports[name]["status"] == "broken":
                pytest.fail(message)
            pytest.skip(message)
    assert result.returncode == 0
    # how each counts CPU time is said (a speed task's scorer gets it only when whole)
    assert "cpu time: " in reports["docker"]["detail"]
    assert "cpu time: " in reports["bwrap"]["detail"]


def test_run_passes_output_and_exit_status(workdir: Path) -> None:
    require_backend("bwrap")
    result = strop(
        "sandbox", "run", "--backend", "bwrap", "--", "sh", "-c", "pwd; echo err >&2; exit 4", cwd=workdir
    )
    assert result.returncode == 4
    assert result.stdout.strip() == str(workdir.resolve())
    assert "err" in result.stderr and "[bwrap] exit 4" in result.stderr


def test_run_timeout_exits_124_and_json(workdir: Path) -> None:
    result = strop(
        "sandbox", "run", "-b", "local", "--timeout", "1s", "--json", "--", "sleep", "30", cwd=workdir
    )
    assert result.returncode == 124
    assert json.loads(result.stdout)["killed_by"] == "timeout"
    assert "local" in result.stderr  # the loud warning


def test_run_bad_unit_is_a_user_error(workdir: Path) -> None:
    result = strop("sandbox", "run", "--memory", "lots", "--", "true", cwd=workdir)
    assert result.returncode == 2 and "not a size" in result.stderr and "Traceback" not in result.stderr


def test_image_builds_offline() -> None:
    require_backend("docker")
    result = strop("sandbox", "image")
    assert result.returncode == 0 and result.stdout.startswith("ready strop-sandbox:")


def test_a_rebuild_leaves_no_untagged_copy() -> None:
    """On an image of its own (another runtime, another tag): tests running beside this one
    keep using the shared sandbox image, which a rebuild must not pull from under them."""
    require_backend("docker")
    import dataclasses

    import docker

    from sandbox.image import build_image
    from sandbox.runtime import Runtime

    client = docker.from_env()
    runtime = Runtime.detect()
    own = dataclasses.replace(runtime, links=(*runtime.links, ("strop-test-rebuild", "/nonexistent")))
    tag = build_image(client, own)
    try:
        first = client.images.get(tag).id
        assert build_image(client, own, rebuild=True) == tag
        second = client.images.get(tag).id
        assert second != first  # imported again
        assert first not in {image.id for image in client.images.list(all=True)}  # the old copy is gone
    finally:
        client.api.remove_image(tag, force=True)


def test_run_refuses_to_lend_a_shared_or_huge_folder(tmp_path: Path) -> None:
    """As root, a root-owned workspace is lent to the sandbox user (every owner changes for the
    run): `strop sandbox run` from /tmp once handed its every file to another uid."""
    if os.getuid() != 0:
        done = strop("sandbox", "run", "--", "true", cwd=Path("/tmp"))
        assert done.returncode == 0, done.stderr  # as a normal user nothing changes hands
        return
    shared = strop("sandbox", "run", "--", "true", cwd=Path("/tmp"))
    assert (
        shared.returncode == 2 and "shared or system folder" in shared.stderr and "--workdir" in shared.stderr
    )
    big = tmp_path / "big"
    big.mkdir()
    for index in range(20_001):
        (big / f"f{index}").touch()
    done = strop("sandbox", "run", "--", "true", cwd=big)
    assert done.returncode == 2 and "more than 20,000 files" in done.stderr
    small = tmp_path / "small"
    small.mkdir()
    assert strop("sandbox", "run", "--", "true", cwd=small).returncode == 0
