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


@pytest.hookimpl(tryfirst=True)  # before xdist reads the marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`-n 2 --dist loadgroup`), the tests sharing one Ray cluster stay on one worker.

    Their session fixture starts a two-node cluster (about half a minute); split across
    workers, each would start its own and both would compete for the same two cores.
    The sandbox attacks stay on one worker too: their disk watchdog counts a filesystem's
    growth (64 MiB in those tests), so one attack's disk fill on the other worker would
    kill a concurrent attack as DISK (seen once: the memory bomb reported as a disk fill), and the
    own-limits tests, whose writes must trip that watch, are on it with them: a big deletion on
    the other worker hid a 100 MB write from the file system's growth (seen once in CI).
    """
    for item in items:
        if "executor" in item.path.parts:
            item.add_marker(pytest.mark.xdist_group("ray-cluster"))
        elif item.path.name in ("test_attacks.py", "test_own_limits.py"):
            item.add_marker(pytest.mark.xdist_group("sandbox-attacks"))


def pytest_collection_finish(session: pytest.Session) -> None:
    """On an xdist worker under loadgroup, a grouped test whose id lacks its `@group` means the
    grouping above is silently ignored (pytest 9 with xdist 3.8 did that): stop, don't flake."""
    if not os.environ.get("PYTEST_XDIST_WORKER") or not session.config.getvalue("loadgroup"):
        return
    lost = [
        item.nodeid
        for item in session.items
        if item.get_closest_marker("xdist_group") and "@" not in item.nodeid
    ]
    if lost:
        raise pytest.UsageError(
            f"pytest-xdist's --dist loadgroup is not in effect ({len(lost)} grouped tests, e.g. {lost[0]}): "
            "check the pytest and pytest-xdist versions against pyproject.toml"
        )
