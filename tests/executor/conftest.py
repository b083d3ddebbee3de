"""One real Ray cluster for every test here: a head and a second node, on loopback.

Started once (about half a minute on 2 loaded cores) and torn down at the end; the
pytest process is its driver. Each node offers one CPU, so `--parallel 2` uses both.
Skipped where Ray is not installed (CI installs it: scripts/setup.sh).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("ray")

from agent.executors.cluster import LocalCluster, disconnect  # noqa: E402


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(nodes=2, cpus=1) as running:
        yield running
        disconnect()


@pytest.fixture(autouse=True)
def _leave_cluster_between_tests() -> Iterator[None]:
    """Each test connects on its own (as a fresh `strop` process would)."""
    yield
    disconnect()
