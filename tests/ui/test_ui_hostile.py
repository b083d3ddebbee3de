"""The UI on odd and hostile runs: every page of a real hostile run read as a browser would,
a killed run, logs with colours, redraws and bytes that are not UTF-8."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agent.report.demo import build_demo_run
from agent.run_index import RunIndex
from agent.ui import views
from agent.ui.app import create_app
from evaluators.verdict import Status
from tests.report.hostile import killed_run, make_hostile_task, page_problems, run_task


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    home = tmp_path_factory.mktemp("ui-hostile-home")
    task = make_hostile_task(tmp_path_factory.mktemp("ui-hostile") / "task")
    return home, run_task(task, home)


def test_every_page_of_a_hostile_run_is_inert(hostile: tuple[Path, str]) -> None:
    home, run_id = hostile
    client = TestClient(create_app(home))
    records = RunIndex(home).experiments(run_id)
    urls = ["/", "/nightly", f"/runs/{run_id}", f"/runs/{run_id}/report.html"]
    urls += [f"/runs/{run_id}/{r.id}" for r in records]
    urls += [f"/runs/{run_id}/compare?a={a}&b={b}" for a, b in ((0, 3), (3, 7), (1, 2))]
    for url in urls:
        answer = client.get(url)
        assert answer.status_code == 200, url
        assert page_problems(answer.text) == [], url
    for name in ("curve", "tree", "budget"):  # 1e308 scores and failures drawn, not a 500
        assert client.get(f"/runs/{run_id}/plot/{name}.png").content.startswith(b"\x89PNG")
    page = client.get(f"/runs/{run_id}/3").text
    assert "evil=a\\u202eb\\u200bc\\u2066d" in page and "\\u202erlt\\u200b = 3" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; = 1e+308" in page


def test_a_hostile_log_tail_reads_as_a_terminal_left_it(hostile: tuple[Path, str]) -> None:
    home, run_id = hostile
    client = TestClient(create_app(home))
    text = client.get(f"/runs/{run_id}/2").text
    log = text[text.index('<pre id="log">') :]
    assert "coloured" in log and "[1;31m" not in log and "\\x1b" not in log  # colours dropped
    assert "javascript:" not in log.split("link")[0][-40:]  # an OSC 8 hyperlink's target is dropped too
    assert "progress 100%" in log and "progress 10%" not in log  # \r redraws applied
    assert "not utf-8: \ufffd\ufffd\ufffd( end" in log
    assert "\\u202eevil\\u200b bidi" in log


def test_the_live_stream_of_a_hostile_run_is_inert(hostile: tuple[Path, str]) -> None:
    home, run_id = hostile
    stop = threading.Event()
    client = TestClient(create_app(home, stopping=stop.is_set))
    with client.stream("GET", f"/runs/{run_id}/events") as answer:
        received = ""
        for chunk in answer.iter_text():
            received += chunk
            if "\n\n" in received:
                break
        stop.set()
    event = received.split("\n\n")[0]
    assert event.startswith("event: progress\n")
    html = "\n".join(line.removeprefix("data: ") for line in event.splitlines()[1:])
    assert page_problems(html) == [] and "\\u202e" in html


def test_a_killed_run_is_shown_interrupted_not_live(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run_id = killed_run(tmp_path / "task", home)
    client = TestClient(create_app(home))
    runs = client.get("/").text
    assert 'class="interrupted"' in runs and ">interrupted</td>" in runs
    page = client.get(f"/runs/{run_id}").text
    assert '<span id="run-status" class="interrupted">interrupted:' in page
    assert f"`strop resume {run_id}` continues it" in page and 'class="live"' not in page
    live = views.progress(RunIndex(home), run_id)
    assert live.interrupted and not live.live


def test_failures_and_odd_numbers_render_on_every_page(tmp_path: Path) -> None:
    """Scores of ±1e308 (a scorer may print them) and inf or NaN (an older or edited index)."""
    home = tmp_path / "home"
    run_id = build_demo_run(home, tmp_path / "repo", experiments=6, seed=0)
    index = RunIndex(home)
    records = index.experiments(run_id)
    for record in records[:2]:
        index.put_experiment(replace(record, status=Status.BUGGY, metrics={}))
    odd = (float("inf"), float("nan"), 1e308, -1e308)
    for record, value in zip(records[2:], odd, strict=True):
        index.put_experiment(
            replace(record, status=Status.OK, metrics={"score": value}, eval_seconds=float("inf"))
        )
    client = TestClient(create_app(home), raise_server_exceptions=False)
    for url in (f"/runs/{run_id}", f"/runs/{run_id}/report.html", f"/runs/{run_id}/3"):
        assert client.get(url).status_code == 200, url
    for name in ("curve", "tree", "budget"):
        assert client.get(f"/runs/{run_id}/plot/{name}.png").status_code == 200, name


def test_the_log_tail_reads_only_the_end_of_a_huge_log(tmp_path: Path) -> None:
    log = tmp_path / "huge.log"
    with log.open("wb") as file:
        file.truncate(2 * 1024**3)  # 2 GiB, sparse: read whole, it took seconds and 4 GiB of memory
        file.seek(0, 2)
        file.write("é last line\n".encode() * 3)
    started = time.monotonic()
    tail = views.log_tail(str(log), tmp_path)
    assert time.monotonic() - started < 1.0
    assert tail.endswith("é last line\n") and len(tail) <= views.LOG_TAIL
    assert views.log_tail(str(tmp_path), tmp_path) == "" and views.log_tail("", tmp_path) == ""
