"""The C compiler the numerics tests compile with: a machine without one skips them, but CI, whose
setup (scripts/setup.sh) installs gcc, runs them and fails there instead of skipping a failure."""

import shutil

import pytest

from tests.sandbox.support import in_ci

needs_cc = pytest.mark.skipif(
    shutil.which("cc") is None and not in_ci(),
    reason="needs the system C compiler (scripts/setup.sh installs it)",
)
