"""`strop ui` in headless Chromium while a real run is in progress (real CLI, real loop, real git)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

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
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    task = make_live_task(tmp_path / "live", experiments=8, sleep=0.6)
    run = subprocess.Popen(
        cli("run", str(task), "-q"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        run_id = _wait_for_run(isolated_home, run)
        base = serve_ui()
        with chromium() as driver:
            driver.get(f"{base}/runs/{run_id}")
            driver.execute_script("window.stropNoReload = 'same page'")
            first = int(driver.find_element(By.ID, "exp-count").text)
            assert driver.find_element(By.ID, "run-status").text == "running"
            # the count rises through server-sent events, with no reload (the marker survives)
            WebDriverWait(driver, 90, poll_frequency=0.2).until(
                lambda d: int(d.find_element(By.ID, "exp-count").text) > first
            )
            assert driver.execute_script("return window.stropNoReload") == "same page"
            driver.save_screenshot(str(artifacts() / "ui-run.png"))
            assert console_errors(driver) == []
            # open an experiment that changed something and was scored: its idea and diff
            link = WebDriverWait(driver, 90, poll_frequency=0.2).until(
                lambda d: next(
                    (
                        row.find_element(By.CSS_SELECTOR, "a.exp-link")
                        for row in d.find_elements(By.CSS_SELECTOR, "#experiments tr")[1:]
                        if row.find_elements(By.CSS_SELECTOR, "td.st-ok")
                        and row.find_element(By.CSS_SELECTOR, "a.exp-link").text != "0"
                    ),
                    False,
                )
            )
            exp = link.text
            link.click()
            WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "diff"))
            assert driver.current_url.endswith(f"/runs/{run_id}/{exp}")
            diff = driver.find_element(By.ID, "diff").text
            assert "params.json" in diff and "+{" in diff
            assert driver.find_element(By.ID, "idea").text
            assert driver.find_elements(By.CSS_SELECTOR, "#diff .add")
            driver.save_screenshot(str(artifacts() / "ui-experiment.png"))
            assert console_errors(driver) == []
    finally:
        if run.poll() is None:  # the run is not the subject here: end it (strop resume could go on)
            run.terminate()
            run.wait(timeout=30)
