"""Make the README's screenshots: the web UI and a report, of a demo run, in headless Chromium.

    .venv/bin/python scripts/screenshots.py [--out docs/screens]

Builds a 60-experiment demo run (agent.report.demo) in a scratch STROP_HOME, writes its
report, serves `strop ui` on a free loopback port, and saves `ui.png`, `ui-experiment.png`
and `report.png`, each reduced to a 256-colour palette so they stay small in the repo.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def shrink(path: Path) -> None:
    from PIL import Image

    with Image.open(path) as image:
        image.convert("RGB").quantize(colors=256).save(path, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screens")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch) / "home"
        os.environ["STROP_HOME"] = str(home)
        os.environ["SE_OFFLINE"] = "true"
        from agent.report import gather, write_report
        from agent.report.demo import build_demo_run
        from agent.run_index import RunIndex

        run_id = build_demo_run(home, Path(scratch) / "repo", experiments=60, seed=7)
        page = Path(scratch) / "report.html"
        data = gather(RunIndex(home), run_id, home)
        write_report(data, page)
        best = data.best.id if data.best else 0
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "ui", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    urllib.request.urlopen(base + "/", timeout=2)
                    break
                except OSError:
                    time.sleep(0.2)
            options = Options()
            options.binary_location = shutil.which("chromium") or "chromium"
            for flag in (
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--window-size=1200,860",
                "--hide-scrollbars",
            ):
                options.add_argument(flag)
            driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
            try:
                args.out.mkdir(parents=True, exist_ok=True)
                shots = {
                    "ui.png": f"{base}/runs/{run_id}",
                    "ui-experiment.png": f"{base}/runs/{run_id}/{best}",
                    "report.png": page.as_uri(),
                }
                for name, url in shots.items():
                    driver.get(url)
                    time.sleep(1.5)  # images and the live stream settle
                    driver.save_screenshot(str(args.out / name))
                    shrink(args.out / name)
                    print(f"wrote {args.out / name} ({(args.out / name).stat().st_size / 1024:.0f} KiB)")
            finally:
                driver.quit()
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
