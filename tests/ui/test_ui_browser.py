"""`strop ui` in headless Chromium while a real run is in progress (real CLI, real loop, real git)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.run_index import RunIndex
from tests.ui.browser import artifacts, chromium, console_errors
from tests.ui.conftest import cli, make_live_task


def _wait_for_run(home: Path, process: subprocess.Popen[str], seconds: float = 90) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        runs = RunIndex(home).runs()
        if runs and RunIndex(home).experiments(runs[0].id):
            return runs[0].id
        assert process.poll() is None, process.communicate()
        time.sleep(0.2)
    raise AssertionError("the run did not start")


def test_live_progress_then_an_experiment_and_its_diff(
    tmp_path: Path, isolated_home: Path, serve_ui: Callable[..., str]
) -> None:
    task = make_live_task(tmp_path / "live", experiments=8, sleep=0.6)
    base = serve_ui()  # server and browser first: the run must still be going when its page opens
    with chromium() as driver:
        run = subprocess.Popen(
            cli("run", str(task), "-q"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            run_id = _wait_for_run(isolated_home, run)
            driver.get(f"{base}/runs/{run_id}")
            _check_live_then_open_an_experiment(driver, run_id)
        finally:
            if run.poll() is None:  # the run is not the subject here: end it (strop resume could go on)
                run.terminate()
                run.wait(timeout=30)


def _text(driver: Any, element_id: str) -> str:
    """An element's text, read in one script (the live part is swapped under us: no stale handles)."""
    return str(driver.execute_script(f"return document.getElementById('{element_id}').textContent")).strip()


OPEN_SCORED_EXPERIMENT = """
    const rows = Array.from(document.querySelectorAll('#experiments tr')).slice(1);
    const row = rows.find(r => r.querySelector('td.st-ok') && r.querySelector('a.exp-link').textContent !== '0');
    if (!row) return null;
    const link = row.querySelector('a.exp-link');
    link.click();
    return link.textContent;
"""


def _check_live_then_open_an_experiment(driver: object, run_id: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    d: Any = driver
    d.execute_script("window.stropNoReload = 'same page'")
    first = int(_text(d, "exp-count"))
    assert _text(d, "run-status") == "running"
    # the count rises through server-sent events, with no reload (the marker survives)
    WebDriverWait(d, 90, poll_frequency=0.2).until(lambda w: int(_text(w, "exp-count")) > first)
    assert d.execute_script("return window.stropNoReload") == "same page"
    d.save_screenshot(str(artifacts() / "ui-run.png"))
    assert console_errors(d) == []
    # open (click) an experiment that changed something and was scored: its idea and diff
    exp = WebDriverWait(d, 90, poll_frequency=0.2).until(lambda w: w.execute_script(OPEN_SCORED_EXPERIMENT))
    WebDriverWait(d, 30).until(lambda w: w.find_elements(By.ID, "diff"))
    assert d.current_url.endswith(f"/runs/{run_id}/{exp}")
    diff = d.find_element(By.ID, "diff").text
    assert "params.json" in diff and "+{" in diff
    assert d.find_element(By.ID, "idea").text
    assert d.find_elements(By.CSS_SELECTOR, "#diff .add")
    d.save_screenshot(str(artifacts() / "ui-experiment.png"))
    assert console_errors(d) == []
