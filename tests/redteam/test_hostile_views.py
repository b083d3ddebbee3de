"""Red team: hostile text in the files and outputs strop shows, through the real commands.

A jobs file, a competition's config.yaml, a workspace's folder name, a scorer's metric names
and an LLM's idea are all text strop did not write. Each command that shows one must show it
as text: no ESC, C1 or bidi character reaches the terminal (an OSC 52 writes the clipboard,
a CSI moves the cursor), Rich markup in it is not obeyed (a `[/x]` crashed the command, a
`[link=…]` made a live hyperlink), invisible characters are written as escapes, and a
several-line idea cannot forge the lines of the view around it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.mle.conftest import CLASSIFICATION_ANSWERS, write_competition, write_csv
from tests.spine.conftest import GOOD_EVALUATOR, TASK, git, strop

# ESC, BEL, CSI, NEL; the bidi override and isolate; zero-width, line separator, Arabic letter mark
RAW = ("\x1b", "\x07", "\x9b", "\x85", "\u202e", "\u2066", "\u200b", "\u2028", "\u061c")
OSC52 = "\x1b]52;c;cHduZWQ=\x1b\\"


def _clean(text: str) -> None:
    assert not any(ch in text for ch in RAW), repr(text)


def _strop(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ},
    )


def _toml(text: str) -> str:
    """`text` as a TOML basic string, its control characters as \\u escapes."""
    return json.dumps(text)


# ------------------------------------------------------------------ strop nightly list
def test_nightly_list_shows_a_jobs_files_task_and_args_as_text(tmp_path: Path) -> None:
    """`no such task file …` and the job's line quoted the jobs file raw: an OSC 52 and cursor moves."""
    task = "../t1/task.toml" + OSC52 + "\x1b[2K\x1b[1A"
    jobs = tmp_path / "jobs.toml"
    jobs.write_text(
        f'[jobs.digits]\ntask = {_toml(task)}\nschedule = "0 2 * * *"\n\n'
        f'[jobs.exp2]\nkind = "numerics"\nargs = ["--fn", {_toml("exp2" + OSC52)}]\n'
        'schedule = "30 3 * * 1-5"\n'
    )
    done = _strop("nightly", "list", "--jobs", str(jobs), "--now", "2026-12-01T02:05")
    assert done.returncode == 0, done.stderr
    _clean(done.stdout + done.stderr)
    assert "no such task file" in done.stderr and "\\x1b]52;c;cHduZWQ=" in done.stderr, done.stderr
    assert "warning: exp2: args" in done.stderr, done.stderr
    assert len(done.stdout.splitlines()) == 2, done.stdout  # one line per job
    assert "\\x1b[2K\\x1b[1A" in done.stdout, done.stdout


# ------------------------------------------------------------------ strop mle grade / report
def test_mle_grade_shows_the_grader_name_as_text_never_as_markup(tmp_path: Path) -> None:
    """The grader's name was printed with markup on: `[/x]` crashed, `[link=…]` a live hyperlink, OSC 52 passed."""
    root = write_competition(tmp_path / "c", grade_py="def grade(submission, answers):\n    return 0.5\n")
    hostile = "accuracy" + OSC52 + "[link=http://evil.example/]y[/link][/x]\u202e"
    config = (root / "config.yaml").read_text()
    (root / "config.yaml").write_text(config.replace("name: accuracy", f"name: {json.dumps(hostile)}"))
    submission = write_csv(tmp_path / "submission.csv", ["id", "label"], CLASSIFICATION_ANSWERS)
    done = _strop("mle", "grade", str(submission), str(root))
    assert done.returncode == 0, done.stderr  # it was "internal error: MarkupError"
    _clean(done.stdout + done.stderr)
    assert "]8;" not in done.stdout  # no OSC 8 hyperlink
    assert "[link=http://evil.example/]y[/link][/x]\\u202e (higher is better)" in done.stdout, done.stdout


def test_mle_report_shows_a_competition_id_without_its_escapes(tmp_path: Path) -> None:
    name = "spam" + OSC52 + "\x1b[2J\u202eeggs"
    report = {
        "competition_id": name,
        "submission_exists": True,
        "valid_submission": True,
        "gold_medal": False,
        "silver_medal": True,
        "bronze_medal": False,
        "score": 0.5,
    }
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "report.json").write_text(json.dumps(report), encoding="utf-8")
    done = _strop("mle", "report", str(tmp_path))
    assert done.returncode == 0, done.stderr
    _clean(done.stdout + done.stderr)
    assert "\\u202eeggs" in done.stdout, done.stdout


# ------------------------------------------------------------------ strop eval: the workspace's path
def _workspace(tmp_path: Path, name: str, evaluator: str = GOOD_EVALUATOR) -> tuple[Path, Path]:
    path = tmp_path / name
    path.mkdir(parents=True)  # `ws[/x]`: a folder `x]` in `ws[`, its path markup-shaped
    (path / "evaluate.py").write_text(textwrap.dedent(evaluator))
    (path / "value.txt").write_text("0.5")
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "initial")
    task = tmp_path / f"task-{len(list(tmp_path.glob('task-*')))}.toml"
    task.write_text(TASK.format(workspace=_toml(str(path))[1:-1], timeout="20s"))
    return path, task


def test_eval_shows_a_workspace_named_like_markup_as_its_real_path(tmp_path: Path) -> None:
    """`ws[/x]` crashed with MarkupError after the run was made; `ws [old]` printed a wrong path."""
    for name in ("ws[/x]", "ws [old]", "ws[link=http://evil.example/]click[/link]"):
        path, task = _workspace(tmp_path, name)
        done = strop("eval", str(task))
        assert done.code == 0, done.stderr
        assert "MarkupError" not in done.stderr, done.stderr
        assert f"repo {path}" in done.stdout, done.stdout
        assert "]8;" not in done.stdout


# ------------------------------------------------------------------ the scorer's metric names in the reason
def test_a_scorers_metric_names_reach_the_reason_on_one_line_without_controls(tmp_path: Path) -> None:
    evaluator = (
        "import json\n"
        'print(json.dumps({"lo\\x1b]52;c;eA==\\x07ss\\r\\nFAKE: ok": 1.0, "sc\\u202eore": 2, '
        '"x\\x9b31m\\x85\\u2028y": 3, "z\\u200b": 4}))\n'
    )
    _, task = _workspace(tmp_path, "ws", evaluator)
    done = strop("eval", str(task), "--json")
    assert done.code == 2, done.stderr
    reason = json.loads(done.stdout)["experiment"]["reason"]
    assert "is absent" in reason, reason
    assert reason.isprintable(), repr(reason)  # no control, format or separator character: one line
    assert "sc\\u202eore" in reason and "z\\u200b" in reason, (
        reason
    )  # not `score`, beside `'score' is absent`
    _clean(done.stderr)


# ------------------------------------------------------------------ strop show: an LLM's idea
def _one_run(tmp_path: Path) -> tuple[Path, object, object]:
    from agent.home import strop_home
    from agent.run_index import RunIndex

    _, task = _workspace(tmp_path, "ws")
    assert strop("eval", str(task)).code == 0
    index = RunIndex(strop_home())
    run = index.runs()[0]
    return task, index, run


def test_show_keeps_a_several_line_idea_inside_its_block(tmp_path: Path) -> None:
    """An idea "Raise VALUE.\\nstatus: ok\\nmetrics: score = 1000000\\n★ best of run" forged the view's lines."""
    from dataclasses import replace

    _, index, run = _one_run(tmp_path)
    record = index.experiments(run.id)[0]
    idea = "Raise VALUE.\nstatus: ok\nmetrics: score = 1000000\n★ best of run\n\nmore"
    index.put_experiment(replace(record, idea=idea, reason="r1\nstatus: ok\u2028x"))
    shown = strop("show", f"{run.id}/0")
    assert shown.code == 0, shown.stderr
    lines = shown.stdout.splitlines()
    statuses = [line for line in lines if line.startswith("status:")]
    assert len(statuses) == 1, shown.stdout
    status = statuses[0]
    assert "r1 status: ok\\u2028x" in status, status  # the reason on its one line
    assert not any(line.startswith(("metrics: score = 1000000", "★")) for line in lines), shown.stdout
    assert "idea: Raise VALUE." in lines and "      status: ok" in lines, shown.stdout
    _clean(shown.stdout)


def test_log_keeps_each_experiments_idea_and_reason_on_its_line(tmp_path: Path) -> None:
    """An LLM's plan "Raise VALUE.\\n    └── 9 ok 1000000 ★ best" printed a forged experiment in `strop log`."""
    from dataclasses import replace

    _, index, run = _one_run(tmp_path)
    record = index.experiments(run.id)[0]
    forged = "\n        └── 9 ok 1000000 ★ best  Forged idea"
    index.put_experiment(replace(record, idea="Raise VALUE." + forged, reason="r" + forged))
    shown = strop("log", run.id)
    assert shown.code == 0, shown.stderr
    assert not [line for line in shown.stdout.splitlines() if line.lstrip(" │").startswith("└── 9")], (
        shown.stdout
    )
    _clean(shown.stdout)


def test_show_writes_invisible_characters_of_an_idea_as_escapes(tmp_path: Path) -> None:
    """`printable` passed U+200B, U+2028, U+061C and dropped U+202E: the terminal now shows each as its escape."""
    from dataclasses import replace

    _, index, run = _one_run(tmp_path)
    record = index.experiments(run.id)[0]
    index.put_experiment(
        replace(record, idea="a\u200bb\u2028c\u061cd\u202ee\U000e0041\x1b[31m", metrics={"sc\u202eore": 1.0})
    )
    shown = strop("show", f"{run.id}/0")
    assert shown.code == 0, shown.stderr
    _clean(shown.stdout)
    assert "a\\u200bb\\u2028c\\u061cd\\u202ee\\U000e0041[31m" in shown.stdout, shown.stdout
    assert "sc\\u202eore = 1" in shown.stdout, shown.stdout


# ------------------------------------------------------------------ the git commit message of an experiment
def test_an_ideas_control_characters_never_reach_its_commit_message(tmp_path: Path) -> None:
    from agent.home import strop_home
    from agent.run import Candidate, Run
    from agent.run_index import RunIndex
    from agent.task import load_task

    _, task = _workspace(tmp_path, "ws")
    run = Run.start(load_task(task), strop_home(), RunIndex(strop_home()))
    idea = "raise\x9b31m it\x85\u202e now\u200b\u2028done\nbody line\twith a tab\r\nlast \x1b]0;t\x07"
    record = run.commit_candidate(0, None, Candidate(idea, files={"value.txt": "0.7"}))
    message = run.repo.repo.git.show("-s", "--format=%B", record.commit)
    assert not any(ch in message for ch in (*RAW, "\r")), repr(message)
    assert "\nbody line\twith a tab\n" in message, repr(message)  # newlines and tabs kept
    assert "raise\\x9b31m it\\x85\\u202e now\\u200b\\u2028done" in message, repr(message)
    from agent.loop.findings import Audit
    from agent.loop.provenance import provenance_audit

    report = Audit(run=None)  # type: ignore[arg-type]
    provenance_audit(run.record.id, strop_home(), RunIndex(strop_home()), report)
    said = [str(problem) for problem in report.problems]
    assert not [line for line in said if "is not its commit" in line], said  # audit reads it as its idea


def test_joiners_that_writing_needs_are_shown_as_they_are() -> None:
    """The ZWJ of an emoji sequence and Persian's ZWNJ printed as `\\u200d`; between ASCII letters
    (where they only hide) they are still escaped."""
    from agent.cli.render import printable

    assert printable("dev 👩\u200d💻") == "dev 👩\u200d💻"
    assert printable("می\u200cخواهم") == "می\u200cخواهم"
    assert printable("sc\u200dore") == "sc\\u200dore"
    assert printable("\u200dscore") == "\\u200dscore"
