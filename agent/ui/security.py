"""What every UI response is checked against and carries: the Host it was asked for, and browser headers.

A page on another site can point its own name at 127.0.0.1 (DNS rebinding) and then
read the loopback UI as same-origin; the browser still sends that name in `Host`,
so a request whose Host is not this server's address, a loopback name or a name the
user allowed is refused. The headers keep the pages out of frames, stop content
sniffing, and limit the pages to this origin's own scripts, styles, images and
event stream.
"""

from __future__ import annotations

from collections.abc import Iterable

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
}


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
