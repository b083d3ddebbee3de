"""Fixtures for the sandbox tests: real backends (see `support`), a workspace per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.execution import Sandbox
from tests.sandbox.support import ALL, STRONG, require_backend


@pytest.fixture(params=ALL)
def backend(request: pytest.FixtureRequest) -> Sandbox:
    return require_backend(request.param)


@pytest.fixture(params=STRONG)
def strong_backend(request: pytest.FixtureRequest) -> Sandbox:
    return require_backend(request.param)


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "workspace"
    folder.mkdir()
    yield folder
