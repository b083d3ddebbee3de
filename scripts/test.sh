#!/usr/bin/env bash
# strop's one check command: services up, lint, then the whole test suite. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# Two workers (STROP_TEST_WORKERS to change): the tests wait on sandboxes, git and clusters
# as much as they compute; the tests sharing one Ray cluster stay on one worker (tests/conftest.py).
.venv/bin/pytest -q -n "${STROP_TEST_WORKERS:-2}" --dist loadgroup --durations=20 "$@"   # the slowest tests, to keep CI fast
