"""A lesson learns what the proposer read of a failure, never the evaluation's log.

Lessons reach later runs' prompts (other tasks' too). The log holds every line a scorer
printed, though only its last error line may reach the proposer (a scorer reads private
answers), and the host's paths of the throwaway copy (the user's name, strop's home),
which the verdict names `<work>`.
"""

from __future__ import annotations

from pathlib import Path

from agent.home import knowledge_dir, strop_home
from agent.loop import start_run
from agent.run_index import RunIndex
from agent.task import load_task
from evaluators.verdict import Status
from knowledge import Memory

MAKE = """import json, os
x = json.load(open("params.json"))["x"]
if x > 0:
    raise RuntimeError("diverged at x=%s" % x)
open(os.path.join(os.environ["STROP_OUTPUTS"], "out.json"), "w").write(json.dumps({"x": x}))
"""

SCORE = """import json, os, sys
x = json.load(open(os.path.join(os.environ["STROP_OUTPUTS"], "out.json")))["x"]
if x < -0.5:
    print("expected label of row 7: PRIVATE-ANSWER-7731", file=sys.stderr)
    raise SystemExit("the scorer cannot score this output")
print(json.dumps({"loss": (x + 0.3) ** 2}))
"""

TASK = """[task]
name = "lessons-see-the-verdict"
goal = "minimise the loss"
workspace = "ws"

[evaluator]
run = "python make.py"
score = "python -I score.py"
scorer = "scorer"
metric = "loss"
direction = "minimize"
timeout = "20s"
sandbox = "bwrap"
score_sandbox = "bwrap"

[budget]
experiments = 8

[search]
seed = 3

[knowledge]
memory = true

[proposer]
params_file = "params.json"

[space]
x = { type = "float", low = -1, high = 1 }
"""


def test_lessons_hold_neither_the_scorers_other_lines_nor_host_paths(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir(parents=True)
    (workspace / "make.py").write_text(MAKE)
    (workspace / "params.json").write_text('{"x": -0.9}')  # experiment 0: the scorer fails
    (workspace.parent / "scorer").mkdir()
    (workspace.parent / "scorer" / "score.py").write_text(SCORE)
    (workspace.parent / "task.toml").write_text(TASK)

    result = start_run(load_task(workspace.parent / "task.toml"), strop_home(), RunIndex(strop_home()))
    statuses = {record.status for record in result.records}
    assert Status.BUGGY in statuses, [(r.id, r.status, r.reason) for r in result.records]
    logs = "".join(Path(r.log_path).read_text() for r in result.records if r.log_path)
    home = str(strop_home())  # the throwaway copies live there: the traceback names it
    assert "PRIVATE-ANSWER-7731" in logs and f"{home}/runs/" in logs  # what the lessons must not take

    traces = Memory.open(knowledge_dir() / "memory").traces("lessons-see-the-verdict")
    assert len(traces) == len(result.records)
    failed = [trace for trace in traces if trace.error_text]
    assert any("RuntimeError: diverged" in (t.error_text or "") for t in failed), failed
    assert any("the scorer cannot score this output" in (t.error_text or "") for t in failed), failed
    stored = "\n".join(
        path.read_text()
        for path in (knowledge_dir() / "memory").rglob("*")
        if path.suffix in (".json", ".jsonl")
    )
    assert stored, "the memory wrote nothing"
    assert "PRIVATE-ANSWER-7731" not in stored
    assert f"{home}/runs/" not in stored and "/scratch/" not in stored


LEAKY = """import base64, json, random, sys
random.seed(7)
body = "\\n".join(base64.b64encode(bytes(random.randrange(256) for _ in range(48))).decode() for _ in range(40))
print("-----BEGIN RSA PRIVATE KEY-----\\n" + body + "\\n-----END RSA PRIVATE KEY-----", file=sys.stderr)
raise RuntimeError("could not load the model")
"""


def test_a_key_the_candidate_printed_is_redacted_whole_before_a_lesson_cuts_it(tmp_path: Path) -> None:
    """A record keeps the last 2000 characters of its feedback, and a lesson's excerpt was cut to
    1500 more before memory looked for credentials: the key's `BEGIN` line fell outside, and the
    detector, which knows a key by that line, let 22 of its 40 lines into memory."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "make.py").write_text(LEAKY)
    (workspace / "params.json").write_text('{"x": -0.9}')
    (tmp_path / "scorer").mkdir()
    (tmp_path / "scorer" / "score.py").write_text(SCORE)
    (tmp_path / "task.toml").write_text(TASK.replace("experiments = 8", "experiments = 1"))

    result = start_run(load_task(tmp_path / "task.toml"), strop_home(), RunIndex(strop_home()))
    [record] = result.records
    assert record.status is Status.BUGGY and "-----END RSA PRIVATE KEY-----" in record.feedback, record
    # the record keeps its feedback's last 2000 characters: the key's BEGIN line is not among them
    assert "BEGIN RSA PRIVATE KEY" not in record.feedback
    body = [line for line in record.feedback.split("\n-----END")[0].splitlines() if len(line) == 64]
    assert len(body) >= 20, record.feedback
    stored = "\n".join(
        path.read_text()
        for path in (knowledge_dir() / "memory").rglob("*")
        if path.suffix in (".json", ".jsonl")
    )
    assert "could not load the model" in stored  # the lesson is kept, the key is not
    assert not [line for line in body if line in stored]
