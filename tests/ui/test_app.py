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


def test_experiment_numbers_are_plain_digits_of_any_size(demo: tuple[Path, str]) -> None:
    """Numbers past SQLite's integers are 404, not 500; int()'s other spellings name no experiment."""
    home, run_id = demo
    client = TestClient(create_app(home))
    assert client.get(f"/runs/{run_id}/01").status_code == 200
    for exp in ("99999999999999999999", "9223372036854775808", "1_0", "+1", "%201", "%D9%A1"):
        assert client.get(f"/runs/{run_id}/{exp}").status_code == 404, exp
    for a, b in (("99999999999999999999", "0"), ("0", "1_0"), ("+1", "0"), ("", "")):
        assert client.get(f"/runs/{run_id}/compare", params={"a": a, "b": b}).status_code == 404, (a, b)
    assert client.get(f"/runs/{run_id}/compare").status_code == 404


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
    jobs.write_bytes(b"\xff\xfe garbage [[[\n")
    broken = TestClient(create_app(tmp_path, jobs=jobs)).get("/nightly")
    assert broken.status_code == 200 and "not UTF-8 text" in broken.text


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


def test_a_metric_name_with_dollar_signs_is_drawn_not_a_500(tmp_path: Path) -> None:
    from tests.report.test_report import MATHTEXT_METRIC, rename_metric

    run_id = build_demo_run(tmp_path, tmp_path / "repo", experiments=3, seed=1)
    rename_metric(tmp_path, run_id, MATHTEXT_METRIC)
    client = TestClient(create_app(tmp_path))
    for name in ("curve", "tree", "budget"):
        plot = client.get(f"/runs/{run_id}/plot/{name}.png")
        assert plot.status_code == 200 and plot.content.startswith(b"\x89PNG"), name
    report = client.get(f"/runs/{run_id}/report.html")
    assert report.status_code == 200 and "loss $\\frac{$ &lt;b&gt;" in report.text
    assert client.get(f"/runs/{run_id}").status_code == 200


def test_a_foreign_host_header_is_refused(demo: tuple[Path, str]) -> None:
    """DNS rebinding: a page on attacker.example resolving to 127.0.0.1 still sends its own name."""
    home, run_id = demo
    client = TestClient(create_app(home))
    for host in ("attacker.example:8799", "attacker.example", "127.0.0.1.attacker.example", "[::2]", "a:b:c"):
        refused = client.get(f"/runs/{run_id}/2", headers={"Host": host})
        assert refused.status_code == 400 and "Host" in refused.text, host
        assert "params.json" not in refused.text
    assert client.get("/static/htmx.min.js", headers={"Host": "attacker.example"}).status_code == 400
    for host in ("localhost:8799", "127.0.0.1", "127.0.0.1:8799", "[::1]:8799", "LOCALHOST.", "testserver"):
        assert client.get(f"/runs/{run_id}/2", headers={"Host": host}).status_code == 200, host
    named = TestClient(create_app(home, allowed_hosts=["box.example"]))
    assert named.get("/", headers={"Host": "box.example:8765"}).status_code == 200
    assert named.get("/", headers={"Host": "attacker.example:8765"}).status_code == 400


IMAGE_FROM_ANOTHER_SITE = {
    "Sec-Fetch-Site": "cross-site",
    "Sec-Fetch-Mode": "no-cors",
    "Sec-Fetch-Dest": "image",
}


def test_another_sites_page_cannot_tell_which_runs_exist(demo: tuple[Path, str]) -> None:
    """`<img src=http://127.0.0.1:8765/runs/NAME/plot/curve.png>` on any site: load or error told it
    whether NAME was a run here. Every such request now gets the same refusal, before any lookup."""
    home, run_id = demo
    client = TestClient(create_app(home))
    answers = {
        name: client.get(
            f"/runs/{name}/plot/curve.png",
            headers={**IMAGE_FROM_ANOTHER_SITE, "Referer": "https://evil.example/"},
        )
        for name in (run_id, run_id[:2], "nosuchrun")
    }
    assert {name: a.status_code for name, a in answers.items()} == {
        run_id: 403,
        run_id[:2]: 403,
        "nosuchrun": 403,
    }
    assert len({a.text for a in answers.values()}) == 1
    for site in ("cross-site", "same-site"):  # another port on localhost is another site's page too
        for mode, dest in (("cors", "empty"), ("no-cors", "script"), ("navigate", "iframe")):
            headers = {"Sec-Fetch-Site": site, "Sec-Fetch-Mode": mode, "Sec-Fetch-Dest": dest}
            assert client.get(f"/runs/{run_id}", headers=headers).status_code == 403, (site, mode, dest)
    posted = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
    assert client.post(f"/runs/{run_id}", headers=posted).status_code == 403  # a form from another site


def test_the_uis_own_pages_typed_urls_and_followed_links_are_served(demo: tuple[Path, str]) -> None:
    home, run_id = demo
    client = TestClient(create_app(home))
    own = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"}
    assert client.get(f"/runs/{run_id}/plot/curve.png", headers=own).content.startswith(b"\x89PNG")
    typed = {"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
    linked = {**typed, "Sec-Fetch-Site": "cross-site"}  # a link followed from a chat or a mail
    for headers in (typed, linked, {}):  # {}: curl, or a browser without fetch metadata
        assert client.get(f"/runs/{run_id}", headers=headers).status_code == 200, headers
    assert client.get("/static/htmx.min.js", headers={**own, "Sec-Fetch-Dest": "script"}).status_code == 200


def test_every_response_carries_the_browser_security_headers(demo: tuple[Path, str]) -> None:
    home, run_id = demo
    client = TestClient(create_app(home, token="t" * 24))
    answers = [
        client.get("/"),  # 401, before the token
        client.get("/", params={"token": "t" * 24}),
        client.get(f"/runs/{run_id}"),
        client.get(f"/runs/{run_id}/999"),
        client.get(f"/runs/{run_id}/plot/tree.png"),
        client.get("/static/strop.css"),
        client.get("/", headers={"Host": "attacker.example"}),
        client.get("/", headers={"Sec-Fetch-Site": "cross-site"}),
    ]
    assert [a.status_code for a in answers] == [401, 200, 200, 404, 200, 200, 400, 403]
    for answer in answers:
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
        assert answer.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    assert "script-src 'self'" in answers[2].headers["Content-Security-Policy"]
    report = client.get(f"/runs/{run_id}/report.html")
    assert "img-src data:" in report.headers["Content-Security-Policy"]  # its plots are inline
    assert "script-src" not in report.headers["Content-Security-Policy"]  # and it has no scripts


def test_head_is_answered_where_get_is(demo: tuple[Path, str]) -> None:
    home, run_id = demo
    client = TestClient(create_app(home))
    for url in ("/", f"/runs/{run_id}", f"/runs/{run_id}/1", "/nightly", "/static/strop.css"):
        answer = client.head(url)
        assert answer.status_code == 200 and answer.content == b"", url
    assert client.head(f"/runs/{run_id}/999").status_code == 404


def test_a_run_without_experiments_shows_no_broken_plot(tmp_path: Path) -> None:
    from agent.search_recorder import PointRecord, SearchRecorder
    from evaluators.metric import Direction

    def point(item: dict[str, float]) -> PointRecord:
        return PointRecord(idea="p", files={}, metrics=item)

    recorder = SearchRecorder(tmp_path, "empty-search", "max_ulp", Direction.MINIMIZE, point, "nothing")
    run = recorder.start()
    recorder.finish()
    client = TestClient(create_app(tmp_path))
    page = client.get(f"/runs/{run.id}")
    assert page.status_code == 200 and 'id="no-curve"' in page.text
    assert "/plot/" not in page.text  # every <img> on the page would 404
    assert client.get(f"/runs/{run.id}/plot/curve.png").status_code == 404


def test_the_real_server_refuses_a_rebinding_host_and_answers_head(
    demo: tuple[Path, str], serve_ui, monkeypatch: pytest.MonkeyPatch
) -> None:
    import urllib.error
    import urllib.request

    home, run_id = demo
    monkeypatch.setenv("STROP_HOME", str(home))
    base = serve_ui("--allow-host", "box.example")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(
            urllib.request.Request(f"{base}/runs/{run_id}/2", headers={"Host": "attacker.example:8799"})
        )
    assert refused.value.code == 400
    port = base.rsplit(":", 1)[1]
    for host in (f"localhost:{port}", f"box.example:{port}"):
        request = urllib.request.Request(f"{base}/runs/{run_id}/2", headers={"Host": host})
        with urllib.request.urlopen(request) as answer:
            assert answer.status == 200 and answer.headers["X-Frame-Options"] == "DENY"
    with urllib.request.urlopen(urllib.request.Request(base + "/", method="HEAD")) as answer:
        assert answer.status == 200 and answer.read() == b""
    with pytest.raises(urllib.error.HTTPError) as embedded:  # another site's <img>, as a browser sends it
        urllib.request.urlopen(
            urllib.request.Request(f"{base}/runs/{run_id}/plot/curve.png", headers=IMAGE_FROM_ANOTHER_SITE)
        )
    assert (
        embedded.value.code == 403 and embedded.value.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    )
