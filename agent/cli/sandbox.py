"""`strop sandbox check | image | run`: see, prepare and use the sandboxes by hand."""

from __future__ import annotations

import dataclasses
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from agent.cli import app
from agent.cli.render import err, out, print_json
from agent.errors import UserError

sandbox_app = typer.Typer(
    help=(
        "Sandboxes run candidate and evaluator code: docker (strongest), bwrap, local (no isolation).\n\n"
        "Start with `strop sandbox check`; `strop sandbox run -- CMD` runs anything through one."
    ),
    no_args_is_help=True,
)
app.add_typer(sandbox_app, name="sandbox")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of text.")]

_STATUS_STYLE = {"working": "green", "weak": "yellow", "broken": "red", "unavailable": "bright_black"}


@sandbox_app.command("check")
def check_command(json_out: JsonFlag = False) -> None:
    """Say which backends work here, after a self-test of each.

    The self-test imports numpy and scikit-learn inside the sandbox, and checks that a
    secret-named variable, a write next to the workspace and a TCP connection to
    127.0.0.1 are all stopped. Exit status 1 when neither docker nor bwrap works.

    Example:  strop sandbox check --json
    """
    from sandbox.selftest import check_all

    with err.status("testing sandbox backends …"):
        checks = check_all()
    if json_out:
        print_json([dataclasses.asdict(check) for check in checks])
    else:
        for check in checks:
            style = _STATUS_STYLE.get(check.status, "white")
            launch = f"  ({check.launch_seconds * 1000:.0f} ms to run `true`)" if check.launch_seconds else ""
            out.print(f"{check.name:7} [{style}]{check.status:11}[/] {check.detail}{launch}", markup=True)
    if not any(check.status == "working" for check in checks):
        raise typer.Exit(1)


@sandbox_app.command("image")
def image_command(
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Remove and import it again.")] = False,
) -> None:
    """Build the docker image the `docker` backend runs in (offline, about a second).

    The image is an empty skeleton; strop's interpreter and venv are mounted read-only
    at run time. The docker backend also builds it on first use.

    Example:  strop sandbox image --rebuild
    """
    from sandbox.container import connect
    from sandbox.execution import SandboxError
    from sandbox.image import build_image
    from sandbox.runtime import Runtime

    try:
        tag = build_image(connect(), Runtime.detect(), rebuild=rebuild)
    except SandboxError as error:
        raise UserError(str(error)) from None
    out.print(f"ready {tag}")


@sandbox_app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run_command(
    command: Annotated[list[str], typer.Argument(metavar="-- CMD...", help="The command and its arguments.")],
    backend: Annotated[str, typer.Option("--backend", "-b", help="auto, docker, bwrap or local.")] = "auto",
    timeout: Annotated[str, typer.Option(help="Wall-clock limit, e.g. 30s, 10m.")] = "60s",
    memory: Annotated[str, typer.Option(help="Memory limit (no swap), e.g. 512m, 2g.")] = "1g",
    pids: Annotated[int, typer.Option(help="Most processes at once.")] = 128,
    output: Annotated[str, typer.Option(help="Output kept per stream, e.g. 1m.")] = "1m",
    workdir: Annotated[
        Path | None, typer.Option(help="Writable workspace (default: the current folder).")
    ] = None,
    readonly: Annotated[
        list[Path] | None, typer.Option("--readonly", help="A path in the workspace to protect (repeatable).")
    ] = None,
    network: Annotated[bool, typer.Option(help="Allow network access (off by default).")] = False,
    json_out: JsonFlag = False,
) -> None:
    """Run CMD in a sandbox: `strop sandbox run --backend bwrap --timeout 10s -- python train.py`.

    The command's output is printed as it was captured (capped); a summary goes to
    stderr. Exit status: the command's own, 124 on timeout, 137 when killed for
    memory or by a signal, 125 when stopped for output or disk.
    """
    from sandbox import Limits, SandboxError, WeakSandboxWarning, open_sandbox
    from sandbox.units import UnitError, parse_duration, parse_size

    try:
        limits = Limits(
            timeout=parse_duration(timeout),
            memory=parse_size(memory),
            pids=pids,
            output_bytes=parse_size(output),
            network=network,
        )
    except UnitError as error:
        raise UserError(str(error)) from None
    folder = (workdir or Path.cwd()).resolve()
    _check_lendable(folder)
    try:
        with warnings.catch_warnings():  # the log line already says it, once
            warnings.simplefilter("ignore", WeakSandboxWarning)
            box = open_sandbox(backend)
        result = box.run(command, folder, limits, readonly_paths=readonly or [])
    except (SandboxError, ValueError) as error:
        raise UserError(str(error)) from None
    if json_out:
        print_json(dataclasses.asdict(result))
    else:
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        err.print(_summary(result), markup=False)
    raise typer.Exit(_exit_status(result))


LEND_MOST_FILES = 20_000


def _check_lendable(folder: Path) -> None:
    """As root, a root-owned workspace is lent to the sandbox user for the run: every path in it
    changes owner, and changes back after (or stays, if strop is killed). Fine for a project
    folder; not for /tmp, whose files are other users' and programs', nor for a system folder.
    """
    import os
    import stat

    if not hasattr(os, "getuid") or os.getuid() != 0 or not folder.is_dir():
        return
    info = folder.stat()
    if info.st_uid != 0:
        return  # run as the folder's owner: nothing changes hands
    advice = "give the command a folder of its own (--workdir DIR)"
    if info.st_mode & stat.S_ISVTX or len(folder.parts) <= 2:
        raise UserError(
            f"the workspace {folder} is a shared or system folder: as root, strop would lend every "
            f"file in it to the sandbox user for the run; {advice}"
        )
    count = 0
    for _, folders, files in os.walk(folder):
        count += len(folders) + len(files)
        if count > LEND_MOST_FILES:
            raise UserError(
                f"the workspace {folder} holds more than {LEND_MOST_FILES:,} files: as root, strop would "
                f"lend every one to the sandbox user for the run; {advice}"
            )


def _summary(result: Any) -> str:
    peak = f", peak {result.peak_memory / (1 << 20):.0f} MiB" if result.peak_memory else ""
    why = f", killed: {result.killed_by.value}" if result.killed_by else ""
    return (
        f"[{result.backend}] exit {result.exit_code} in {result.wall_time:.2f}s, "
        f"cpu {result.cpu_time:.2f}s{peak}{why}"
    )


def _exit_status(result: Any) -> int:
    from sandbox import KilledBy

    if result.killed_by is KilledBy.TIMEOUT:
        return 124
    if result.killed_by in (KilledBy.OUTPUT, KilledBy.DISK):
        return 125
    if result.exit_code is None or result.exit_code < 0 or result.killed_by is not None:
        return 137
    return min(result.exit_code, 255)
