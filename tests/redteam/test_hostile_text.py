"""Red team: what a candidate prints, read as text by strop's readers, through `strop eval`.

A failed stage's last line of error output becomes the verdict's one-line reason, which
`strop log`, `strop show`, reports and `--json` consumers print. The candidate writes that
line: a terminal escape in it (a hyperlink to anywhere, a window title, a screen clear),
a NUL must arrive without its control characters (inert text, as the CLI shows it).
"""

from __future__ import annotations

from tests.redteam.conftest import HostileTask
from tests.redteam.test_hostile_candidates import evaluate

ESCAPES = r"""
import sys
sys.stdout.buffer.write(b'\x00\xff{"accuracy": 1.0}\x00\n')
sys.stderr.buffer.write(b"\x1b[2J\x1b]0;title\x07 \xc3\x28 \x1b]8;;http://evil.example\x07click\x1b]8;;\x07\n")
sys.exit(3)
"""


def test_escapes_in_the_last_error_line_reach_the_reason_inert(hostile: HostileTask) -> None:
    """Defence: `first_line` drops control characters."""
    hostile.attack(ESCAPES)
    record = evaluate(hostile)
    assert record["status"] == "buggy", record
    reason = record["reason"]
    assert "status 3" in reason and "click" in reason, reason
    assert not any(ch in reason for ch in "\x1b\x07\x00\x9b"), repr(reason)
    assert "]8;;http://evil.example" in reason, reason
    assert "metrics" not in record or not record["metrics"], record
