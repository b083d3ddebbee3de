"""The jobs file, the schedule under a fake clock, the lock, the budget edit, and the installed lines."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from datetime import datetime
from pathlib import Path

import pytest
from cronsim import CronSim

from agent.errors import UserError
from agent.nightly import install
from agent.nightly.history import History, NightRecord
from agent.nightly.job import override_budget
from agent.nightly.jobs import last_fire, load_jobs
from agent.nightly.lock import NightlyBusy, NightlyLock
from agent.nightly.runner import baselines_of, due_jobs

JOBS = """
[nightly]
window = "2h"

[jobs.digits]
task = "tasks/digits"
schedule = "0 2 * * *"
budget = { time = "1h", experiments = 30 }

[jobs.exp2]
kind = "numerics"
args = ["--fn", "exp2", "--interval", "0,1"]
schedule = "30 3 * * 1-5"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "jobs.toml"
    path.write_text(text)
    return path


def test_a_jobs_file_loads_with_its_defaults(tmp_path: Path) -> None:
    jobs = load_jobs(write(tmp_path, JOBS))
    assert jobs.spec.nightly.window == 7200 and jobs.spec.nightly.parallel == 1
    assert jobs.spec.jobs["digits"].warm_start and jobs.spec.jobs["digits"].budget.time == 3600
    assert jobs.task_path("digits") == (tmp_path / "tasks" / "digits").resolve()


MLE = """
[jobs.m]
kind = "mle"
schedule = "0 1 * * *"
{extra}
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (JOBS.replace('"0 2 * * *"', '"0 25 * * *"'), "not a cron expression"),
        (
            JOBS.replace("warm_start", "x").replace('schedule = "0 2', 'colour = 1\nschedule = "0 2'),
            "unknown key",
        ),
        (JOBS.replace('task = "tasks/digits"\n', ""), "needs `task`"),
        (JOBS.replace('args = ["--fn"', 'args = ["--time", "1h", "--fn"'), "may not set --time"),
        (JOBS.replace('window = "2h"', 'window = "forever"'), "window"),
        ("[jobs.x\n", "not valid TOML"),
        (MLE.format(extra=""), "each needs one"),
        (MLE.format(extra='competition = "c"\nargs = ["--out", "x"]'), "not --out"),
        (MLE.format(extra='competition = "c"\nargs = ["--seed"]'), "flag/value pairs"),
        (MLE.format(extra='competition = "c"\nargs = ["--seed", "one"]'), "whole number"),
        # a run job's args were dropped without a word: the task file says what a run runs
        (
            JOBS.replace('task = "tasks/digits"', 'task = "tasks/digits"\nargs = ["--bogus"]'),
            "[jobs.digits] args belong to jobs of kind numerics, quant or mle",
        ),
    ],
)
def test_bad_jobs_files_are_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UserError) as error:
        load_jobs(write(tmp_path, text))
    assert message in str(error.value) and "\n" not in str(error.value)
    assert str(tmp_path / "jobs.toml") in str(error.value)


def test_a_jobs_file_nested_too_deeply_is_one_line_naming_it(tmp_path: Path) -> None:
    """tomllib recurses once per level: 5000 nested arrays raised a RecursionError, an internal error."""
    path = write(tmp_path, '[nightly]\nwindow = "1h"\nx = ' + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(UserError) as error:
        load_jobs(path)
    assert str(error.value).startswith(f"{path}: cannot be read: ") and "nest too deeply" in str(error.value)
    assert "\n" not in str(error.value)


def test_a_jobs_file_that_is_not_utf8_is_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "jobs.toml"
    path.write_bytes(b"\xff\xfe garbage [[[\n")
    with pytest.raises(UserError) as error:
        load_jobs(path)
    assert str(error.value) == f"{path}: not UTF-8 text (byte 0); a jobs file is TOML"
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "nightly", "run", "--jobs", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and done.stderr.strip() == f"error: {error.value}", done.stderr


def test_last_fire_counts_the_minute_itself() -> None:
    assert last_fire("0 2 * * *", datetime(2026, 12, 1, 2, 0)) == datetime(2026, 12, 1, 2, 0)
    assert last_fire("0 2 * * *", datetime(2026, 12, 1, 1, 59)) == datetime(2026, 11, 30, 2, 0)
    assert last_fire("30 3 * * 1-5", datetime(2026, 12, 6, 12, 0)) == datetime(
        2026, 12, 4, 3, 30
    )  # Sat -> Fri


def test_due_jobs_follow_the_fake_clock(tmp_path: Path) -> None:
    jobs = load_jobs(write(tmp_path, JOBS))
    history = History(tmp_path / "home")
    night = datetime(2026, 12, 1, 2, 5)  # a Tuesday
    # never ran: digits fired 5 minutes ago; exp2's Monday 03:30 fire is 22 h ago, past the 2 h window
    assert [d.name for d in due_jobs(jobs, history, night)] == ["digits"]
    history.put(NightRecord(job="digits", night="2026-12-01T02:00", kind="run", started="s", status="done"))
    history.put(
        NightRecord(job="exp2", night="2026-11-30T03:30", kind="numerics", started="s", status="done")
    )
    assert due_jobs(jobs, history, night) == []  # both ran since their last fire time
    later = datetime(2026, 12, 1, 3, 31)
    assert [(d.name, d.night) for d in due_jobs(jobs, history, later)] == [("exp2", "2026-12-01T03:30")]
    assert [d.name for d in due_jobs(jobs, history, night, only=["digits"])] == ["digits"]  # forced
    killed = NightRecord(job="digits", night="2026-12-02T02:00", kind="run", started="s", run="abc123")
    history.put(killed)
    (resume,) = due_jobs(jobs, History(tmp_path / "home"), datetime(2026, 12, 2, 2, 40), only=["digits"])
    assert resume.resume is not None and resume.resume.run == "abc123" and resume.night == "2026-12-02T02:00"


def test_history_round_trips_and_gain_knows_the_direction(tmp_path: Path) -> None:
    history = History(tmp_path)
    record = NightRecord(
        job="j",
        night="n1",
        kind="run",
        started="s",
        direction="minimize",
        best_metric=2.0,
        previous_metric=3.0,
    )
    history.put(record)
    history.put(
        NightRecord(job="j", night="n1", kind="run", started="s", status="done")
    )  # same night: replaced
    again = History(tmp_path)
    assert len(again.records) == 1 and again.records[0].status == "done"
    assert record.gain == 1.0
    assert (
        NightRecord(job="j", night="n", kind="run", started="s", best_metric=2.0, previous_metric=3.0).gain
        == -1.0
    )


def test_the_lock_admits_one_holder_and_says_who(tmp_path: Path) -> None:
    with NightlyLock(tmp_path):
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "from agent.nightly.lock import NightlyLock; import sys; NightlyLock(__import__('pathlib').Path(sys.argv[1])).__enter__()",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
        )
        assert probe.returncode != 0 and "NightlyBusy" in probe.stderr and "pid" in probe.stderr
        with pytest.raises(NightlyBusy):  # a second open file description conflicts even in-process
            NightlyLock(tmp_path).__enter__()
    with NightlyLock(tmp_path):  # released: free again
        pass


def test_the_nights_budget_is_written_into_the_task_text() -> None:
    source = '[task]\nname = "t"\n\n[budget]\nexperiments = 5\nturns = "fixed"\n\n[space]\n'
    edited = override_budget(source, {"experiments": 12, "cost": 1.5})
    parsed = tomllib.loads(edited)
    assert parsed["budget"] == {"experiments": 12, "cost": 1.5, "turns": "fixed"}
    assert "space" in parsed
    appended = tomllib.loads(override_budget('[task]\nname = "t"\n', {"tokens": 1000}))
    assert appended["budget"] == {"tokens": 1000}


def test_baselines_from_both_search_shapes() -> None:
    numerics = [{"name": "taylor-5", "cost": 5.0, "max_ulp": 30.0, "program": "x", "verified": "sampled"}]
    quant = {"uniform-int4": {"val_acc": 0.97, "bytes": 4000, "config": None, "cut": False}}
    assert baselines_of(numerics) == [{"name": "taylor-5", "metrics": {"cost": 5.0, "max_ulp": 30.0}}]
    assert baselines_of(quant) == [{"name": "uniform-int4", "metrics": {"val_acc": 0.97, "bytes": 4000}}]


def test_the_crontab_line_parses_and_replaces_its_old_self(tmp_path: Path) -> None:
    line = install.cron_line(["/opt/strop bin/strop"], tmp_path / "jobs.toml", tmp_path / "home")
    fields = line.split(maxsplit=5)
    CronSim(" ".join(fields[:5]), datetime(2026, 1, 1))  # the schedule part is a valid cron expression
    words = shlex.split(fields[5], comments=True)
    assert words[:4] == ["mkdir", "-p", str(tmp_path / "home" / "nightly"), "&&"]  # the log's folder
    assert words[4:9] == [
        f"STROP_HOME={tmp_path / 'home'}",
        "/opt/strop bin/strop",
        "nightly",
        "run",
        "--jobs",
    ]
    mine = "0 1 * * * backup.sh\n"
    installed = install.with_line(mine, line)
    assert installed.splitlines() == ["0 1 * * * backup.sh", line]
    assert install.with_line(installed, line) == installed  # installing twice keeps one line
    assert install.without_line(installed) == mine
    assert install.replaced_line(installed, line) is None and install.replaced_line(mine, line) is None
    other = install.cron_line(["strop"], tmp_path / "other" / "jobs.toml", tmp_path / "home")
    assert install.replaced_line(installed, other) == line  # one line a machine: the user hears which goes
    assert "/a\\%b/" in install.cron_line(["strop"], Path("/a%b/jobs.toml"), tmp_path)  # % escaped for cron


def test_a_path_with_a_newline_is_refused_not_written_as_a_second_line(tmp_path: Path) -> None:
    """A jobs path holding "\n* * * * * touch …" printed a second, valid crontab line (and split the
    systemd unit): the command it names would run every minute. Refused, in one line, by the real CLI."""
    folder = tmp_path / "nj\n* * * * * touch CRON-PWN #"
    folder.mkdir()
    write(folder, '[nightly]\nwindow = "1h"\n')
    env = {**os.environ, "HOME": str(tmp_path), "STROP_HOME": str(tmp_path / "home")}
    for extra in ([], ["--systemd"]):
        done = subprocess.run(
            [sys.executable, "-m", "agent.cli", "nightly", "install", "--jobs", str(folder / "jobs.toml")]
            + ["--print", *extra],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert done.returncode == 2 and "CRON-PWN" not in done.stdout, (extra, done.stdout)
        assert done.stderr.count("\n") == 1 and "holds a control character ('\\n')" in done.stderr
    for strop, jobs, home in (
        (["strop"], tmp_path / "jobs.toml", tmp_path / "h\rome"),
        (["/opt/str\top"], tmp_path / "jobs.toml", tmp_path),
    ):
        for build in (install.cron_line, install.systemd_units):
            with pytest.raises(UserError, match="holds a control character"):
                build(strop, jobs, home)


def test_the_systemd_units_verify(tmp_path: Path) -> None:
    """Fails (in CI too) where systemd-analyze is missing: the setup script installs it."""
    assert shutil.which("systemd-analyze"), (
        "systemd-analyze is missing: run scripts/setup.sh (installs systemd)"
    )
    units = install.systemd_units(
        [sys.executable, "-m", "agent.cli"], tmp_path / "jobs.toml", tmp_path / "home"
    )
    for name, text in units.items():
        (tmp_path / name).write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / name) for name in units)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    broken = tmp_path / "broken.service"
    broken.write_text(
        units["strop-nightly.service"].replace(f"ExecStart={sys.executable}", "ExecStart=relative")
    )
    assert subprocess.run(["systemd-analyze", "verify", str(broken)], capture_output=True).returncode != 0


def test_failures_say_what_failed_and_why() -> None:
    from agent.nightly.runner import failures
    from agent.records import ExperimentRecord
    from evaluators.verdict import Status

    def record(i: int, status: Status, reason: str = "") -> ExperimentRecord:
        return ExperimentRecord(
            run="r", id=i, parent=None, branch="b", commit="c", status=status, reason=reason
        )

    records = [
        record(0, Status.OK),
        record(1, Status.BUGGY, "ZeroDivisionError: x\ntrace"),
        record(2, Status.BUGGY, "ZeroDivisionError: x"),
        record(3, Status.TIMEOUT, "killed at 20s"),
    ]
    assert failures(records) == (
        "3 of 4 experiments failed: 2 buggy (most often: ZeroDivisionError: x); 1 timeout (most often: killed at 20s)"
    )
    assert failures(records[:1]) == ""


def test_evolve_jobs_keep_their_population_between_nights(tmp_path: Path) -> None:
    """Warm start: one checkpoint per job and arguments across nights; without it, one per night."""
    from agent.nightly.jobs import JobSpec
    from agent.nightly.runner import population_checkpoint

    warm = JobSpec(kind="numerics", args=["--fn", "exp2", "--interval", "0,1"], schedule="0 2 * * *")
    cold = warm.model_copy(update={"warm_start": False})
    other = warm.model_copy(update={"args": ["--fn", "log2", "--interval", "1,2"]})
    night1, night2 = "2026-11-30T02:00", "2026-12-01T02:00"
    assert population_checkpoint(tmp_path, "exp2", warm, night1) == population_checkpoint(
        tmp_path, "exp2", warm, night2
    )
    assert population_checkpoint(tmp_path, "exp2", cold, night1) != population_checkpoint(
        tmp_path, "exp2", cold, night2
    )
    assert population_checkpoint(tmp_path, "exp2", other, night1) != population_checkpoint(
        tmp_path, "exp2", warm, night1
    )


def test_the_systemd_units_keep_spaces_percent_and_dollar_in_paths(tmp_path: Path) -> None:
    """Environment= is split on spaces and `%x` is a specifier: both used to reach strop mangled."""
    assert shutil.which("systemd-analyze"), "systemd-analyze is missing: run scripts/setup.sh"
    odd = tmp_path / "my home %h $HOME"
    units = install.systemd_units([sys.executable, "-m", "agent.cli"], odd / "jobs.toml", odd)
    service = units["strop-nightly.service"]
    assert f'Environment="STROP_HOME={tmp_path}/my home %%h $HOME"' in service
    assert "%%h $$HOME/jobs.toml" in service
    (tmp_path / "strop-nightly.service").write_text(service)
    done = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "strop-nightly.service")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_install_print_uninstall_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from agent.cli import app

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("STROP_HOME", str(tmp_path / "home"))
    units = tmp_path / ".config" / "systemd" / "user"
    units.mkdir(parents=True)
    (units / "strop-nightly.timer").write_text("[Timer]\n")
    result = CliRunner().invoke(app, ["nightly", "install", "--systemd", "--uninstall", "--print"])
    assert result.exit_code == 0 and result.stdout.startswith("would remove strop-nightly.service")
    assert (units / "strop-nightly.timer").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[nightly]\nwindow = "999h"\n', "[nightly] window of "),
        (
            '[jobs.a]\ntask = "t"\nschedule = "0 2 * * *"\nbudget = { time = "999h" }\n',
            "[jobs.a.budget] budget.time of",
        ),
    ],
)
def test_a_window_or_job_time_past_a_week_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    """A huge window used to crash the night's timer thread (OverflowError) and hang."""
    with pytest.raises(UserError, match=re.escape(message)):
        load_jobs(write(tmp_path, text))


def test_a_damaged_history_falls_back_to_its_backup_or_is_one_line(tmp_path: Path) -> None:
    from agent.nightly.history import HistoryUnreadable

    history = History(tmp_path)
    first = NightRecord(job="a", night="2026-01-01T02:00", kind="run", started="s1", status="done")
    history.put(first)
    history.put(NightRecord(job="a", night="2026-01-02T02:00", kind="run", started="s2"))
    path = tmp_path / "nightly" / "history.json"
    path.write_text(path.read_text()[:40])  # truncated on disk
    recovered = History(tmp_path)
    assert "unreadable" in recovered.recovered and [r.started for r in recovered.records] == ["s1"]
    recovered.put(NightRecord(job="b", night="2026-01-02T02:00", kind="run", started="s3"))
    assert (tmp_path / "nightly" / "history.json.broken").exists()
    assert [r.started for r in History(tmp_path).records] == ["s1", "s3"]
    path.write_text("{")
    (tmp_path / "nightly" / "history.json.bak").write_text("[")
    with pytest.raises(HistoryUnreadable, match="history.json is unreadable .* move it aside"):
        History(tmp_path)


def test_a_killed_night_of_a_job_pointed_elsewhere_since_is_not_resumed(tmp_path: Path) -> None:
    """The killed night's run belongs to the old task: resuming it under the job's name ran the
    old task while the file named the new one. It is closed (kept), and tonight starts afresh."""
    from agent.nightly.runner import job_identity

    jobs = load_jobs(write(tmp_path, JOBS))
    history = History(tmp_path / "home")
    killed = NightRecord(job="digits", night="2026-12-01T02:00", kind="run", started="s1", run="abc123")
    killed.identity = job_identity(jobs, "digits")
    history.put(killed)
    now = datetime(2026, 12, 1, 2, 40)
    (same,) = due_jobs(jobs, history, now, ["digits"])
    assert same.resume is killed  # unchanged job: resumed
    moved = load_jobs(write(tmp_path, JOBS.replace("tasks/digits", "tasks/other")))
    (fresh,) = due_jobs(moved, history, now, ["digits"])
    assert fresh.resume is None and fresh.superseded is killed and fresh.night == "2026-12-01T02:00"
    history.put(NightRecord(job="digits", night=fresh.night, kind="run", started="s2"))
    assert [r.started for r in History(tmp_path / "home").nights("digits")] == ["s1", "s2"]


def test_the_nightly_help_shows_a_jobs_file_and_what_comes_next() -> None:
    """Errors send newcomers to `strop nightly --help` for the format; it used to have none."""
    from typer.testing import CliRunner

    from agent.cli import app

    shown = CliRunner().invoke(app, ["nightly", "--help"], terminal_width=120).stdout
    assert "[jobs.digits]" in shown and 'schedule = "0 2 * * *"' in shown
    flat = " ".join(shown.split())  # the help is reflowed to the terminal's width
    assert "strop nightly install --jobs jobs.toml" in flat and "strop nightly list --jobs jobs.toml" in flat


def test_the_listing_says_what_is_due_when_each_job_fires_next_and_how_its_last_night_ended(
    tmp_path: Path,
) -> None:
    from agent.nightly.listing import job_lines

    jobs = load_jobs(write(tmp_path, JOBS))
    history = History(tmp_path / "home")
    tuesday = datetime(2026, 12, 1, 2, 5)
    history.put(
        NightRecord(job="digits", night="2026-12-01T02:00", kind="run", started="s", status="done",
                    metric="accuracy", best_metric=0.9585)
    )  # fmt: skip
    digits, exp2 = job_lines(jobs, history, tuesday)
    assert (digits.name, digits.due, digits.next_fire) == ("digits", "", "2026-12-02T02:00")
    assert (digits.last_night, digits.last_status, digits.last_best) == (
        "2026-12-01T02:00",
        "done",
        "accuracy = 0.9585",
    )
    assert (exp2.due, exp2.next_fire, exp2.last_night) == ("", "2026-12-01T03:30", "")  # fired 22 h ago
    assert exp2.waits.startswith("a new job: its 2026-11-30T03:30 fire was 22.6h ago")
    assert exp2.what == "--fn exp2 --interval 0,1"
    history.put(NightRecord(job="digits", night="2026-12-02T02:00", kind="run", started="s2", run="abc"))
    assert job_lines(jobs, history, datetime(2026, 12, 2, 2, 30))[0].due == "resumes its killed night"

    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "nightly", "list", "--jobs", str(tmp_path / "jobs.toml"),
         "--now", "2026-12-02T02:30"],
        capture_output=True, text=True, env={**os.environ, "STROP_HOME": str(tmp_path / "home")}, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "digits (run: tasks/digits) · 0 2 * * * · resumes its killed night now" in done.stdout
    assert "exp2 (numerics: --fn exp2 --interval 0,1)" in done.stdout and "no night yet" in done.stdout


def test_a_jobs_file_saved_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    path = tmp_path / "jobs.toml"
    path.write_bytes(b"\xef\xbb\xbf" + b'[nightly]\r\nwindow = "2h"\r\n')
    assert load_jobs(path).spec.nightly.window == 7200.0


def test_the_summary_offers_no_adopt_when_nothing_beat_the_users_own_workspace() -> None:
    """Experiment 0 of a night with no warm start is the workspace as it is: adopting it is nothing.
    With a warm start it is last night's best, which the user may not have adopted yet."""
    from agent.nightly.summary import JobMorning, as_text

    night = NightRecord("j", "2026-12-01T02:00", "run", "2026-12-01T02:00:01", status="done", run="r1",
                        metric="score", direction="maximize", best=0, best_metric=0.5, branch="strop/r1/0")  # fmt: skip
    cold = JobMorning("j", night)
    assert cold.adopt == "" and "nothing to adopt: no experiment beat experiment 0" in as_text([cold])
    warm = JobMorning("j", NightRecord(**{**night.to_dict(), "base": "abc123"}))
    assert warm.adopt == "strop adopt r1/0" and "nothing to adopt" not in as_text([warm])
    better = JobMorning("j", NightRecord(**{**night.to_dict(), "best": 3, "branch": "strop/r1/3"}))
    assert better.adopt == "strop adopt r1/3"


def test_an_mle_job_with_no_valid_submission_failed_the_night() -> None:
    """It was recorded `done` with best —, and the night exited 0, where `strop mle run` exits 1."""
    from agent.nightly.runner import job_ending

    invalid = {"status": "done", "valid_submission": False, "message": "no experiment scored in --time 45s"}
    assert job_ending(invalid) == ("failed", "no valid submission: no experiment scored in --time 45s")
    assert job_ending({"status": "stopped", "valid_submission": True}) == ("done", "")
    grader = {
        "status": "done",
        "valid_submission": False,
        "grader_error": "on the hidden test the grader returned nan",
    }
    assert job_ending(grader) == ("failed", "grader error: on the hidden test the grader returned nan")
    assert job_ending({"status": "done"}) == ("done", "")  # run and evolve jobs hold no submission
    assert job_ending({"status": "failed", "stop_reason": "5 failures in a row"}) == (
        "failed",
        "5 failures in a row",
    )


def test_the_crontab_line_runs_on_a_fresh_home_and_install_makes_the_log_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cron runs the line with `sh -c`: the shell opens `>> …/nightly/nightly.log` before strop starts,
    and on a fresh home that folder did not exist ("Directory nonexistent"): strop never ran."""
    from typer.testing import CliRunner

    from agent.cli import app

    (tmp_path / "jobs.toml").write_text("")  # no jobs: the nightly says so and exits 0
    home = tmp_path / "fresh home"
    line = install.cron_line([sys.executable, "-m", "agent.cli"], tmp_path / "jobs.toml", home)
    command = line.split(maxsplit=5)[5].removesuffix(install.MARK).replace("\\%", "%")
    done = subprocess.run(
        ["sh", "-c", command], capture_output=True, text=True, cwd=Path(__file__).parents[2], timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "nothing is due" in (home / "nightly" / "nightly.log").read_text()

    fake = tmp_path / "bin"  # a `crontab` that keeps the table in a file: the user's is not touched
    fake.mkdir()
    (fake / "crontab").write_text(
        f'#!/bin/sh\nif [ "$1" = "-l" ]; then cat {tmp_path}/table 2>/dev/null || exit 1; '
        f"else cat > {tmp_path}/table; fi\n"
    )
    (fake / "crontab").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STROP_HOME", str(tmp_path / "other home"))
    result = CliRunner().invoke(app, ["nightly", "install", "--jobs", str(tmp_path / "jobs.toml")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "other home" / "nightly").is_dir()
    assert (tmp_path / "table").read_text().rstrip().endswith(install.MARK)


def test_a_usage_error_box_is_said_by_its_message_and_the_listing_checks_evolve_args(tmp_path: Path) -> None:
    from agent.nightly.runner import _why_failed

    box = [
        "Usage: python -m agent.cli evolve numerics [OPTIONS]\n",
        "Try 'python -m agent.cli evolve numerics --help' for help.\n",
        "╭─ Error ─────────────────────────────╮\n",
        "│ Missing option '--interval'.         │\n",
        "╰─────────────────────────────────────╯\n",
    ]
    assert _why_failed(box, 2) == "Missing option '--interval'."  # it was the bottom border
    jobs = write(
        tmp_path, '[jobs.exp2]\nkind = "numerics"\nargs = ["--fn", "exp2"]\nschedule = "0 2 * * *"\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "nightly", "list", "--jobs", str(jobs), "--now", "2026-12-01T02:05"],
        capture_output=True, text=True, env={**os.environ, "STROP_HOME": str(tmp_path / "home")}, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "warning: exp2: args '--fn exp2': Missing option '--interval'." in done.stderr
    good = write(tmp_path, JOBS)
    assert "warning: exp2" not in subprocess.run(
        [sys.executable, "-m", "agent.cli", "nightly", "list", "--jobs", str(good)],
        capture_output=True, text=True, env={**os.environ, "STROP_HOME": str(tmp_path / "home")}, timeout=60,
    ).stderr  # fmt: skip


def test_a_fire_is_missed_past_the_window_and_a_new_job_waits_for_its_next_fire(tmp_path: Path) -> None:
    """A `0 2 * * *` job added at 14:00 was due at once (the next 15-minute cron call ran it
    mid-afternoon), and so was a night missed by hours (the machine booted at 09:00)."""
    from agent.nightly.listing import job_lines

    jobs = load_jobs(
        write(tmp_path, '[nightly]\nwindow = "6h"\n[jobs.a]\ntask = "t"\nschedule = "0 2 * * *"\n')
    )
    history = History(tmp_path / "home")
    assert due_jobs(jobs, history, datetime(2026, 12, 1, 14, 0)) == []  # added mid-afternoon: waits
    (line,) = job_lines(jobs, history, datetime(2026, 12, 1, 14, 0))
    assert line.due == "" and "a new job: its 2026-12-01T02:00 fire was 12.0h ago" in line.waits
    assert [d.night for d in due_jobs(jobs, history, datetime(2026, 12, 2, 2, 15))] == ["2026-12-02T02:00"]
    assert [d.night for d in due_jobs(jobs, history, datetime(2026, 12, 2, 7, 59))] == ["2026-12-02T02:00"]
    history.put(NightRecord(job="a", night="2026-12-02T02:00", kind="run", started="s", status="done"))
    assert due_jobs(jobs, history, datetime(2026, 12, 3, 9, 0)) == []  # the 02:00 fire was missed by 7 h
    (line,) = job_lines(jobs, history, datetime(2026, 12, 3, 9, 0))
    assert (
        line.waits.startswith("its 2026-12-03T02:00 fire was 7.0h ago")
        and line.next_fire == "2026-12-04T02:00"
    )
    assert [d.name for d in due_jobs(jobs, history, datetime(2026, 12, 3, 9, 0), only=["a"])] == ["a"]
    short = load_jobs(
        write(tmp_path, '[nightly]\nwindow = "1m"\n[jobs.a]\ntask = "t"\nschedule = "5 2 * * *"\n')
    )
    assert due_jobs(short, History(tmp_path / "none"), datetime(2026, 12, 1, 2, 15))  # a 15-minute cron call


def test_the_summary_shows_hidden_characters_as_escapes_and_compares_only_the_same_metric(
    tmp_path: Path,
) -> None:
    from agent.nightly.summary import JobMorning, as_html, as_text

    hostile = "bad \u202e0.1 = ssol\u202c \u200bx \x1b]0;TITLE\x07"
    night = NightRecord(
        job="quad", night="2026-12-02T02:00", kind="run", started="s", status="failed", run=None,
        metric="latency_ms", direction="minimize", best_metric=118.941, previous_metric=-0.051,
        previous_night="2026-12-01T02:00", previous_of="score maximize", error=hostile, note=hostile,
    )  # fmt: skip
    assert night.metric_changed and night.gain is None
    text = as_text([JobMorning("quad", night)], nightly_alive=False)
    assert "latency_ms = 118.941 (metric changed from score maximize: no comparison)" in text
    assert "worse" not in text and "improved" not in text
    assert "\\u202e" in text and "\\u200b" in text and "\\x1b" in text
    assert not any(ch in text for ch in "\u202e\u202c\u200b\x1b\x07")
    page = as_html([JobMorning("quad", night)], tmp_path / "home", nightly_alive=False)
    assert "\\u202e" in page and "\\u200b" in page
    assert not any(ch in page for ch in "\u202e\u202c\u200b\x1b\x07")
    again = NightRecord(
        job="quad", night="2026-12-02T02:00", kind="run", started="t", status="done", metric="score",
        direction="maximize", best_metric=-0.04, previous_metric=-0.05, previous_night="2026-12-02T02:00",
        previous_of="score maximize",
    )  # fmt: skip
    assert JobMorning("quad", again).change.endswith(
        "improved by 0.01 since an earlier run of this night (-0.05)"
    )
