"""A strop home moved or copied reads its own runs' evaluation logs, never the original home's.

Each experiment's record (a git note, never rewritten) names its evaluation log, and the
best's hidden-test log, by the absolute path under the home that wrote them. In a moved home
`strop audit` reported every earlier log missing and `strop show` printed no log tail; in a
copy both read the ORIGINAL home's logs: the copy's audit vouched for files it does not hold
(an edit to its own went unseen) and its `show` printed another home's log. A stored path
`…/runs/RUN/logs/FILE` is now read as this home's `runs/RUN/logs/FILE` when it has the run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from fastapi.testclient import TestClient

from agent.ui.app import create_app

from .conftest import make_task
from .test_home_copied import started, strop


def _unwrapped(text: str) -> str:
    """`text` without any whitespace: a long path may be folded at the terminal's width."""
    return "".join(text.split())


def test_a_moved_home_audits_and_shows_its_logs(tmp_path: Path) -> None:
    first, moved = tmp_path / "home", tmp_path / "elsewhere" / "home"
    run_id = started(first, make_task(tmp_path / "t", experiments=3), 3)
    moved.parent.mkdir()
    shutil.move(first, moved)

    audit = strop(moved, "audit", run_id)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "is whole: 3 experiments" in audit.stdout
    shown = strop(moved, "show", f"{run_id}/best")
    assert shown.returncode == 0, shown.stderr
    assert f"logtail({moved / 'runs' / run_id / 'logs'}/" in _unwrapped(shown.stdout), shown.stdout
    assert '{"score":' in shown.stdout


def test_a_copied_home_reads_its_own_logs_not_the_originals(tmp_path: Path) -> None:
    original, copy = tmp_path / "home", tmp_path / "copy"
    run_id = started(original, make_task(tmp_path / "t", experiments=3), 3)
    shutil.copytree(original, copy, symlinks=True)
    (log,) = (copy / "runs" / run_id / "logs").glob("1-*.log")
    kept = log.read_bytes()
    log.write_bytes(kept + b"edited in the copy\n")

    audit = strop(copy, "audit", run_id)
    assert audit.returncode == 1, audit.stdout + audit.stderr
    assert f"{log}changedafteritwasrecorded" in _unwrapped(audit.stdout), audit.stdout
    assert strop(original, "audit", run_id).returncode == 0, "the original's logs are untouched"
    shown = strop(copy, "show", f"{run_id}/1")
    assert "edited in the copy" in shown.stdout, shown.stdout
    page = TestClient(create_app(copy)).get(f"/runs/{run_id}/1")
    assert page.status_code == 200 and "edited in the copy" in page.text

    log.write_bytes(kept)
    shutil.rmtree(original)  # the copy stands alone: every log it checks, the hidden test's too, is its own
    audit = strop(copy, "audit", run_id)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "is whole: 3 experiments" in audit.stdout


def test_only_a_run_this_home_has_is_read_here(tmp_path: Path) -> None:
    """Another home's log of a run this home lacks is read where written; so is any other path."""
    from agent.home import log_place

    home = tmp_path / "home"
    (home / "runs" / "abc123").mkdir(parents=True)
    ours = home / "runs" / "abc123" / "logs" / "4-validate.log"
    assert log_place(home, "/old/home/runs/abc123/logs/4-validate.log") == ours  # even not there yet
    for elsewhere in (
        "/old/home/runs/fff000/logs/4-validate.log",
        "/old/home/runs/../logs/4-validate.log",
        "/var/log/remote.log",
    ):
        assert log_place(home, elsewhere) == Path(elsewhere)
