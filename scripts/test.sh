#!/usr/bin/env bash
# strop's one check command: services up, lint, then the whole test suite. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/pytest -q --durations=20 "$@"   # the slowest tests, to keep CI fast
