"""`strop mle run --llm`: AIDE's moves through the same harness, against the scripted server.

The real CLI, the real `openai` client, sandboxes and git; only the model's words are
scripted. The model first breaks solution.py (the run must survive and show it the
error), then fixes it on its next turn and changes the recipe, then tunes a value. The
prompt must carry the competition's description and a preview of the public rows, and
the API key must reach nothing strop writes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from agent.llm.scripted_server import RecordedRequest, Reply, ScriptedServer
from tests.mle.sklearn_competition import write_sklearn_competition

KEY = "sk-mle-SECRET-51c0ffee"
BROKEN = '    raise RuntimeError("boom: the model broke it")'


def sr(path: str, search: str, replace: str) -> str:
    return f"{path}\n```\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n```\n"


class Model:
    """Breaks the solution, fixes it when told it failed, then tunes the recipe."""

    def __init__(self) -> None:
        self.broke = False

    def __call__(self, request: RecordedRequest) -> Reply:
        if (request.body or {}).get("response_format"):
            return Reply.error(400, "no JSON schemas here")
        prompt = request.prompt
        if "did not succeed" in prompt or "This version failed" in prompt:
            answer = "The raise I added stops main; remove it, and try a linear model.\n\n"
            answer += sr("solution.py", f"def main() -> None:\n{BROKEN}", "def main() -> None:")
            answer += sr("params.json", '"family": "ensemble"', '"family": "linear"')
            return Reply.text(answer)
        if not self.broke:
            self.broke = True
            return Reply.text(
                "Start over.\n\n" + sr("solution.py", "def main() -> None:", f"def main() -> None:\n{BROKEN}")
            )
        return Reply.text("More regularisation.\n\n" + sr("params.json", '"C": 1.0', '"C": 0.3'))


def test_mle_run_with_an_llm_drafts_debugs_and_improves(tmp_path: Path) -> None:
    root = write_sklearn_competition(tmp_path / "wine")
    home, work = tmp_path / "home", tmp_path / "work"
    with ScriptedServer(Model()) as server:
        env = {
            **os.environ,
            "STROP_HOME": str(home),
            "STROP_LLM_URL": server.base_url,
            "STROP_LLM_MODEL": "scripted",
            "STROP_LLM_MAX_TOKENS": "700",  # a small local model's limit, as `run --goal` takes it
            "OPENAI_API_KEY": KEY,
        }
        done = subprocess.run(
            [sys.executable, "-m", "agent.cli", "mle", "run", str(root), "--llm", "-n", "3"]
            + ["--out", str(work), "--json"],
            capture_output=True,
            text=True,
            timeout=400,
            env=env,
        )
        prompts = [request.prompt for request in server.completions]
        limits = [
            (r.body or {}).get("max_tokens") or (r.body or {}).get("max_completion_tokens")
            for r in server.completions
        ]
    assert done.returncode == 0, done.stderr[-3000:]
    assert limits and all(limit is not None and limit <= 700 for limit in limits), limits  # it was 4096
    report = json.loads(done.stdout)
    assert report["valid_submission"] and report["experiments"] == 3 and report["tokens"] > 0

    first = prompts[0]
    assert "Predict `target` for each row of test.csv" in first  # the competition's description
    assert "## fit.csv" in first and "- target (target)" in first and "First rows:" in first
    assert "prepared/private" not in first  # where the answers are is not the model's business
    fixes = [p for p in prompts if "did not succeed" in p or "This version failed" in p]
    assert fixes and "boom: the model broke it" in fixes[0]  # the error reached the model

    log = subprocess.run(
        [sys.executable, "-m", "agent.cli", "log", "--json"], capture_output=True, text=True, env=env
    )
    assert log.returncode == 0, log.stderr
    experiments = json.loads(log.stdout)["experiments"]
    assert [e["proposer"] for e in experiments[1:]] == ["llm", "llm"], experiments
    assert KEY not in log.stdout
    for folder in (home, work):
        for path in folder.rglob("*"):
            if path.is_file() and path.stat().st_size < 5_000_000:
                assert KEY.encode() not in path.read_bytes(), path


class Flaky(Model):
    """Refuses the key (401) until the test says the endpoint is fixed."""

    def __init__(self) -> None:
        super().__init__()
        self.fixed = False

    def __call__(self, request: RecordedRequest) -> Reply:
        if not self.fixed:
            return Reply.error(401, "invalid api key")
        return super().__call__(request)


def test_a_run_stopped_by_the_endpoint_is_resumed_and_graded_once(tmp_path: Path) -> None:
    """`strop resume` of a competition run ends with the report that `strop mle run` would print."""
    from tests.mle.test_run_end_to_end import InotifyOpens

    root = write_sklearn_competition(tmp_path / "wine")
    home, work = tmp_path / "home", tmp_path / "work"
    model = Flaky()
    with ScriptedServer(model) as server, InotifyOpens(root / "prepared" / "private") as audit:
        env = {
            **os.environ,
            "STROP_HOME": str(home),
            "STROP_LLM_URL": server.base_url,
            "STROP_LLM_MODEL": "scripted",
            "OPENAI_API_KEY": KEY,
        }
        cli = [sys.executable, "-m", "agent.cli"]
        stopped = subprocess.run(
            [*cli, "mle", "run", str(root), "--llm", "-n", "3", "--out", str(work), "--json"],
            capture_output=True,
            text=True,
            timeout=400,
            env=env,
        )
        assert stopped.returncode == 2, stopped.stderr[-3000:]
        assert "strop resume" in stopped.stderr and "Traceback" not in stopped.stderr
        assert not (work / "report.json").exists()  # not graded: the run is not over
        run_id = stopped.stderr.split("strop resume ")[1].split("`")[0].strip()
        model.fixed = True
        resumed = subprocess.run(
            [*cli, "resume", run_id, "--json"], capture_output=True, text=True, timeout=400, env=env
        )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    report = json.loads(resumed.stdout)
    assert report["run"] == run_id and report["experiments"] == 3 and report["valid_submission"]
    assert report["competition_id"] and "gold_threshold" in report  # MLE-bench's fields, graded
    assert json.loads((work / "report.json").read_text())["score"] == report["score"]
    answers = [name for name in audit.files if name.endswith(".csv")]
    assert len(answers) == 1, audit.files  # over both commands, the answers were read once
