"""The UI's pages over a real demo run (real git and index), through Starlette's test client."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agent.nightly.history import History, NightRecord
from agent.report.demo import build_demo_run
from agent.ui.app import create_app
from tests.ui.conftest import cli, free_port


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    home = tmp_path_factory.mktemp("ui-home")
    return home, build_demo_run(home, tmp_path_factory.mktemp("ui-demo") / "repo", experiments=12, seed=2)


def test_runs_run_experiment_and_compare_pages(demo: tuple[Path, str]) -> None:
    home, run_id = demo
    client = TestClient(create_app(home))
    runs = client.get("/")
    assert runs.status_code == 200 and f'href="/runs/{run_id}"' in runs.text
    page = client.get(f"/runs/{run_id}")
    assert page.status_code == 200
    assert '<span id="exp-count" class="counter">12</span>' in page.text
    assert f'sse-connect="/runs/{run_id}/events"' in page.text
    assert page.text.count('class="exp-link"') == 12 and 'id="tree"' in page.text
    exp = client.get(f"/runs/{run_id}/3")
    assert exp.status_code == 200
    assert "params.json" in exp.text and 'class="add"' in exp.text and "mutate" in exp.text
    side = client.get(f"/runs/{run_id}/compare", params={"a": 1, "b": 3})
    assert side.status_code == 200
    assert side.text.count('class="column"') == 2 and "Diff from 1 to 3" in side.text
    plot = client.get(f"/runs/{run_id}/plot/tree.png")
    assert plot.status_code == 200 and plot.content.startswith(b"\x89PNG")
    assert client.get(f"/runs/{run_id}/plot/pareto.png").status_code == 404  # a run has no front
    assert client.get("/static/htmx.min.js").status_code == 200
    report = client.get(f"/runs/{run_id}/report.html")
    assert report.status_code == 200 and report.text.count("data:image/png;base64,") == 3


def test_unknown_things_are_404_not_500(demo: tuple[Path, str]) -> None:
    home, run_id = demo
    client = TestClient(create_app(home))
    assert client.get("/runs/zzzz").status_code == 404
    assert client.get(f"/runs/{run_id}/999").status_code == 404
    assert client.get(f"/runs/{run_id}/plot/nope.png").status_code == 404


def test_a_token_guards_every_page(demo: tuple[Path, str]) -> None:
    home, run_id = demo
    client = TestClient(create_app(home, token="t" * 24))
    assert client.get("/").status_code == 401
    assert client.get("/static/htmx.min.js").status_code == 401
    assert client.get("/", params={"token": "wrong" * 5}).status_code == 401
    assert client.get("/", params={"token": "t" * 24}).status_code == 200
    assert client.get(f"/runs/{run_id}").status_code == 200  # the cookie carries it from then on


def test_nightly_page_lists_the_history(tmp_path: Path) -> None:
    history = History(tmp_path)
    history.put(
        NightRecord(
            job="digits",
            night="2026-12-01T02:00",
            kind="run",
            started="x",
            status="done",
            run="abc123",
            metric="accuracy",
            direction="maximize",
            best_metric=0.97,
            previous_metric=0.95,
        )
    )
    page = TestClient(create_app(tmp_path)).get("/nightly")
    assert page.status_code == 200
    assert "digits" in page.text and 'href="/runs/abc123"' in page.text and "+0.02" in page.text
    jobs = tmp_path / "jobs.toml"
    jobs.write_text('[jobs.digits]\ntask = "t"\nschedule = "0 2 * * *"\nbudget = { time = "1h" }\n')
    listed = TestClient(create_app(tmp_path, jobs=jobs)).get("/nightly").text
    assert '<table id="jobs">' in listed and "<code>0 2 * * *</code>" in listed and "time 3600s" in listed
    assert "T02:00</td>" in listed  # the next run
    jobs.write_text("[jobs.x]\nschedule = 1\n")
    assert "jobs.x.schedule" in TestClient(create_app(tmp_path, jobs=jobs)).get("/nightly").text


def test_binding_beyond_loopback_needs_a_real_token() -> None:
    done = subprocess.run(
        cli("ui", "--host", "0.0.0.0", "--token", "short"), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and done.stderr.startswith("error:") and "16 characters" in done.stderr


def test_a_token_is_made_up_when_bound_beyond_loopback() -> None:
    process = subprocess.Popen(
        cli("ui", "--host", "0.0.0.0", "--port", str(free_port())),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "?token=" in line and len(line.split("?token=")[1].split()[0]) >= 24
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_search_shows_its_front(tmp_path: Path) -> None:
    import json

    from agent.search_recorder import PointRecord, SearchRecorder
    from evaluators.metric import Direction

    def point(item: dict[str, float]) -> PointRecord:
        return PointRecord(idea=f"cost {item['cost']}", files={"p.json": json.dumps(item)}, metrics=item)

    recorder = SearchRecorder(tmp_path, "toy-search", "max_ulp", Direction.MINIMIZE, point, "a toy search")
    run = recorder.start()
    for cost, ulp in [(3.0, 900.0), (5.0, 0.9)]:
        recorder.record_point({"cost": cost, "max_ulp": ulp}, generation=1)
    recorder.finish()
    client = TestClient(create_app(tmp_path))
    assert f"/runs/{run.id}/plot/pareto.png" in client.get(f"/runs/{run.id}").text
    assert client.get(f"/runs/{run.id}/plot/pareto.png").content.startswith(b"\x89PNG")


def test_candidate_text_is_escaped_on_every_page(tmp_path: Path) -> None:
    from dataclasses import replace

    from agent.run_index import RunIndex

    run_id = build_demo_run(tmp_path, tmp_path / "repo", experiments=3, seed=1)
    index = RunIndex(tmp_path)
    record = index.experiments(run_id)[1]
    index.put_experiment(
        replace(record, idea="<script>alert(1)</script>", reason="<img src=x onerror=alert(2)>")
    )
    client = TestClient(create_app(tmp_path))
    for url in (f"/runs/{run_id}", f"/runs/{run_id}/1", f"/runs/{run_id}/compare?a=0&b=1"):
        text = client.get(url).text
        assert "<script>alert(1)" not in text and "&lt;script&gt;alert(1)" in text, url
        assert "<img src=x" not in text, url


def test_ctrl_c_ends_the_server_while_a_live_stream_is_open(tmp_path: Path) -> None:
    import os
    import signal
    import urllib.request

    from tests.ui.conftest import wait_for

    run_id = build_demo_run(tmp_path, tmp_path / "repo", experiments=2, seed=1)
    port = free_port()
    server = subprocess.Popen(
        cli("ui", "--port", str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "STROP_HOME": str(tmp_path)},
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/")
        stream = urllib.request.urlopen(f"http://127.0.0.1:{port}/runs/{run_id}/events", timeout=30)
        assert stream.readline().startswith(b"event: progress")  # a browser tab, live
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=15)
        assert server.returncode in (0, 130) and "Traceback" not in output  # 130: the usual Ctrl-C status
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
