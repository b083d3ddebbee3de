"""Copying artifacts out of a workspace: inside only, no symlink followed, bounded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sandbox.artifacts import ArtifactError, copy_artifact, read_artifact


@pytest.fixture
def space(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    (work / "out").mkdir(parents=True)
    (work / "metrics.json").write_text('{"score": 1}')
    (work / "out" / "submission.csv").write_text("id,y\n1,2\n")
    (tmp_path / "secret").write_text("host secret")
    return work


def test_reads_a_regular_file(space: Path) -> None:
    assert read_artifact(space, "metrics.json", 100) == b'{"score": 1}'
    assert read_artifact(space, "./out/submission.csv", 100) == b"id,y\n1,2\n"


def test_copies_to_a_new_file(space: Path, tmp_path: Path) -> None:
    target = copy_artifact(space, "out/submission.csv", tmp_path / "copy.csv", 100)
    assert target.read_text() == "id,y\n1,2\n"


@pytest.mark.parametrize("relpath", ["../secret", "/etc/passwd", "out/../../secret", "", "."])
def test_refuses_paths_that_leave(space: Path, relpath: str) -> None:
    with pytest.raises(ArtifactError, match="workspace"):
        read_artifact(space, relpath, 100)


def test_refuses_symlinked_file_and_folder(space: Path, tmp_path: Path) -> None:
    (space / "evil.json").symlink_to(tmp_path / "secret")
    (space / "root").symlink_to("/")
    (space / "inner.json").symlink_to("metrics.json")  # even one that stays inside
    for relpath in ("evil.json", "root/etc/passwd", "inner.json"):
        with pytest.raises(ArtifactError, match="symlink"):
            read_artifact(space, relpath, 100)


def test_refuses_fifo_and_folder_without_blocking(space: Path) -> None:
    os.mkfifo(space / "pipe.json")
    with pytest.raises(ArtifactError, match="not a regular file"):
        read_artifact(space, "pipe.json", 100)
    with pytest.raises(ArtifactError, match="not a regular file"):
        read_artifact(space, "out", 100)


def test_refuses_too_big_and_missing(space: Path, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="larger than 5 bytes"):
        read_artifact(space, "metrics.json", 5)
    with pytest.raises(ArtifactError, match="larger than"):
        copy_artifact(space, "metrics.json", tmp_path / "partial", 5)
    assert not (tmp_path / "partial").exists()
    with pytest.raises(ArtifactError, match="does not exist"):
        read_artifact(space, "nope.json", 100)
