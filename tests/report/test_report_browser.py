"""A report opened in headless Chromium: every plot rendered, no console errors, no network."""

from __future__ import annotations

from pathlib import Path

from agent.report import gather, write_report
from agent.report.demo import build_demo_run
from agent.run_index import RunIndex
from tests.ui.browser import artifacts, broken_images, chromium, console_errors


def test_every_plot_renders_in_chromium(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run_id = build_demo_run(home, tmp_path / "repo", experiments=30, seed=5)
    page = tmp_path / "report.html"
    plots = write_report(gather(RunIndex(home), run_id, home), page)
    with chromium() as driver:
        driver.get(page.as_uri())
        images = driver.find_elements("css selector", "figure img")
        assert len(images) == len(plots) == 3
        assert broken_images(driver) == []
        sizes = [
            driver.execute_script("return [arguments[0].naturalWidth, arguments[0].naturalHeight]", i)
            for i in images
        ]
        assert all(w > 300 and h > 150 for w, h in sizes), sizes
        assert console_errors(driver) == []
        assert "strop report" in driver.title
        driver.save_screenshot(str(artifacts() / "report.png"))
