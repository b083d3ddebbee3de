"""Headless Chromium for the browser tests: Debian's `chromium` driven by Selenium, nothing downloaded.

On CI (CI=true) a missing browser is a failure; elsewhere the browser tests are
skipped with the reason. Screenshots go to `build/test-artifacts/screens/` (kept
by CI as artefacts), or to `$STROP_ARTIFACTS/screens/`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[2]


def artifacts() -> Path:
    folder = Path(os.environ.get("STROP_ARTIFACTS") or ROOT / "build" / "test-artifacts") / "screens"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _binaries() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser and driver:
        return browser, driver
    _missing(
        "headless browser tests need Debian's chromium and chromium-driver (scripts/setup.sh installs them)"
    )


def _missing(message: str) -> NoReturn:
    """On CI a missing piece is a failure, never a silent skip; elsewhere the test is skipped, saying why."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A headless Chromium session; closed (and its processes ended) on exit."""
    try:
        from selenium import webdriver
    except ImportError:
        _missing("headless browser tests need selenium (the dev extras: pip install -e '.[dev]')")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = _binaries()
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must never try to download a driver
    options = Options()
    options.binary_location = browser
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        "--disable-extensions",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver: Any) -> list[str]:
    """The browser console's errors since the last call (severe entries only)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]


def broken_images(driver: Any) -> list[str]:
    """The `alt` of every <img> that did not load or has zero size."""
    script = """
        return Array.from(document.images)
            .filter(img => !img.complete || img.naturalWidth === 0 || img.naturalHeight === 0
                           || img.getBoundingClientRect().width === 0)
            .map(img => img.alt || img.src.slice(0, 40));
    """
    return list(driver.execute_script(script))
