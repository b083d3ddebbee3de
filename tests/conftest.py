"""Project-wide test fixtures: every test gets its own STROP_HOME and a clean environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """strop's own state goes to a fresh folder; nothing leaks between tests or to ~/.strop."""
    home = tmp_path_factory.mktemp("strop-home")
    monkeypatch.setenv("STROP_HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("STROP_DEBUG", raising=False)
    return home


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
