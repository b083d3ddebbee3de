"""Hostile runs for the report and UI tests: a real task whose candidates, scorer and logs attack the pages.

`make_hostile_task` writes a task (a git repo, local sandbox, one-stage evaluator) whose
[space] choices are markup, template syntax, `javascript:` URLs, bidi overrides and ANSI
escapes, so the ideas the offline proposer writes carry them; its evaluator prints them
as metric names (with 1e308, -1e308, NaN and Infinity as values), as log lines (with a
100 kB line, `\\r` redraws and bytes that are not UTF-8), and fails on one choice with
them in its reason. `run_task` runs it through the real CLI. `page_problems` reads a
page as a browser would and lists what could execute or hide.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
TEMPLATE = "{{7*7}}"
JS_URL = "javascript:alert(1)"
BIDI = "a\u202eb\u200bc\u2066d"
ANSI = "\x1b[31mred\x1b[0m"
CHOICES = [ANSI, IMG, BIDI, TEMPLATE, JS_URL, SCRIPT]  # seed 0 samples the first four first

EVALUATOR = r"""
import json, sys
p = json.load(open("params.json"))
print("L" * 100_000)
print("\x1b[1;31mcoloured\x1b[0m \x1b]8;;javascript:alert(1)\x07link\x1b]8;;\x07 <script>alert('log')</script>")
print("progress 10%\rprogress 50%\rprogress 100%")
print("\u202eevil\u200b bidi and zero-width")
sys.stdout.flush()
sys.stdout.buffer.write(b"not utf-8: \xff\xfe\xc3\x28 end\n")
sys.stdout.buffer.flush()
print("<img src=x onerror=alert('stderr')>", file=sys.stderr)
if p["evil"] == "{{7*7}}":
    raise SystemExit("failed: <script>alert('reason')</script> \"><img src=x onerror=alert(1)> \u202eevil")
print(json.dumps({
    "score": 1e308 if "\u202e" in p["evil"] else p["x"],
    "javascript:alert(1)": 2.0,
    p["evil"]: 1.0,
    "<script>alert(1)</script>": 1e308,
    "\"><img src=x onerror=alert(1)>": -1e308,
    "nan": float("nan"),
    "inf": float("inf"),
    "\u202erlt\u200b": 3.0,
}))
"""

TASK = """
[task]
name = "hostile"
goal = "Maximise score. <script>alert(1)</script> {{{{7*7}}}}"

[evaluator]
command = "python evaluate.py"
metric = "score"
direction = "maximize"
timeout = "30s"
sandbox = "local"
files = ["evaluate.py"]

[budget]
experiments = {experiments}

[space]
x = {{ type = "float", low = 0.0, high = 1.0 }}
evil = {{ type = "choice", choices = {choices} }}

[knowledge]
memory = false
"""


def commit_all(root: Path, message: str) -> None:
    """`root` as a new git repo with everything in one commit (a task's workspace)."""
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", message]):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
            cwd=root,
            check=True,
            capture_output=True,
        )


def make_hostile_task(root: Path, experiments: int = 8) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "evaluate.py").write_text(EVALUATOR)
    (root / "params.json").write_text(json.dumps({"x": 0.5, "evil": SCRIPT}))
    (root / "task.toml").write_text(TASK.format(experiments=experiments, choices=json.dumps(CHOICES)))
    commit_all(root, "hostile")
    return root / "task.toml"


def run_task(task: Path, home: Path, *args: str) -> str:
    """`strop run TASK` through the real CLI in `home`; returns the run id."""
    env = {**os.environ, "STROP_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "run", str(task), "--json", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return str(json.loads(done.stdout)["run"])


# Characters a page must never carry raw: controls (but tab, newline, CR), bidi and zero-width.
HIDDEN = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]"
)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and not (values.get("src") or "").startswith("/static/"):
            self.problems.append(f"a <script> that is not the UI's own: {attrs}")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"an event handler attribute: <{tag} {name}={value!r}>")
            if name in ("href", "src", "action", "formaction") and value:
                scheme = re.match(r"\s*([a-z][a-z0-9+.-]*):", value, re.I)
                if scheme and not value.startswith("data:image/png;base64,"):
                    self.problems.append(f"a {scheme.group(1)}: URL in <{tag} {name}>")


def page_problems(html: str) -> list[str]:
    """What in a page could run script or hide text: foreign <script>, on* attributes, script URLs,
    raw control, bidi or zero-width characters, and template syntax that was evaluated."""
    reader = _Reader()
    reader.feed(html)
    problems = reader.problems
    hidden = sorted({f"U+{ord(c):04X}" for c in HIDDEN.findall(html)})
    if hidden:
        problems.append(f"raw hidden characters: {', '.join(hidden)}")
    return problems


SLOW_EVALUATOR = """
import json, os, time
p = json.load(open("params.json"))
if p["x"] != 0.5:  # every experiment after 0 is still running when the test kills the run
    open({pids!r}, "a").write(f"{{os.getpid()}}\\n")
    time.sleep(60)
print(json.dumps({{"score": p["x"]}}))
"""


def killed_run(root: Path, home: Path) -> str:
    """A real run killed with SIGKILL while experiment 1 is evaluated (0 is scored); returns its id."""
    import signal
    import time

    from agent.run_index import RunIndex

    root.mkdir(parents=True, exist_ok=True)
    pids = root / "evaluator.pids"
    (root / "evaluate.py").write_text(SLOW_EVALUATOR.format(pids=str(pids)))
    (root / "params.json").write_text(json.dumps({"x": 0.5}))
    task = TASK.replace('evil = {{ type = "choice", choices = {choices} }}\n', "")
    (root / "task.toml").write_text(task.format(experiments=5))
    commit_all(root, "slow")
    env = {**os.environ, "STROP_HOME": str(home)}
    process = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "run", str(root / "task.toml")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the kill takes its sandboxed evaluator along, as a crash would not
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(0.3)
            index = RunIndex(home)
            runs = index.runs()
            records = index.experiments(runs[0].id) if runs else []
            index.close()
            if len(records) >= 2 and pids.is_file():  # experiment 1 recorded and being evaluated
                break
        else:
            raise AssertionError("the run recorded no second experiment within two minutes")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        # the sandbox starts evaluators in a session of their own: a SIGKILL'd strop leaves them
        for pid in pids.read_text().split() if pids.is_file() else []:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
    return runs[0].id
