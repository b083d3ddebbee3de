"""Does the endpoint answer at all? One quick look before a run spends an experiment on it.

A run started (or resumed) with the model server down used to find out the slow way: every
experiment's call retried with backoff for 10–13 s, was recorded as rejected, and after
`max_errors_in_a_row` calls the run stopped; a resume with the server still down could even
spend the rest of the budget that way and end `done`. One `GET …/models` with a short
timeout tells at once whether anything listens at the base URL.

Only a failure to *connect* means "does not answer": the connection refused, the host name
not resolving, the TLS handshake failing, or no connection within the timeout. Any HTTP
status (404 where a server has no `/models`, 401, 500), an odd body, or a connection that
opened and then was slow to reply is an endpoint that answers: the real calls judge the rest.
Behind an HTTP proxy (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`, unless `NO_PROXY` names the
host) the connection is the proxy's, and a server that is down reads as its 502, 503 or 504:
those, through a proxy, are a server that does not answer too.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

CHECK_SECONDS = 5.0  # a local server answers in milliseconds; a remote one connects well within this

_CONNECT_FAILURES = ("ConnectError", "ConnectTimeout")  # httpx's names, whichever httpx flavour


def why_unreachable(openai_client: Any, seconds: float = CHECK_SECONDS) -> str | None:
    """Why nothing answers at `openai_client`'s base URL ("connection refused", …), None when it answers."""
    try:
        openai_client.models.list(timeout=seconds)
    except Exception as error:  # any answer at all, however odd, is an endpoint that is up
        return _connect_failure(error, seconds) or _proxy_failure(error, str(openai_client.base_url))
    return None


def hint(reason: str) -> str:
    """What the user most likely has to fix, for a reason `why_unreachable` gave."""
    if reason.startswith("the proxy"):
        return "is the server running, and may the proxy reach it (NO_PROXY for one on this network)?"
    if reason.startswith("the host name"):
        return "is the host name in [llm] base_url right?"
    if reason.startswith("TLS"):
        return "does the server speak https at that port?"
    return "is the server running?"


def _connect_failure(error: BaseException, seconds: float) -> str | None:
    """The reason, when `error` (or what caused it) is a failure to connect; None otherwise."""
    chain = _causes(error)
    if not any(type(e).__name__ in _CONNECT_FAILURES for e in chain):
        return None  # it connected: a status, a slow reply or an odd body is an answer
    for cause in chain:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return "the host name does not resolve"
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake failed: {_short(cause)}"
    if any(type(e).__name__ == "ConnectTimeout" or isinstance(e, TimeoutError) for e in chain):
        return f"no connection within {seconds:g}s"
    return f"cannot connect: {_short(chain[-1])}"


PROXY_GATEWAY_STATUSES = (502, 503, 504)  # a proxy's words for "the server behind me does not answer"


def _proxy_failure(error: BaseException, url: str) -> str | None:
    """The reason, when a proxy stands between strop and `url` and answered for a server it could
    not reach; None otherwise (without a proxy, a 502 is the endpoint's own answer)."""
    status = getattr(error, "status_code", None)
    if status not in PROXY_GATEWAY_STATUSES or not _proxied(url):
        return None
    return f"the proxy answered HTTP {status} for it: the server behind it does not answer"


def _proxied(url: str) -> bool:
    """Whether requests to `url` go through a proxy named in the environment, as httpx reads it."""
    from urllib.parse import urlsplit
    from urllib.request import getproxies_environment, proxy_bypass_environment

    parts = urlsplit(url)
    proxies = getproxies_environment()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not proxy_bypass_environment(parts.netloc)


def _causes(error: BaseException) -> list[BaseException]:
    """`error` and what caused it, outermost first (openai's error wraps httpx's, which wraps the OS's)."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _short(error: BaseException) -> str:
    from agent.llm.redaction import printable_line

    text = getattr(error, "reason", None) or str(error) or type(error).__name__
    return printable_line(str(text))[:120]
