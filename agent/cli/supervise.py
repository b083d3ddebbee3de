"""A supervising parent for the commands that drive a run on Ray: one line even when Ray ends the process.

Ray's C++ core worker, inside the driver, ends the whole process with a hard exit when it
writes to a local raylet that died ("Exiting because the Raylet IPC connection failed and
the local Raylet is dead"; not configurable): no Python handler and no atexit hook runs.
strop's probe (`agent.executors.cluster.head_reachable`) usually notices a dead cluster
first and stops with one line (`ClusterGone`, exit 2); when Ray wins the race, `strop run
--executor ray` ended with status 1 and only Ray's line, and the user was not told that
`strop resume RUN` continues the run (it does: nothing recorded is lost).

So such a command runs as two processes. This one re-executes itself as a child (the same
command line, `STROP_SUPERVISED` naming a pipe: never a fork, Ray may hold threads),
forwards SIGTERM and SIGHUP to it, ignores SIGINT (a terminal sends it to both) and waits.
The child says on the pipe which run it drives as soon as the run exists, and that it left
through Python (an atexit hook: a normal end, an error, `end_by`). A child that ended
without saying so was ended under Python (Ray, a segfault in a native library, the OOM
killer): the parent says so in strop's one line and exits 2. Otherwise the parent ends as
the child did, silently. stdout and stderr are inherited: --json output and progress are
the child's own. A command that does not use Ray runs as one process, as before.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV = "STROP_SUPERVISED"
"""Set in the child: the number of the pipe's write end it tells the parent through."""

RAN = "run"
EXITED = "exited"
FORWARDED = (signal.SIGTERM, signal.SIGHUP)
PR_SET_PDEATHSIG = 1


# --------------------------------------------------------------------------- the child's side

_channel: int | None = None  # the child's write end, once it knows it is supervised


def _tell(*words: str) -> None:
    if _channel is None:
        return
    with contextlib.suppress(OSError):
        os.write(_channel, (" ".join(words) + "\n").encode())


def _adopt_channel() -> bool:
    """In the child: take the pipe from the environment (its own processes get neither)."""
    global _channel
    if _channel is not None:
        return True
    value = os.environ.pop(ENV, None)
    if value is None or not value.isdigit():
        return False
    _channel = int(value)
    with contextlib.suppress(OSError):
        os.set_inheritable(_channel, False)
    atexit.register(_tell, EXITED)
    return True


def announce(run_id: str) -> None:
    """The run this process drives exists: a supervising parent names it should Ray end us."""
    _tell(RAN, run_id)


# --------------------------------------------------------------------------- which commands


def _task_file(path: Path) -> Path:
    return path / "task.toml" if path.is_dir() else path


def _task_ray_address(path: Path | None) -> str | None:
    """The Ray address a task file's `[search]` names (auto when it names none), or None for local."""
    if path is None:
        return None
    import tomllib

    try:
        search = tomllib.loads(_task_file(path).read_text()).get("search", {})
    except (OSError, ValueError, UnicodeDecodeError, RecursionError, MemoryError):
        return None  # the command itself says what is wrong with it (nested too deeply: one line)
    if not isinstance(search, dict) or search.get("executor") != "ray":
        return None
    return str(search.get("address") or "auto")


def _flag_ray_address(kind: str | None, address: str | None) -> str | None:
    """What `--executor`/`--address` say: a Ray address, "" for local, None when not given."""
    if kind is None and address is None:
        return None
    return (address or "auto") if (kind or "ray") == "ray" else ""


def run_ray_address(kind: str | None, address: str | None, task_path: Path | None) -> str | None:
    """The Ray head `strop run` (or `strop mle run`) evaluates on, from its flags, else its task's `[search]`."""
    flagged = _flag_ray_address(kind, address)
    if flagged is not None:
        return flagged or None
    return _task_ray_address(task_path)


def resume_ray_address(kind: str | None, address: str | None, run_ref: str | None) -> str | None:
    """The Ray head `strop resume` evaluates on: its flags, else the run's saved executor, else its task's."""
    flagged = _flag_ray_address(kind, address)
    if flagged is not None:
        return flagged or None
    from agent.errors import StropError
    from agent.home import strop_home
    from agent.run_index import RunIndex

    try:
        record = RunIndex(strop_home()).find_run(run_ref)
    except StropError:
        return None  # the command says so, in this process
    saved = _saved_executor(strop_home() / "runs" / record.id / "overrides.json")
    if saved is not None:
        return (saved.get("address") or "auto") if saved.get("kind") == "ray" else None
    return _task_ray_address(Path(record.task_path)) if record.task_path else None


def _saved_executor(path: Path) -> dict[str, Any] | None:
    """The executor `agent.loop.graph.Overrides` kept in the run folder, if any."""
    try:
        executor = json.loads(path.read_text()).get("executor")
    except (OSError, ValueError, AttributeError):
        return None
    return executor if isinstance(executor, dict) else None


def _invoked_as(words: list[str]) -> bool:
    """Whether this process's own command line is the command (not a test's in-process call)."""
    return sys.argv[1 : 1 + len(words)] == words


# --------------------------------------------------------------------------- the parent's side


@dataclass
class Ending:
    """How the child ended: its exit status (negative: the signal that ended it) and what it said."""

    status: int
    run_id: str | None = None
    exited: bool = False
    forwarded: list[int] = field(default_factory=list)


def supervised(words: list[str], ray_address: Callable[[], str | None]) -> None:
    """Hook at the top of a command that may drive a run on Ray (`words`: its path, e.g. ["run"]).

    In a supervised child, take the pipe and go on. Else, when the command evaluates on Ray
    and this process is that command line, run it again as a child, wait, and end as it
    ended (or with the line it could not say). Else go on in this process.
    """
    if _adopt_channel():
        return
    if not _invoked_as(words):
        return
    address = ray_address()
    if address is None:
        return
    ending = run_child([sys.executable, *sys.orig_argv[1:]])
    line = last_word(ending, address)
    if line is not None:
        _say(line)
        _end(2)
    _end(ending.status)


def run_child(argv: list[str]) -> Ending:
    """Run `argv` as a supervised child, with SIGTERM/SIGHUP forwarded and SIGINT ignored here."""
    read_end, write_end = os.pipe()
    environment = {**os.environ, ENV: str(write_end)}
    forwarded: list[int] = []
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, frame: Any) -> None:
        forwarded.append(signum)
        if child is not None:
            with contextlib.suppress(OSError):
                child.send_signal(signum)

    # Python handlers, not SIG_IGN: exec resets them, so the child keeps the default dispositions
    previous = {signum: signal.getsignal(signum) for signum in (*FORWARDED, signal.SIGINT)}
    for signum in FORWARDED:
        signal.signal(signum, forward)
    signal.signal(signal.SIGINT, lambda signum, frame: None)
    try:
        started = subprocess.Popen(
            argv, env=environment, pass_fds=(write_end,), preexec_fn=_dies_with_parent()
        )
        early, child = list(forwarded), started  # a signal from now on is forwarded by `forward`
        os.close(write_end)
        for signum in early[-1:]:  # one that came while it was starting
            started.send_signal(signum)
        status = started.wait()
    finally:
        for signum, handler in previous.items():
            if handler is not None:
                signal.signal(signum, handler)
        with contextlib.suppress(OSError):
            os.close(write_end)
    ending = Ending(status, forwarded=forwarded)
    _read_messages(read_end, ending)
    return ending


def _dies_with_parent() -> Callable[[], None] | None:
    """The child is killed when this process dies (Linux): a `kill -9` of the `strop` a user sees
    must end the run as before, not leave it driven by an orphan that holds the run's lock.

    This process has imported neither Ray nor anything that starts threads: `preexec_fn` is safe.
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # it died before the line above
            os._exit(1)

    return arm


def _read_messages(read_end: int, ending: Ending) -> None:
    """What the child said; never blocks (a process it started may still hold the pipe)."""
    os.set_blocking(read_end, False)
    chunks = []
    with contextlib.suppress(OSError):
        while chunk := os.read(read_end, 65536):
            chunks.append(chunk)
    os.close(read_end)
    for line in b"".join(chunks).decode(errors="replace").splitlines():
        word, _, rest = line.partition(" ")
        if word == RAN and rest:
            ending.run_id = rest.strip()
        elif word == EXITED:
            ending.exited = True


def last_word(ending: Ending, address: str, reachable: Callable[[str], bool] | None = None) -> str | None:
    """The one line for a child that ended under Python, or None when it left through Python."""
    if ending.exited:
        return None
    if ending.status < 0 and -ending.status in ending.forwarded:
        return None  # ended by the signal it was sent, before its handler was in place
    if reachable is None:
        from agent.executors.cluster import head_reachable

        reachable = head_reachable
    head = _resolved(address)
    run = ending.run_id
    if head is not None and not reachable(head):
        gone = f"the Ray cluster at {head} stopped answering"
        if run is None:
            return f"{gone} before a run was started (run with --executor local)"
        # as `agent.loop.graph._stopped_by` words a `ClusterGone` (tests/spine/test_supervise.py)
        return (
            f"the run stopped: {gone}; the evaluations in flight stay pending: `strop resume {run}` "
            "continues them (add --executor local to finish on this machine)"
        )
    how = _how(ending.status)
    if run is None:
        return f"strop's process ended under Python ({how}) before a run was started"
    return f"the run stopped: strop's process ended under Python ({how}); `strop resume {run}` continues it"


def _how(status: int) -> str:
    if status < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-status).name}"
        return f"killed by signal {-status}"
    return f"exit status {status}"


def _resolved(address: str) -> str | None:
    """HOST:PORT for `address`; "auto" as Ray finds it (RAY_ADDRESS, else the newest local cluster)."""
    if address != "auto":
        return address.removeprefix("ray://")
    found = os.environ.get("RAY_ADDRESS", "")
    if not found or found == "auto":
        with contextlib.suppress(OSError):
            found = Path("/tmp/ray/ray_current_cluster").read_text().strip()
    return found.removeprefix("ray://") or None


def _say(line: str) -> None:
    """strop's error style (`agent.cli.main`): one line on stderr, nothing from the terminal's control set."""
    from rich.console import Console

    from agent.cli.render import safe

    Console(stderr=True).print(f"[bold red]error:[/] {safe(line)}", highlight=False, soft_wrap=True)


def _end(status: int) -> None:
    """End as the child did: by its exit status, or by the signal that ended it (the nightly runner
    reads -15 for a SIGTERM)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    if -status in (*FORWARDED, signal.SIGINT):
        signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
    os._exit(128 - status if status < 0 else status)
