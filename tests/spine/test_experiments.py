"""The git-native experiment engine, through the real CLI and the Run API, on real repos."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from agent.home import strop_home
from agent.records import ExperimentRecord
from agent.run import Candidate, Run
from agent.run_index import RunIndex
from agent.task import load_task
from evaluators.verdict import Status
from tests.spine.conftest import git, plain_folder_task


def test_eval_records_experiment_zero_in_git(make_workspace, cli) -> None:
    ws = make_workspace(value="0.75")
    before = ws.snapshot()
    result = cli("eval", str(ws.task))
    assert result.code == 0, result.stderr
    assert "score = 0.75" in result.stdout
    branches = git(ws.path, "for-each-ref", "--format=%(refname:short)", "refs/heads/strop/")
    assert len(branches.split()) == 1 and branches.endswith("/0")
    note = json.loads(git(ws.path, "notes", "--ref=strop", "show", branches))
    assert note["status"] == "ok" and note["metrics"]["score"] == 0.75
    assert len(note["fingerprint"]) == 64 and len(note["log_digest"]) == 64
    assert ws.snapshot() == before
    assert not list((strop_home() / "worktrees").rglob("lane-*")), "lanes must be removed when the run ends"


def test_log_show_and_reindex_give_identical_answers(make_workspace, cli) -> None:
    ws = make_workspace(value="0.25")
    assert cli("eval", str(ws.task)).code == 0
    assert cli("eval", str(ws.task)).code == 0
    runs = json.loads(cli("runs", "--json").stdout)
    assert [r["status"] for r in runs] == ["done", "done"]
    assert all({"id", "task", "status", "started"} <= set(r) for r in runs)
    logs_before = [json.loads(cli("log", r["id"], "--json").stdout) for r in runs]
    assert logs_before[0]["direction"] == "maximize"
    exp = logs_before[0]["experiments"][0]
    assert {"id", "parent", "status", "metrics", "branch"} <= set(exp)
    assert exp["metrics"]["score"] == 0.25 and exp["parent"] is None

    (strop_home() / "index.sqlite").unlink()
    for suffix in ("-wal", "-shm"):
        (strop_home() / f"index.sqlite{suffix}").unlink(missing_ok=True)
    result = cli("reindex")
    assert result.code == 0, result.stderr
    assert "2 runs, 2 experiments" in result.stdout
    logs_after = [json.loads(cli("log", r["id"], "--json").stdout) for r in runs]
    assert logs_after == logs_before
    assert json.loads(cli("runs", "--json").stdout) == runs

    shown = cli("show", f"{runs[0]['id']}/0")
    assert shown.code == 0 and "score = 0.25" in shown.stdout and "warming up" in shown.stdout
    text = cli("log", runs[1]["id"])
    assert "★ best" in text.stdout


def _improve(ws, value: str) -> tuple[Run, ExperimentRecord]:
    task = load_task(ws.task)
    run = Run.start(task, strop_home(), RunIndex(strop_home()))
    base = run.evaluate(run.commit_candidate(0, None, Candidate("baseline")))
    better = run.commit_candidate(1, base, Candidate("raise the value", files={"value.txt": value}))
    better = run.evaluate(better)
    run.finish()
    return run, better


def test_adopt_merges_the_winner_into_the_users_branch(make_workspace, cli) -> None:
    ws = make_workspace(value="0.1")
    run, better = _improve(ws, "0.9")
    assert better.status is Status.OK and better.metrics["score"] == 0.9
    log = json.loads(cli("log", run.record.id, "--json").stdout)
    assert log["best"] == 1 and log["experiments"][1]["parent"] == 0
    result = cli("adopt", f"{run.record.id}/1")
    assert result.code == 0, result.stderr
    assert (ws.path / "value.txt").read_text() == "0.9"
    assert git(ws.path, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert git(ws.path, "status", "--porcelain") == ""
    assert "adopt" in git(ws.path, "log", "-1", "--format=%s")


def test_adopt_squash(make_workspace, cli) -> None:
    ws = make_workspace(value="0.1")
    run, _ = _improve(ws, "0.8")
    head = git(ws.path, "rev-parse", "HEAD")
    assert cli("adopt", f"{run.record.id}/1", "--squash").code == 0
    assert git(ws.path, "rev-parse", "HEAD~1") == head, "a squash is one commit on top of the user's HEAD"
    assert (ws.path / "value.txt").read_text() == "0.8"


def test_adopt_takes_the_scored_commit_even_when_its_branch_moved(make_workspace, cli) -> None:
    """A commit added to an experiment's branch after the run was never scored: it is not adopted."""
    ws = make_workspace(value="0.1")
    run, better = _improve(ws, "0.9")
    lane = ws.path.parent / "moved"
    git(ws.path, "worktree", "add", "-q", str(lane), better.branch)
    (lane / "value.txt").write_text("unscored")
    git(lane, "commit", "-q", "-am", "after the run")
    git(ws.path, "worktree", "remove", "--force", str(lane))
    result = cli("adopt", f"{run.record.id}/1")
    assert result.code == 0, result.stderr
    assert (ws.path / "value.txt").read_text() == "0.9"
    assert f"the branch {better.branch} now names" in result.stdout
    assert "the scored commit was adopted" in result.stdout


def test_adopting_what_the_branch_has_already_makes_no_commit(make_workspace, cli) -> None:
    ws = make_workspace(value="0.1")
    run, _ = _improve(ws, "0.9")
    head = git(ws.path, "rev-parse", "HEAD")
    for squash in ([], ["--squash"]):
        result = cli("adopt", f"{run.record.id}/0", *squash)
        assert result.code == 0, result.stderr
        assert "nothing to adopt" in result.stdout and "changes nothing in main" in result.stdout
        assert git(ws.path, "rev-parse", "HEAD") == head


def test_adopting_an_experiment_whose_commit_is_gone_says_so(make_workspace, cli) -> None:
    ws = make_workspace(value="0.1")
    run, better = _improve(ws, "0.9")
    for ref in git(ws.path, "for-each-ref", "--format=%(refname)", "refs/heads/strop/").split():
        git(ws.path, "update-ref", "-d", ref)
    git(ws.path, "notes", "--ref=strop", "prune")
    git(ws.path, "reflog", "expire", "--expire=now", "--all")
    git(ws.path, "gc", "-q", "--prune=now")
    head = git(ws.path, "rev-parse", "HEAD")
    result = cli("adopt", f"{run.record.id}/1")
    assert result.code != 0 and "Traceback" not in result.stderr
    assert f"commit {better.commit[:12]} is no longer in" in result.stderr, result.stderr
    assert git(ws.path, "rev-parse", "HEAD") == head and (ws.path / "value.txt").read_text() == "0.1"


def test_candidate_that_edits_the_evaluator_is_tampered_and_unscored(make_workspace) -> None:
    ws = make_workspace(value="0.1")
    run = Run.start(load_task(ws.task), strop_home(), RunIndex(strop_home()))
    base = run.evaluate(run.commit_candidate(0, None, Candidate("baseline")))
    cheat = 'import json\nprint(json.dumps({"score": 1000.0}))\n'
    record = run.commit_candidate(1, base, Candidate("cheat", files={"evaluate.py": cheat}))
    record = run.evaluate(record)
    assert record.status is Status.TAMPERED
    assert record.metrics == {}
    assert "evaluate.py" in record.reason
    assert not Path(run.folder / "logs" / "1-validate.log").exists(), "a tampered candidate is never run"
    added = run.commit_candidate(2, base, Candidate("delete it", files={"evaluate.py": None}))
    assert run.evaluate(added).status is Status.TAMPERED
    best = run.finish()
    assert best is not None and best.id == 0


def test_plain_folder_workspace_gets_a_managed_repo(tmp_path, cli) -> None:
    folder, task = plain_folder_task(tmp_path)
    loaded = load_task(task)
    run = Run.start(loaded, strop_home(), RunIndex(strop_home()))
    assert run.repo.managed and not (folder / ".git").exists()
    base = run.evaluate(run.commit_candidate(0, None, Candidate("baseline")))
    better = run.evaluate(run.commit_candidate(1, base, Candidate("lower", files={"v": "1"})))
    run.finish()
    assert better.metrics["loss"] == 1.0
    result = cli("adopt", f"{run.record.id}/1")
    assert result.code == 0, result.stderr
    assert (folder / "v").read_text() == "1"
    (folder / "v").write_text("7")
    dirty = cli("adopt", f"{run.record.id}/0")
    assert dirty.code == 2 and "changed since strop last recorded it" in dirty.stderr
    assert (folder / "v").read_text() == "7"


def test_adopting_into_a_folder_keeps_the_edits_made_since_the_run(tmp_path, cli) -> None:
    folder, task = plain_folder_task(tmp_path)
    (folder / "notes.md").write_text("first\n")
    run = Run.start(load_task(task), strop_home(), RunIndex(strop_home()))
    base = run.evaluate(run.commit_candidate(0, None, Candidate("baseline")))
    run.evaluate(run.commit_candidate(1, base, Candidate("lower", files={"v": "1"})))
    run.evaluate(run.commit_candidate(2, base, Candidate("rewrite notes", files={"notes.md": "theirs\n"})))
    run.finish()
    (folder / "notes.md").write_text("mine\n")  # the user's edits after the run...
    (folder / "todo.md").write_text("new file\n")
    assert cli("eval", str(task)).code == 0  # ...recorded by a later evaluation
    result = cli("adopt", f"{run.record.id}/1")
    assert result.code == 0, result.stderr
    assert (folder / "v").read_text() == "1"  # the experiment's change
    assert (folder / "notes.md").read_text() == "mine\n" and (folder / "todo.md").exists()  # and the user's
    clash = cli("adopt", f"{run.record.id}/2")
    assert clash.code == 2 and "conflicts with the folder" in clash.stderr
    assert (folder / "notes.md").read_text() == "mine\n" and (folder / "v").read_text() == "1"
    assert cli("adopt", f"{run.record.id}/1").code == 0  # nothing left half-merged


def test_git_stays_consistent(make_workspace) -> None:
    ws = make_workspace()
    _improve(ws, "0.6")
    fsck = subprocess.run(["git", "fsck", "--strict"], cwd=ws.path, capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr
    assert "strop/" not in git(ws.path, "worktree", "list")


def test_ideas_and_reasons_with_brackets_print_as_written(make_workspace, cli) -> None:
    """LLM-written ideas are data, not console markup: "[/x]" must neither vanish nor crash."""
    ws = make_workspace(value="0.1")
    task = load_task(ws.task)
    run = Run.start(task, strop_home(), RunIndex(strop_home()))
    base = run.evaluate(run.commit_candidate(0, None, Candidate("baseline")))
    idea = "use [bold]x in [0, 1][/x] ranges"
    run.evaluate(run.commit_candidate(1, base, Candidate(idea, files={"value.txt": "0.2"})))
    run.finish()
    log = cli("log", run.record.id)
    shown = cli("show", f"{run.record.id}/1")
    assert log.code == 0 and shown.code == 0, log.stderr + shown.stderr
    assert idea in log.stdout and idea in shown.stdout


def test_a_secret_looking_env_name_is_refused(make_workspace, cli) -> None:
    """It never reached the sandbox (a warning said so), while its value went into git with every
    run's record of the task file."""
    ws = make_workspace(
        evaluator='import json, os\nprint(json.dumps({"score": float("MY_API_KEY" in os.environ)}))\n'
    )
    ws.task.write_text(ws.task.read_text() + 'env = { MY_API_KEY = "k1-secret-value", BATCH = "8" }\n')
    result = cli("eval", str(ws.task))
    assert result.code == 2, result.stderr
    assert "[evaluator.env] MY_API_KEY: a secret-looking name never reaches the sandbox" in result.stderr
    assert "k1-secret-value" not in result.stderr and "BATCH" not in result.stderr


def test_show_and_log_strip_control_characters_from_untrusted_text(make_workspace, cli) -> None:
    """A scorer's metric name, an idea or a log line carrying ESC must not reach the user's terminal."""
    from dataclasses import replace

    ws = make_workspace(
        evaluator='import json\nprint("\\x1b]0;owned\\x07log line")\nprint(json.dumps({"score": 1.0}))\n'
    )
    assert cli("eval", str(ws.task)).code == 0
    index = RunIndex(strop_home())
    run = index.runs()[0]
    record = index.experiments(run.id)[0]
    hostile = {"score": 1.0, "loss\x1b[2J\x1b[31m": 2.0}
    index.put_experiment(replace(record, idea="idea\x1b[8m hidden\u202e", metrics=hostile, reason="r\x9b1m"))
    shown = cli("show", f"{run.id}/0")
    log = cli("log", run.id)
    assert shown.code == 0 and log.code == 0, shown.stderr + log.stderr
    for text in (shown.stdout, log.stdout):
        assert not any(ch in text for ch in "\x1b\x07\x9b\u202e"), repr(text)
    assert "loss[2J[31m = 2" in shown.stdout and "idea[8m hidden" in shown.stdout
    # the log's terminal sequence is dropped whole (a terminal would not have shown it either)
    assert "\nlog line\n" in shown.stdout and "owned" not in shown.stdout and "idea[8m hidden" in log.stdout
    index.put_run(replace(run, metric="loss\x1b[2J\x1b[31m"))  # a scorer-named metric, in `strop runs`
    listed = cli("runs")
    assert listed.code == 0 and "\x1b" not in listed.stdout, repr(listed.stdout)


def test_eval_strips_control_characters_from_the_scorers_metric_names(make_workspace, cli) -> None:
    """`strop eval` quotes the metric names a scorer printed when its metric is absent: as text, on one line."""
    ws = make_workspace(
        evaluator='import json\nprint(json.dumps({"lo\\x1b[2J\\x1b]0;owned\\x07ss\\nFAKE: ok": 1.0, "x\\x9b31m": 2}))\n'
    )
    result = cli("eval", str(ws.task))
    assert result.code == 2, result.stderr
    for text in (result.stdout, result.stderr):
        assert not any(ch in text for ch in "\x1b\x07\x9b"), repr(text)
        assert not any(line.startswith("FAKE") for line in text.splitlines()), repr(text)
    assert "(it gave: lo[2J]0;ownedss FAKE: ok, x31m)" in result.stdout
    assert "(it gave: lo[2J]0;ownedss FAKE: ok, x31m)" in result.stderr


def test_counts_of_one_are_singular(make_workspace, cli) -> None:
    ws = make_workspace(value="0.5")
    assert cli("eval", str(ws.task)).code == 0
    reindexed = cli("reindex")
    assert reindexed.code == 0, reindexed.stderr
    assert "reindexed 1 run, 1 experiment from 1 repo" in reindexed.stdout
    log = cli("log")
    assert "experiments: 1 ok (1 attempt)" in log.stdout, log.stdout


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ('{ DATA = "' + "x" * (130 << 10) + '" }', "DATA: its value is too long for an environment"),
    ],
    ids=[
        "one value of 130 KiB"
    ],  # the id goes into the environment too (the task file's 1 MiB cap bounds all)
)
def test_an_env_no_process_could_start_with_is_refused(make_workspace, cli, env: str, said: str) -> None:
    """A 130 KiB value was accepted, then every experiment failed: "Argument list too long"."""
    ws = make_workspace()
    ws.task.write_text(ws.task.read_text() + f"env = {env}\n")
    result = cli("eval", str(ws.task))
    assert result.code == 2 and said in result.stderr, result.stderr
    assert len(result.stderr) < 2000  # the value is not echoed back


def test_a_mounted_folder_is_read_in_the_sandbox_and_one_holding_strops_home_is_refused(
    make_workspace, cli, tmp_path: Path
) -> None:
    """A project's venv or a toolchain outside /usr was in no sandbox: `gcc-13: not found`, and the
    only way out was `sandbox = "local"`. `mounts` shows such a folder, read-only, at its own path."""
    tools = tmp_path / "toolchain" / "bin"
    tools.mkdir(parents=True)
    (tools / "score-tool").write_text("#!/bin/sh\necho '{\"score\": 0.75}'\n")
    (tools / "score-tool").chmod(0o755)
    ws = make_workspace(
        evaluator=f"import subprocess\nsubprocess.run([{str(tools / 'score-tool')!r}], check=True)\n"
    )
    plain = ws.task.read_text() + 'sandbox = "bwrap"\n'
    ws.task.write_text(plain)
    missing = cli("eval", str(ws.task))
    assert missing.code == 2 and "No such file or directory" in missing.stderr, missing.stderr
    ws.task.write_text(plain + f'mounts = ["{tools.parent}"]\n')
    found = cli("eval", str(ws.task), "--json")
    assert found.code == 0 and json.loads(found.stdout)["experiment"]["metrics"]["score"] == 0.75, (
        found.stderr
    )
    home = Path(os.environ["STROP_HOME"])
    ws.task.write_text(plain + f'mounts = ["{home.parent}"]\n')  # holds strop's home: other runs' records
    held = cli("eval", str(ws.task))
    assert held.code == 2 and f"holds {home.resolve()}, which candidates must not read" in held.stderr, (
        held.stderr
    )
    ws.task.write_text(plain + 'mounts = ["relative/bin"]\n')
    refused = cli("eval", str(ws.task))
    assert refused.code == 2 and "must be an absolute path" in refused.stderr, refused.stderr


def test_secret_names_of_other_shapes_and_logins_in_values_are_refused(make_workspace, cli) -> None:
    """`DB_PASS`, `GH_PAT`, `PASSPHRASE`, `SENTRY_DSN` passed the name rule, and a `DATABASE_URL`
    carrying `user:password@` went into git with the task file; `PATH`, `PWD` and `NUM_PASSES` are
    not secrets (PWD's value, a path, was never to be redacted from output)."""
    from sandbox.environment import is_secret_name

    assert all(is_secret_name(n) for n in ("DB_PASS", "GH_PAT", "PASSPHRASE", "SENTRY_DSN", "MYSQL_PWD"))
    assert not any(is_secret_name(n) for n in ("PATH", "PWD", "OLDPWD", "NUM_PASSES", "PATCH_SIZE", "BYPASS"))
    ws = make_workspace(evaluator='import json\nprint(json.dumps({"score": 1.0}))\n')
    text = ws.task.read_text()
    ws.task.write_text(text + 'env = { DATABASE_URL = "postgres://app:hunter22@db:5432/x", BATCH = "8" }\n')
    result = cli("eval", str(ws.task))
    assert result.code == 2 and "DATABASE_URL: its value carries a user:password@ login" in result.stderr
    assert "hunter22" not in result.stderr
