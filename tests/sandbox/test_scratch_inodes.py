"""bwrap's watch on the inodes of a sandbox's /tmp and /dev/shm judges the sandbox's, never the host's.

bwrap names its child's pid on `--info-fd` as soon as it has cloned it, before it mounts the
sandbox's /tmp: /proc/PID/root/tmp was then still the host's (193 starts of 200), and its 1.37
million inodes were counted against the sandbox's 250,000. An honest candidate was stopped for
"disk" 0.12 s into its run, with no note to say why.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from sandbox.bubblewrap import _SandboxInit
from sandbox.disk import files_used, host_devices, scratch_files_used
from sandbox.execution import KilledBy, Limits
from tests.sandbox.support import require_backend


def host_tmp_files() -> int:
    """Inodes in use on the host's /tmp; the tests need some for the old watch to count."""
    used = files_used(Path("/tmp"))
    if used <= 1:
        pytest.skip("the host's /tmp counts no inodes here (statvfs gives none)")
    return used


def test_a_root_that_is_still_the_hosts_is_not_counted() -> None:
    host_tmp_files()
    assert scratch_files_used(Path(f"/proc/{os.getpid()}/root/tmp"), host_devices()) is None
    assert scratch_files_used(Path(f"/proc/{os.getpid()}/root/dev/shm"), host_devices()) is None


def test_the_watch_does_not_stop_a_sandbox_whose_tmp_is_still_the_hosts() -> None:
    """The pid bwrap names, while its root is still the host's: here a process outside any sandbox
    stands in for it, deterministically. The limit is half the host's /tmp's inodes."""
    limit = host_tmp_files() // 2
    stand_in = subprocess.Popen(["sleep", "30"])
    info_read, info_write = os.pipe()
    try:
        os.write(info_write, json.dumps({"child-pid": stand_in.pid}).encode())
        init = _SandboxInit(info_read, limit)
        assert init() is None and init.note is None
        assert init.take() == stand_in.pid
    finally:
        stand_in.kill()
        stand_in.wait()
        os.close(info_read)
        os.close(info_write)


FLOOD = """
import os, tempfile
folder = tempfile.mkdtemp()
for made in range(1, 20_001):
    open(os.path.join(folder, f"f{made}"), "w").close()
print("made", made)
"""


def test_a_flood_of_the_sandboxs_own_tmp_is_stopped_with_a_note(tmp_path: Path) -> None:
    """The watch still judges the sandbox's /tmp once it is mounted, and says why it stopped it."""
    sandbox = require_backend("bwrap")
    limits = replace(Limits(), files=2_000, timeout=30)
    execution = sandbox.run(["python", "-c", FLOOD], tmp_path, limits, env={"TMPDIR": "/tmp"})
    assert execution.killed_by is KilledBy.DISK, execution.tail()
    assert any("the sandbox's /tmp holds" in note for note in execution.notes), execution.notes
