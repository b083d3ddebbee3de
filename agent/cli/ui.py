"""`strop ui`: the local web app over this machine's runs (read-only)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agent.cli import app
from agent.cli.render import out
from agent.loopback import loopback_host


@app.command("ui")
def ui_command(
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8765,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; anything but loopback requires a token.")
    ] = "127.0.0.1",
    token: Annotated[
        str | None,
        typer.Option("--token", envvar="STROP_UI_TOKEN", help="Token every request must carry (?token=…)."),
    ] = None,
    jobs: Annotated[
        Path | None,
        typer.Option("--jobs", envvar="STROP_JOBS", help="A jobs file, shown on the nightly page."),
    ] = None,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-host",
            metavar="NAME",
            help="Another name the UI is reached by (repeatable); other Host headers are refused.",
        ),
    ] = None,
) -> None:
    """Serve the web UI: runs, a run's live progress, its tree, any experiment's idea, verdict,
    metrics, log tail and diff, two experiments side by side, the nightly jobs and their history.

    It binds 127.0.0.1 by default. Bound anywhere else it requires a token (one is made up
    and printed when --token is not given). Requests must name the server by its bound
    address, localhost, 127.0.0.1 or [::1], or a name given with --allow-host.

    Example:  strop ui --port 8765   then open http://127.0.0.1:8765/
    """
    import secrets

    import uvicorn

    from agent.errors import UserError
    from agent.home import strop_home
    from agent.ui.app import create_app

    if token is not None and len(token) < 16:
        raise UserError("--token must be at least 16 characters")
    if token is None and not loopback_host(host):
        token = secrets.token_urlsafe(24)
    shown = "localhost" if host in ("0.0.0.0", "::") else (f"[{host}]" if ":" in host else host)
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    _check_free(host, port)
    out.print(f"strop ui on {url}  (read-only; Ctrl-C to stop)", markup=False)
    servers: list[uvicorn.Server] = []
    app = create_app(
        strop_home(),
        token,
        jobs=jobs,
        stopping=lambda: any(s.should_exit for s in servers),
        allowed_hosts=[host, *(allow_host or [])],
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=5,  # a backstop: live streams end by themselves on shutdown
    )
    server = uvicorn.Server(config)
    servers.append(server)
    try:
        server.run()
    except OSError as error:
        raise UserError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    except SystemExit:  # uvicorn exits 3 when it cannot bind, after logging the error itself
        if server.started:
            raise
        raise UserError(f"cannot listen on {host}:{port} (in use?)") from None
    if not server.started:
        raise UserError(f"cannot listen on {host}:{port} (in use?)")


def _check_free(host: str, port: int) -> None:
    """Refuse, in one line and before the URL is printed as if served, a place uvicorn cannot bind:
    it logged its own `ERROR: [Errno 99]` and exited 3, after which a guess ("in use?") misled."""
    import socket

    from agent.errors import UserError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as error:
            where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            raise UserError(f"cannot listen on {where}: {_bind_problem(error, host)}") from None


def _bind_problem(error: OSError, host: str) -> str:
    """Why a bind failed, in words, with what to do about it."""
    import errno
    import socket

    if isinstance(error, socket.gaierror):
        return f"no address is known for {host!r} ({error.strerror}); give an address of this machine"
    if error.errno == errno.EADDRINUSE:
        return "something already listens there; give another --port"
    if error.errno == errno.EADDRNOTAVAIL:
        return "this machine has no such address; give one of its own (127.0.0.1, or 0.0.0.0 for all)"
    if error.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges); give another --port"
    return error.strerror or str(error)
