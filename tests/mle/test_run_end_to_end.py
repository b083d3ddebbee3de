"""`strop mle run` end to end through the real CLI: sandboxes, git, the final grading, the audit.

A competition in MLE-bench's exact layout, built from scikit-learn's wine data, that strop
has never seen; no code written by the user. Every open of the private folder, by any
process (the sandboxes included), is recorded with inotify.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.mle.conftest import write_competition
from tests.mle.sklearn_competition import write_sklearn_competition
from tests.mle.test_grading import MLE_BENCH_FIELDS

IN_OPEN = 0x00000020
IN_ISDIR = 0x40000000
EVENT = struct.Struct("iIII")


class InotifyOpens:
    """The names of the files opened in a folder while the context is open, by any process."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: list[str] = []
        self.libc = ctypes.CDLL(None, use_errno=True)

    def __enter__(self) -> InotifyOpens:
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK)
        if self.fd < 0 or self.libc.inotify_add_watch(self.fd, str(self.folder).encode(), IN_OPEN) < 0:
            pytest.skip(f"inotify unavailable: {os.strerror(ctypes.get_errno())}")
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            while True:
                try:
                    data = os.read(self.fd, 65536)
                except BlockingIOError:
                    break
                except OSError as error:
                    if error.errno == errno.EAGAIN:
                        break
                    raise
                self._parse(data)
        finally:
            os.close(self.fd)

    def _parse(self, data: bytes) -> None:
        offset = 0
        while offset < len(data):
            _wd, mask, _cookie, length = EVENT.unpack_from(data, offset)
            name = data[offset + EVENT.size : offset + EVENT.size + length].rstrip(b"\0").decode()
            offset += EVENT.size + length
            if mask & IN_OPEN and not mask & IN_ISDIR and name:
                self.files.append(name)


def strop(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.slow
def test_mle_run_finds_a_medal_and_reads_the_private_answers_once(tmp_path: Path) -> None:
    root = write_sklearn_competition(tmp_path / "wine")
    with InotifyOpens(root / "prepared" / "private") as audit:
        done = strop(
            "mle", "run", str(root), "-n", "2", "--seed", "0", "--out", str(tmp_path / "work"), "--json"
        )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert set(report) >= MLE_BENCH_FIELDS
    assert (
        report["competition_id"] == "sk-wine" and report["valid_submission"] and report["submission_exists"]
    )
    assert report["score"] >= report["bronze_threshold"] and report["any_medal"]
    assert report["experiments"] == 2 and report["best_branch"].startswith("strop/")
    assert report["holdout_score"] is not None and report["tokens"] == 0
    train = (root / "prepared" / "public" / "train.csv").read_text(encoding="utf-8")
    assert report["holdout_rows"] == len(train.splitlines()) - 1  # a small train split: folds judge every row
    assert audit.files == ["test.csv"]  # the final grading's one read; selection never opened it
    assert json.loads((tmp_path / "work" / "report.json").read_text(encoding="utf-8")) == report
    from agent.home import strop_home
    from agent.report import gather
    from agent.run_index import RunIndex

    data = gather(RunIndex(strop_home()), report["run"], strop_home())  # `strop report` draws them
    assert data.thresholds == {
        name: report[f"{name}_threshold"] for name in ("gold", "silver", "bronze", "median")
    }


def test_mle_run_on_a_broken_competition_is_one_line_and_exit_2(tmp_path: Path) -> None:
    root = write_competition(tmp_path / "c")
    (root / "config.yaml").write_text("id: c\ngrader:\n  name: telepathy\n", encoding="utf-8")
    done = strop("mle", "run", str(root), "--out", str(tmp_path / "work"), timeout=60)
    assert done.returncode == 2 and "unknown metric 'telepathy'" in done.stderr
    assert done.stderr.count("\n") == 1 and not (tmp_path / "work").exists()


def test_mle_run_with_a_bad_time_is_one_line_and_exit_2(tmp_path: Path) -> None:
    root = write_competition(tmp_path / "c")
    done = strop("mle", "run", str(root), "--time", "soon", timeout=60)
    assert done.returncode == 2 and done.stderr.startswith("error: --time:")
