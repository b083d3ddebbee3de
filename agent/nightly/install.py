"""`strop nightly install`: a crontab line (default) or a systemd user timer that runs the nightly.

Both call `strop nightly run --jobs FILE` every 15 minutes; the jobs' own cron
schedules decide what is due, and the nightly lock makes the calls that find a
night in progress exit at once. So one line serves every job and every schedule.

    crontab:  */15 * * * * mkdir -p …/nightly && STROP_HOME=… /path/to/strop nightly run --jobs /abs/jobs.toml >> …/nightly.log 2>&1  # strop-nightly
    systemd:  ~/.config/systemd/user/strop-nightly.service + strop-nightly.timer (OnCalendar=*:0/15)

The text is built by pure functions (tested); only `apply_*` touch the system.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import unicodedata
from pathlib import Path

from agent.errors import UserError

MARK = "# strop-nightly"
EVERY = "*/15 * * * *"
UNIT = "strop-nightly"


def _refuse_control_characters(strop: list[str], jobs: Path, home: Path) -> None:
    """Refuse a value for the crontab line or the systemd unit that holds a control character.

    Quoting cannot carry one: cron and systemd read a newline as the end of the line, so a jobs
    path holding "\n* * * * * touch /tmp/x #" made `install` write a second, valid cron line of
    the path's choosing (and split the unit's ExecStart the same way).
    """
    named = [("the jobs file's path", str(jobs)), ("STROP_HOME", str(home))]
    named += [("strop's own command", word) for word in strop]
    for what, value in named:
        odd = next((char for char in value if unicodedata.category(char) == "Cc"), None)
        if odd is not None:
            raise UserError(
                f"{what} {ascii(value)} holds a control character ({ascii(odd)}), which no crontab line or "
                "systemd unit can carry: rename or move it"
            )


def _command(strop: list[str], jobs: Path) -> str:
    return shlex.join([*strop, "nightly", "run", "--jobs", str(jobs)])


def log_folder(home: Path) -> Path:
    """Where the crontab line appends the nightly's output."""
    return home / "nightly"


def cron_line(strop: list[str], jobs: Path, home: Path) -> str:
    """The crontab line. It makes the log's folder itself: the shell opens `>> log` before strop
    starts, and on a fresh home (or one moved or cleaned since `install`) a missing folder failed
    the redirection ("Directory nonexistent"), so strop never ran and nothing was logged."""
    _refuse_control_characters(strop, jobs, home)
    folder = shlex.quote(str(log_folder(home)))
    log = shlex.quote(str(log_folder(home) / "nightly.log"))
    command = (
        f"mkdir -p {folder} && STROP_HOME={shlex.quote(str(home))} {_command(strop, jobs)} >> {log} 2>&1"
    )
    return f"{EVERY} {command.replace('%', chr(92) + '%')}  {MARK}"  # cron reads a bare % as a newline


def with_line(crontab: str, line: str) -> str:
    """`crontab` with strop's line added, replacing an older one; other lines untouched."""
    return without_line(crontab) + line + "\n"


def replaced_line(crontab: str, line: str) -> str | None:
    """strop's line already in `crontab` when it differs from `line` (another jobs file or home):
    one line serves a machine, so installing replaces it, and the user should hear which."""
    old = next((row.rstrip() for row in crontab.splitlines() if row.rstrip().endswith(MARK)), None)
    return old if old is not None and old != line.rstrip() else None


def without_line(crontab: str) -> str:
    kept = [row for row in crontab.splitlines() if not row.rstrip().endswith(MARK)]
    return "".join(f"{row}\n" for row in kept)


def _systemd_escape(text: str, variables: bool = True) -> str:
    """`text` as systemd reads it literally: `%` starts a specifier (`%h`), `$` (in ExecStart) a variable."""
    text = text.replace("%", "%%")
    return text.replace("$", "$$") if variables else text


def systemd_units(strop: list[str], jobs: Path, home: Path) -> dict[str, str]:
    """The service and timer files, by file name.

    Environment= is double-quoted (systemd splits it on spaces), and `%` and `$` are
    escaped in both lines, so a home or jobs path with spaces, `%` or `$` reaches strop unchanged.
    """
    _refuse_control_characters(strop, jobs, home)
    environment = json.dumps(f"STROP_HOME={home}", ensure_ascii=False)  # double-quoted, C-style escapes
    service = (
        "[Unit]\n"
        "Description=strop nightly jobs (runs what is due; the nightly lock prevents overlaps)\n\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"Environment={_systemd_escape(environment, variables=False)}\n"
        f"ExecStart={_systemd_escape(_command(strop, jobs))}\n"
    )
    timer = (
        "[Unit]\n"
        "Description=run strop nightly every 15 minutes\n\n"
        "[Timer]\n"
        "OnCalendar=*:0/15\n"
        "Persistent=true\n\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )
    return {f"{UNIT}.service": service, f"{UNIT}.timer": timer}


def systemd_dir() -> Path:
    return Path.home() / ".config" / "systemd" / "user"


def apply_crontab(line: str | None) -> str:
    """Install `line` in the user's crontab (None removes strop's line); returns what was done."""
    if shutil.which("crontab") is None:
        raise UserError(
            "no `crontab` command here: install cron, or use --systemd (or --print and add it yourself)"
        )
    current = subprocess.run(["crontab", "-l"], capture_output=True, text=True, check=False)
    existing = current.stdout if current.returncode == 0 else ""
    updated = without_line(existing) if line is None else with_line(existing, line)
    done = subprocess.run(["crontab", "-"], input=updated, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise UserError(f"crontab refused the update: {done.stderr.strip()}")
    if line is None:
        return "removed strop's crontab line"
    earlier = replaced_line(existing, line)
    return "installed the crontab line" + (f"; it replaces the earlier one: {earlier}" if earlier else "")


def apply_systemd(units: dict[str, str] | None, folder: Path) -> str:
    """Write (or, for None, remove) the units, and enable or disable the timer when systemd answers."""
    systemctl = shutil.which("systemctl")
    if units is None:
        if systemctl:
            subprocess.run(
                [systemctl, "--user", "disable", "--now", f"{UNIT}.timer"], capture_output=True, check=False
            )
        for name in (f"{UNIT}.service", f"{UNIT}.timer"):
            (folder / name).unlink(missing_ok=True)
        return f"removed {UNIT}.service and {UNIT}.timer from {folder}"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in units.items():
        (folder / name).write_text(text)
    if systemctl:
        subprocess.run([systemctl, "--user", "daemon-reload"], capture_output=True, check=False)
        enabled = subprocess.run(
            [systemctl, "--user", "enable", "--now", f"{UNIT}.timer"],
            capture_output=True,
            text=True,
            check=False,
        )
        if enabled.returncode == 0:
            return f"wrote and enabled {UNIT}.timer in {folder}"
    return f"wrote {UNIT}.service and {UNIT}.timer in {folder}; enable with: systemctl --user enable --now {UNIT}.timer"
