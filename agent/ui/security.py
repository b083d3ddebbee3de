"""What every UI response is checked against and carries: the Host it was asked for, and browser headers.

A page on another site can point its own name at 127.0.0.1 (DNS rebinding) and then
read the loopback UI as same-origin; the browser still sends that name in `Host`,
so a request whose Host is not this server's address, a loopback name or a name the
user allowed is refused. A page on another site can also just embed a URL of the
loopback UI (`<img src=http://127.0.0.1:8765/runs/NAME/plot/curve.png>`) and learn
from load or error which runs exist: a request the browser marks as another site's
(`Sec-Fetch-Site`) is refused unless it is the user following a link to a page, and
every answer says `Cross-Origin-Resource-Policy: same-origin`. The headers also keep
the pages out of frames, stop content sniffing, and limit the pages to this origin's
own scripts, styles, images and event stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})

# The app's pages: scripts, styles and images from /static and the plot routes, SSE to /runs/…/events.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# `strop report`'s file is self-contained: an inline stylesheet and data: images, no scripts at all.
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # a ?token= URL must not leak to a site a page links to
    "Cross-Origin-Resource-Policy": "same-origin",  # no other site may embed an answer, even unread
}
OWN_SITES = frozenset({"same-origin", "none"})  # `Sec-Fetch-Site` of the UI's own pages and typed URLs


def from_another_site(headers: Mapping[str, str], method: str) -> bool:
    """Whether a browser sent this request for another site's page (an <img>, a fetch, a form, a frame).

    `Sec-Fetch-Site` is set by the browser, not by a page. A request without it (curl,
    an old browser) is taken as the user's own. A top-level GET that opens a page (a link
    followed from a chat or a mail) is the user's too: its answer goes to the user's tab,
    never to the page that linked it."""
    site = headers.get("sec-fetch-site", "").strip().lower()
    if not site or site in OWN_SITES:
        return False
    opening = headers.get("sec-fetch-mode", "").lower() == "navigate"
    return not (
        opening and method in ("GET", "HEAD") and headers.get("sec-fetch-dest", "").lower() == "document"
    )


def host_name(header: str) -> str:
    """The name in a Host header, lower case, without port, brackets or a trailing dot ("" if malformed)."""
    text = header.strip().lower()
    if text.startswith("["):  # [::1] or [::1]:8765
        inside, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not _is_port(rest)):
            return ""
        return inside
    name, colon, port = text.rpartition(":")
    if not colon:
        name = text
    elif not _is_port(":" + port) or ":" in name:  # an unbracketed IPv6 address is not a Host
        return ""
    return name.removesuffix(".")


def _is_port(text: str) -> bool:
    digits = text.removeprefix(":")
    return text.startswith(":") and digits.isascii() and digits.isdigit() and len(digits) <= 5


def allowed_names(bound: Iterable[str]) -> frozenset[str]:
    """The loopback names plus the bound address and the names the user passed (`--allow-host`)."""
    return LOOPBACK_NAMES | {host_name(name) or name.lower() for name in bound if name}


def host_allowed(header: str, allowed: frozenset[str], local_address: str | None) -> bool:
    """Whether a request's Host names this server: an allowed name or the address the request reached."""
    name = host_name(header)
    if not name:
        return False
    return name in allowed or (local_address is not None and name == local_address.lower())
