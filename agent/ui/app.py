"""The web UI's routes (FastAPI, server-rendered Jinja pages, htmx for live parts).

    /                          runs, newest first
    /runs/{run}                one run: live progress over server-sent events, tree, curve
    /runs/{run}/events         the SSE stream: a fresh "progress" fragment whenever the run changes
    /runs/{run}/{exp}          one experiment: idea, verdict, metrics, decisions, log tail, diff
    /runs/{run}/compare?a=&b=  two experiments side by side, and the diff between them
    /runs/{run}/plot/{name}    the report's plots (curve, tree, budget, pareto) as PNG
    /runs/{run}/report.html    the run's self-contained report (as `strop report` writes it)
    /nightly                   the nightly jobs and their history

Everything is read-only: the UI never starts, stops or changes a run. When a token
is set (required whenever the server listens beyond loopback), every request must
carry it (`?token=` once, then a cookie). Without one, only the user who started the
server is answered: a connection another local user's process opened (its socket's
owner, see `agent.ui.peer`) is refused, root's allowed (root reads the runs anyway); where
that cannot be told (no /proc), loopback is answered as before. Every request must also name this server
in its Host header and not come from another site's page (see `agent.ui.security`),
and every response carries headers that keep the pages out of frames, out of other
sites' pages and to this origin's own scripts and styles.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from agent.errors import NotFoundError
from agent.report.text import visible
from agent.run_index import RunIndex
from agent.ui import peer, security, views

HERE = Path(__file__).parent
POLL_SECONDS = 0.5
PACE = 10  # a live stream waits at least PACE times what its last read and render took
KEEPALIVE_SECONDS = 15.0
COOKIE = "strop_token"


def create_app(
    home: Path,
    token: str | None = None,
    poll: float = POLL_SECONDS,
    jobs: Path | None = None,
    stopping: Callable[[], bool] = lambda: False,
    allowed_hosts: Iterable[str] = (),
) -> FastAPI:
    """The app over one strop home; `token` None means loopback use without a token; `jobs`: a jobs file.

    `stopping` says when the server is shutting down: live streams end then, so that
    Ctrl-C is not held up by an open browser tab. `allowed_hosts`: the bound address
    and any names the user reaches the server by, besides loopback names and the
    address a request arrived at.
    """
    app = FastAPI(title="strop", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.finalize = visible  # before any template is compiled: it is applied at compile time
    templates.env.globals["metric_text"] = views.metric_text

    def index() -> RunIndex:
        return RunIndex(home)

    def page(request: Request, name: str, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name, context)

    names = security.allowed_names(allowed_hosts)
    owner = os.geteuid()

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        """Host check, then the token (if any), then the browser security headers on every answer."""
        refused = _refusal(request, names, token, owner)
        response = refused or await call_next(request)
        for header, value in security.HEADERS.items():
            response.headers.setdefault(header, value)
        response.headers.setdefault("Content-Security-Policy", security.PAGE_CSP)
        if refused is None and token is not None and request.query_params.get("token"):
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response

    @app.exception_handler(NotFoundError)
    async def not_found(request: Request, error: NotFoundError) -> HTMLResponse:
        text = _escape(visible(str(error)))
        return HTMLResponse(f"<p>{text}</p><p><a href='/'>runs</a></p>", status_code=404)

    def page_route(path: str, **options: Any) -> Callable[..., Any]:
        """GET and HEAD (what link checkers and `curl -I` send); the server drops HEAD's body."""
        return app.api_route(path, methods=["GET", "HEAD"], **options)

    @page_route("/", response_class=HTMLResponse)
    def runs_page(request: Request) -> HTMLResponse:
        return page(request, "runs.html", rows=views.runs(index()))

    @page_route("/runs/{run_id}", response_class=HTMLResponse)
    def run_page(request: Request, run_id: str) -> HTMLResponse:
        live = views.progress(index(), run_id)
        return page(request, "run.html", p=live, run=live.run, children=views.tree(live.records))

    @app.get("/runs/{run_id}/events")
    async def run_events(request: Request, run_id: str) -> StreamingResponse:
        views.progress(index(), run_id)  # 404 before the stream opens

        async def stream() -> Any:
            last: tuple[Any, ...] | None = None
            quiet = pause = 0.0
            while not stopping() and not await request.is_disconnected():
                started = time.monotonic()
                live = await run_in_threadpool(lambda: views.progress(index(), run_id))  # sqlite: one thread
                if live.signature != last:
                    last = live.signature
                    quiet = 0.0
                    html = templates.get_template("progress.html").render(
                        p=live, run=live.run, children=views.tree(live.records)
                    )
                    yield (
                        "event: progress\n" + "".join(f"data: {line}\n" for line in html.splitlines()) + "\n"
                    )
                else:
                    quiet += pause
                    if quiet >= KEEPALIVE_SECONDS:
                        quiet = 0.0
                        yield ": keep-alive\n\n"
                # reading and drawing a long run costs more (the index's every record, the whole
                # tree): a tab watching one polls less often, for at most ~1/PACE of a core
                pause = max(poll, PACE * (time.monotonic() - started))
                await asyncio.sleep(pause)

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    @page_route("/runs/{run_id}/compare", response_class=HTMLResponse)
    def compare_page(request: Request, run_id: str, a: str = "", b: str = "") -> HTMLResponse:
        db = index()
        run, left = views.experiment(db, run_id, a)
        _, right = views.experiment(db, run_id, b)
        text, cut = views.diff(run, left.commit, right.commit, home)
        return page(request, "compare.html", run=run, left=left, right=right, diff=_diff_lines(text), cut=cut)

    @page_route("/runs/{run_id}/report.html", response_class=HTMLResponse)
    def report(run_id: str) -> HTMLResponse:
        """The run's self-contained report (`strop report`), to read or save."""
        from agent.report import gather, render_html
        from agent.report.plots import all_plots

        data = gather(index(), run_id, home)
        csp = {"Content-Security-Policy": security.REPORT_CSP}  # its inline style and data: images
        return HTMLResponse(render_html(data, all_plots(data)), headers=csp)

    @page_route("/runs/{run_id}/plot/{name}.png")
    def plot(run_id: str, name: str) -> Response:
        from agent.report import gather
        from agent.report import plots as drawing

        maker = {
            "curve": drawing.metric_curve,
            "tree": drawing.experiment_tree,
            "budget": drawing.budget,
            "pareto": drawing.pareto_front,
        }.get(name)
        if maker is None:
            raise HTTPException(404, f"no plot {name!r}")
        drawn = maker(gather(index(), run_id, home))
        if drawn is None:
            raise HTTPException(404, f"this run has no {name} plot")
        return Response(drawn.png, media_type="image/png", headers={"Cache-Control": "no-store"})

    @page_route("/runs/{run_id}/{exp}", response_class=HTMLResponse)
    def experiment_page(request: Request, run_id: str, exp: str) -> HTMLResponse:
        db = index()
        run, record = views.experiment(db, run_id, exp)
        text, cut = views.diff(run, views.parent_commit(db, run, record), record.commit, home)
        siblings = [r.id for r in db.experiments(run.id)]
        return page(
            request,
            "experiment.html",
            run=run,
            r=record,
            diff=_diff_lines(text),
            cut=cut,
            log=views.log_tail(record.log_path, home),
            others=siblings,
        )

    @page_route("/nightly", response_class=HTMLResponse)
    def nightly_page(request: Request) -> HTMLResponse:
        from agent.nightly.history import History
        from agent.nightly.lock import nightly_running
        from agent.nightly.runner import found_so_far

        listed, problem = views.scheduled_jobs(jobs)
        nights = [found_so_far(night, home) for night in reversed(History(home).nights())]
        alive = nightly_running(home)  # a night `running` without a nightly was killed: it resumes next night
        return page(
            request, "nightly.html", nights=nights, jobs=listed, problem=problem, jobs_path=jobs, alive=alive
        )

    @page_route("/favicon.ico")
    def favicon() -> RedirectResponse:
        return RedirectResponse("/static/favicon.svg")

    return app


def _refusal(request: Request, names: frozenset[str], token: str | None, owner: int) -> Response | None:
    """The answer to a request that may not be served (a foreign Host, another site's page, a missing
    token, another user's connection where no token is set), else None."""
    server = request.scope.get("server")
    local = str(server[0]) if server else None
    if not security.host_allowed(request.headers.get("host", ""), names, local):
        return Response(
            "this server does not answer to that Host name (start strop ui with --allow-host NAME)\n",
            status_code=400,
        )
    if security.from_another_site(request.headers, request.method):
        return Response(
            "this server answers its own pages only, not another site's (open the URL strop ui printed)\n",
            status_code=403,
        )
    if token is not None:
        given = request.query_params.get("token") or request.cookies.get(COOKIE) or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            return Response("a token is required: open the URL strop ui printed\n", status_code=401)
        return None
    return _another_user(request, owner)


def _another_user(request: Request, owner: int) -> Response | None:
    """The refusal of a connection another local user opened, for a server without a token.

    A request naming a client in X-Forwarded-For is refused too: uvicorn takes the client's
    address from it when the connection comes from loopback, so any local user could name
    the port of the owner's own connection and pass as the owner.
    """
    share = "to share it, its owner starts strop ui with --token TOKEN and gives the URL ending ?token=TOKEN"
    if "x-forwarded-for" in request.headers:
        return Response(
            "this strop ui, started without a token, answers its own user's direct connections only, "
            f"not one through a proxy (X-Forwarded-For); {share}\n",
            status_code=403,
        )
    client, server = request.scope.get("client"), request.scope.get("server")
    if not client or not server:
        return None  # no socket (an in-process client): no other user
    try:
        uid = peer.socket_owner((str(client[0]), int(client[1])), (str(server[0]), int(server[1])))
    except peer.Unknowable:
        return None  # no /proc, no TCP: answered as before
    if uid in (owner, 0):
        return None
    whose = (
        "and cannot tell whose this connection is"
        if uid is None
        else f"and this connection is {_user(uid)}'s"
    )
    return Response(
        f"this strop ui, started without a token, shows {_user(owner)}'s runs to that user only, {whose}; "
        f"{share}\n",
        status_code=403,
    )


def _user(uid: int) -> str:
    """A uid in words: `alice (uid 1001)`, or `uid 1001` where it has no name."""
    import pwd

    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def _diff_lines(text: str) -> list[tuple[str, str]]:
    from agent.report import diff_lines

    return diff_lines(text)


def _escape(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))
