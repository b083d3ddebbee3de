"""strop in awkward environments: a locale that is not UTF-8, stdout closed, a read-only home.

Under en_US.ISO-8859-1 (or C with Python's UTF-8 mode off) strop's own `·`, `…` and `★` killed
`strop --help` halfway, a lesson holding an en dash killed every run after the first at
experiment 1, and `strop run` lost its summary table after all its work; `--json` into a closed
stdout and a read-only STROP_HOME were "internal error"s.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ASCII = {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONPATH": str(ROOT)}


def strop(*args: str, env: dict[str, str], **more: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
        **more,  # type: ignore[arg-type]
    )


def test_help_prints_whole_in_an_ascii_locale(tmp_path: Path) -> None:
    done = strop("--help", env={**ASCII, "STROP_HOME": str(tmp_path / "home")})
    assert done.returncode == 0, done.stderr
    assert "★" in done.stdout and "internal error" not in done.stderr


def test_strop_writes_its_files_in_utf8_whatever_the_locale(tmp_path: Path) -> None:
    script = (
        "import sys; from pathlib import Path; from agent.atomic_file import write_atomically; "
        "write_atomically(Path(sys.argv[1]), 'learning_rate=0.01\\u2013 0.3 \\u00b7 ok')"
    )
    path = tmp_path / "lesson.txt"
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        env={**os.environ, **ASCII},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert path.read_text(encoding="utf-8") == "learning_rate=0.01– 0.3 · ok"


def test_json_into_a_closed_stdout_is_no_internal_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "runs", "--json"],
        env={**os.environ, "STROP_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)},
        stdout=None,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=lambda: os.close(1),
    )
    assert done.returncode == 0, done.stderr
    assert "internal error" not in done.stderr


def test_a_read_only_home_is_one_line_naming_the_place(tmp_path: Path) -> None:
    """Read-only as root by a read-only mount (CI runs as root: modes do not stop root), as
    anyone else by its mode."""
    home = tmp_path / "home"
    home.mkdir()
    as_root = os.geteuid() == 0
    if as_root:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(home)], check=True)
    else:
        home.chmod(0o555)
    try:
        done = strop("runs", env={"STROP_HOME": str(home), "PYTHONPATH": str(ROOT)})
    finally:
        if as_root:
            subprocess.run(["umount", str(home)], check=False)
        else:
            home.chmod(0o755)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: strop cannot write "), done.stderr
    assert f"{home}: not writable" in done.stderr and "STROP_HOME" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_an_error_line_never_carries_an_escape_sequence(tmp_path: Path) -> None:
    """The last line quotes what strop was given or told (a path, an endpoint's error body):
    an ESC sequence in it cleared the terminal or retitled it."""
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "eval", str(tmp_path / "nope\x1b[2J\x1b]0;owned\x07")],
        capture_output=True,
        text=True,
        env={**os.environ, "STROP_HOME": str(tmp_path / "home")},
    )
    assert done.returncode == 2 and "no such task file" in done.stderr
    assert "\x1b" not in done.stderr and "\x07" not in done.stderr, repr(done.stderr)
